"""The index-alone benchmark: synthetic vectors with real neighbour structure.

Uniformly random 1280-d vectors make every ANN recall meaningless (all points
are nearly equidistant), so the data is a low-rank Gaussian mixture plus
isotropic noise, L2-normalised; queries are data points perturbed by noise.
Every point has a category (uniform over `categories`, independent of the
vector, the hard case for filtered search) used for the filtered recall.

Pure functions, no Django: `manage.py benchmark` wraps `run_index_benchmark`.
"""

from __future__ import annotations

import gc
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from vectors.base import Attributes, Filter, Store

Progress = Callable[[str], None]

RANK = 64
CLUSTERS_PER_POINT = 200  # one mixture component per this many points
CATEGORIES = 20  # a category filter keeps ~5 % of the catalog
NOISE = float(os.environ.get("BENCH_NOISE", "0.15"))  # isotropic part, per dimension
QUERY_NOISE = float(os.environ.get("BENCH_QUERY_NOISE", "0.06"))


def _basis(dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, RANK)).astype(np.float32))
    return q.T.astype(np.float32)  # (RANK, dim), orthonormal rows


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def synthetic_chunks(
    n: int, dim: int, *, seed: int = 0, chunk: int = 50_000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (vectors, categories) chunks of a deterministic n-point catalog."""
    basis = _basis(dim, seed)
    clusters = max(8, n // CLUSTERS_PER_POINT)
    rng = np.random.default_rng(seed + 1)
    centres = rng.standard_normal((clusters, RANK)).astype(np.float32) * 1.0
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        crng = np.random.default_rng((seed, start))
        member = crng.integers(0, clusters, size)
        low = centres[member] + 0.5 * crng.standard_normal((size, RANK)).astype(np.float32)
        x = low @ basis
        x += NOISE * crng.standard_normal((size, dim)).astype(np.float32)
        yield _normalise(x), crng.integers(0, CATEGORIES, size).astype(np.int32)


def synthetic_data(n: int, dim: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.empty((n, dim), dtype=np.float32)
    cats = np.empty(n, dtype=np.int32)
    row = 0
    for v, c in synthetic_chunks(n, dim, seed=seed):
        vectors[row : row + len(v)], cats[row : row + len(v)] = v, c
        row += len(v)
    return vectors, cats


def synthetic_queries(n: int, dim: int, count: int, *, seed: int = 0, qseed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Queries near (not on) random data points, like a new photo of a known product,
    and a random category for each (the filtered queries)."""
    rng = np.random.default_rng(qseed)
    picks = np.sort(rng.integers(0, n, count))
    origin = np.empty((count, dim), dtype=np.float32)
    start = 0
    for v, _ in synthetic_chunks(n, dim, seed=seed):
        inside = (picks >= start) & (picks < start + len(v))
        origin[inside] = v[picks[inside] - start]
        start += len(v)
    noise = rng.standard_normal((count, dim)).astype(np.float32)
    order = rng.permutation(count)
    return _normalise(origin + QUERY_NOISE * noise)[order], rng.integers(0, CATEGORIES, count)


class TopK:
    """Running exact top-k (inner product) over streamed chunks."""

    def __init__(self, queries: int, k: int) -> None:
        self.k = k
        self.scores = np.full((queries, k), -np.inf, dtype=np.float32)
        self.ids = np.full((queries, k), -1, dtype=np.int64)

    def merge(self, scores: np.ndarray, first_id: int) -> None:
        ids = np.broadcast_to(np.arange(first_id, first_id + scores.shape[1]), scores.shape)
        all_s = np.concatenate([self.scores, scores], axis=1)
        all_i = np.concatenate([self.ids, ids], axis=1)
        top = np.argpartition(-all_s, self.k - 1, axis=1)[:, : self.k]
        self.scores = np.take_along_axis(all_s, top, 1)
        self.ids = np.where(np.isfinite(self.scores), np.take_along_axis(all_i, top, 1), -1)


def recall_at_k(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f) & {int(t) for t in row if t >= 0}) for f, row in zip(found, truth, strict=False))
    total = sum(int((row >= 0).sum()) for row in truth)
    return hits / max(total, 1)


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_queries(
    store: Store, queries: np.ndarray, k: int, flt: Callable[[int], Filter | None]
) -> tuple[list[list[int]], list[float]]:
    found, times = [], []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        res = store.search(q[None, :], k, flt(i))[0]
        times.append((time.perf_counter() - t0) * 1000)
        found.append([m.key for m in res])
    return found, times


