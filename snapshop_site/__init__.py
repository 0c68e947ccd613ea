"""SnapShop's Django project.

Numpy's BLAS (OpenBLAS) would start a thread per core for each matrix product. A search already spreads
its own work over the cores (vision.parallel), and SIFT's many small products only lose on threads that
busy-wait. Set here, before anything imports numpy: manage.py, the WSGI app and the tests load this
package first (gunicorn workers too). An explicit environment setting wins.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
