"""Threads that let one search use both cores: its photo's SIFT beside the network pass, and half of its
re-rank's candidates beside the other half.

A search's parts were run one after another, so on 2 cores one stood idle for most of a search. The
network (ONNX Runtime), the blurs and matrix products of SIFT and the matching all release the GIL.
The pool is per process and small; only a search with the full re-rank uses it. The brownout
(catalog.local_engine) gives the full re-rank to one search at a time per process, so its tasks rarely
queue behind another search's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

WORKERS = 2
POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="search-side")
