"""gunicorn settings for SnapShop (`make serve`; gunicorn reads ./gunicorn.conf.py by itself).

Command-line flags override what is set here. Measured on 2 cores with the demo catalog
(scripts/loadtest.py, 20 clients): see README "Speed".
"""

from __future__ import annotations

import os

wsgi_app = "snapshop_site.wsgi"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 5
# 0: every response says "Connection: close" and the next request is a new connection, accepted by whichever
# worker is free. A kept-alive connection stays with the worker that accepted it, and one worker had accepted
# most of them: 1,677 of 2,400 searches at 40/s against 723 (with 0: 1,232 against 1,168). Behind a proxy
# (nginx keeps the browsers' connections alive) that costs nothing; talking to browsers directly, set
# GUNICORN_KEEPALIVE to a few seconds. Not gunicorn's 2 s default as such: a server closing an idle connection
# races a client just sending its next search on it (a reset POST, which nobody retries).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
# The app logs to stderr (settings.LOGGING). With --error-logfile (and --daemon, where stderr is /dev/null), that file
# gets it too: a 500's traceback, Juhe's key errors and a failed engine warm-up were lost to anyone reading it.
capture_output = True

# Each worker runs several searches at once on its threads, and the workers share the cores: the math
# libraries must not start a thread per core each on top of that. numpy's BLAS gets one thread from
# snapshop_site/__init__.py, which every worker imports first. The network gets cores / workers: one
# forward pass per worker at a time already keeps the cores busy under load, and a pass on one thread costs
# 17 ms of CPU against 21 ms on two (vision/model.py). An explicit environment setting wins.
os.environ.setdefault("SNAPSHOP_MODEL_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, workers))))


def post_worker_init(worker: object) -> None:
    """Load the model and open the index before the first request, not during it."""
    try:
        import django

        django.setup()
        from django.conf import settings

        if settings.SNAPSHOP_BACKEND in {"local", "both"}:
            from catalog.index import get_local_index

            get_local_index()
    except Exception:  # a missing model or store is reported by the first search, as without warm-up
        import logging

        logging.getLogger("snapshop").warning("engine warm-up failed", exc_info=True)
    # What is loaded by now (Django, the model, the index) lives as long as the worker: out of the garbage
    # collector's sight, its full collections stop walking ~80k objects (a 30 ms pause every ~150 searches).
    import gc

    gc.collect()
    gc.freeze()