def bench_one(
    size: int,
    dim: int,
    open_store: Callable[[Path], Store],
    *,
    queries: int = 200,
    k: int = 10,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Build a store of `size` synthetic points (streamed, never all in memory here),
    then time its searches and score them against exact search."""
    say = progress or (lambda _msg: None)
    workdir = Path(tempfile.mkdtemp(prefix=f"snapshop-bench-{size}-"))
    try:
        qs, qcats = synthetic_queries(size, dim, queries)
        truth, ftruth = TopK(len(qs), k), TopK(len(qs), k)
        gc.collect()
        rss0 = rss_mb()
        store = open_store(workdir)
        build_s, start = 0.0, 0
        for v, cats in synthetic_chunks(size, dim, chunk=10_000):
            attrs = [Attributes(product=start + i, cid1=f"c{c}") for i, c in enumerate(cats)]
            t0 = time.perf_counter()
            store.add(list(range(start, start + len(v))), v, attrs)
            build_s += time.perf_counter() - t0
            scores = qs @ v.T
            truth.merge(scores, start)
            scores[cats[None, :] != qcats[:, None]] = -np.inf
            ftruth.merge(scores, start)
            start += len(v)
            say(f"{size}: built {start} in {build_s:.0f} s")
        say(f"{size}: saving (server stores build their index here)")
        t0 = time.perf_counter()
        store.save()
        save_s = time.perf_counter() - t0
        gc.collect()
        rss_store = rss_mb() - rss0
        say(f"{size}: querying")
        _timed_queries(store, qs[:20], k, lambda _i: None)  # warm-up
        found, times = _timed_queries(store, qs, k, lambda _i: None)
        ffound, ftimes = _timed_queries(store, qs, k, lambda i: Filter(cid1=f"c{qcats[i]}"))
        return {
            "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)),
            "filtered_p50_ms": float(np.percentile(ftimes, 50)),
            "filtered_p99_ms": float(np.percentile(ftimes, 99)),
            "recall10": recall_at_k(found, truth.ids),
            "filtered_recall10": recall_at_k(ffound, ftruth.ids),
            "build_s": build_s,
            "save_s": save_s,
            "build_total_s": build_s + save_s,  # adds + save: the time until the index serves every row
            "rss_mb": rss_store,
            "disk_mb": sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()) / 2**20,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_index_benchmark(
    sizes: list[int],
    dim: int,
    store_name: str = "hnsw",
    progress: Progress | None = None,
    *,
    queries: int = 200,
    dsn: str | None = None,
    milvus_uri: str | None = None,
    milvus_token: str = "",
    exact_below: int | None = None,
) -> dict[str, dict[str, float]]:
    """{str(size): {p50_ms, p99_ms, recall10, filtered_recall10, build_s, rss_mb, ...}}.

    Each size gets a fresh store (for server stores a throw-away table or
    collection named after the size, cleared afterwards).
    """
    from vectors.factory import open_store

    results: dict[str, dict[str, float]] = {}
    for size in sizes:

        def make(workdir: Path, size: int = size) -> Store:
            store = open_store(
                store_name,
                dim,
                index_dir=workdir,
                dsn=dsn,
                milvus_uri=milvus_uri,
                milvus_token=milvus_token,
                collection=f"bench_{size}",
                exact_below=exact_below,
            )
            store.clear()
            return store

        results[str(size)] = bench_one(size, dim, make, queries=queries, progress=progress)
        if progress:
            progress(f"{size}: {results[str(size)]}")
    return results


if __name__ == "__main__":  # python -m vectors.bench 10000,100000 [store]
    import json
    import sys

    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "10000").split(",")]
    name = sys.argv[2] if len(sys.argv) > 2 else "hnsw"
    out = run_index_benchmark(
        sizes,
        int(os.environ.get("BENCH_DIM", "1280")),
        name,
        progress=print,
        dsn=os.environ.get("DATABASE_URL"),
        milvus_uri=os.environ.get("MILVUS_URI"),
        milvus_token=os.environ.get("MILVUS_TOKEN", ""),
        exact_below=int(os.environ["BENCH_EXACT_BELOW"]) if "BENCH_EXACT_BELOW" in os.environ else None,
    )
    print(json.dumps(out))
