"""Embedded persistent ANN store: hnswlib graph + a vector mirror + attribute columns.

- add/update/delete need no rebuild: updates rewrite a node in place, deletes
  mark it deleted and free its row for the next insert, which revives the node.
- Results are always scored on the full vectors (the "mirror", float32 or
  float16), so with `reduce_dim` the graph can walk a projected, smaller space
  and its k * rescore candidates are re-scored exactly.
- Filters are exact: a numpy mask over attribute columns decides the rows. A
  selective filter (< exact_filtered_below rows or < 1 %) is answered by exact
  search over those rows; a broad one by hnswlib's filter callback (the walk
  goes through every node but collects only passing ones), and if that finds
  fewer than k the exact path answers instead, so hits are never lost.
- Catalogs under `exact_below` live rows are searched exactly. Without
  reduce_dim the graph is maintained from the first row; with it, the
  projection is fitted and the graph built once, when the catalog first
  reaches exact_below rows, then maintained incrementally.
- Measured (1280-d, 100k, 2 busy cores): full graph M16/efC100 build 64-250 s,
  recall@10 0.992 at ef 64; 256-d projection, 200 candidates re-scored: build
  27 s, recall@10 0.997, p50 0.5 ms.
- On disk: a snapshot folder `snap-N/` (graph, mirror, columns) named by the
  file CURRENT, replaced atomically by save().
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vectors.base import Attributes, Filter, Match, best_per_key, top_matches
from vectors.columns import AttributeColumns
from vectors.graph import Graph, fit_projection


class HnswStore:
    def __init__(
        self,
        dim: int,
        index_dir: Path | None = None,
        *,
        m: int = 16,
        ef_construction: int = 100,
        ef_search: int = 64,
        exact_below: int = 20_000,
        exact_filtered_below: int = 5_000,
        mirror_dtype: str = "float32",
        reduce_dim: int = 0,
        rescore: int = 20,
        threads: int = 0,
    ) -> None:
        self.dim = dim
        self.index_dir = index_dir
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.exact_below, self.exact_filtered_below = exact_below, exact_filtered_below
        self.mirror_dtype = np.dtype(mirror_dtype)
        # reduce_dim: the projection is fitted on the catalog once it reaches
        # graph_from rows; until then there is no graph and search is exact.
        self.reduce_dim = reduce_dim if 0 < reduce_dim < dim else 0
        self.rescore = rescore
        self.graph_from = max(exact_below, 4 * self.reduce_dim) if self.reduce_dim else 0
        self.threads = threads or max(1, os.cpu_count() or 1)
        self._lock = threading.RLock()
        self._reset(1024)
        if index_dir is not None and (index_dir / "CURRENT").exists():
            self._load(index_dir)

    # -- state -------------------------------------------------------------
    def _reset(self, capacity: int) -> None:
        self._vectors = np.zeros((capacity, self.dim), dtype=self.mirror_dtype)
        self._cols = AttributeColumns(capacity)
        self._row_key = np.full(capacity, -1, dtype=np.int64)  # -1: free row
        self._row: dict[int, int] = {}
        self._free: list[int] = []  # deleted rows, reusable
        self._used = 0  # rows ever handed out (high-water mark)
        self._graph: Graph | None = None if self.reduce_dim else self._new_graph(None)

    def _new_graph(self, proj: np.ndarray | None, path: Path | None = None) -> Graph:
        return Graph(
            self.dim,
            len(self._row_key),
            m=self.m,
            ef_construction=self.ef_construction,
            proj=proj,
            threads=self.threads,
            path=path,
        )

    def _build_graph(self) -> None:
        """The first graph of a reduced store: fit the projection on the catalog so far."""
        live = np.flatnonzero(self._row_key[: self._used] >= 0)
        sample = np.sort(np.random.default_rng(0).permutation(live)[:20_000])
        proj = fit_projection(self._vectors[sample], self.reduce_dim) if self.reduce_dim else None
        graph = self._new_graph(proj)
        for start in range(0, len(live), 10_000):
            rows = live[start : start + 10_000]
            graph.put(rows, self._vectors[rows])
        self._graph = graph

    def _grow(self, need: int) -> None:
        cap = len(self._row_key)
        if need <= cap:
            return
        new = max(need, int(cap * 1.5) + 1024)
        if self._graph is not None:
            self._graph.resize(new)
        self._vectors = np.concatenate([self._vectors, np.zeros((new - cap, self.dim), dtype=self.mirror_dtype)])
        self._row_key = np.concatenate([self._row_key, np.full(new - cap, -1, dtype=np.int64)])
        self._cols.resize(new)

    # -- writes ------------------------------------------------------------
    def add(self, keys: Sequence[int], vectors: np.ndarray, attrs: Sequence[Attributes]) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not (len(keys) == len(vectors) == len(attrs)):
            raise ValueError("keys, vectors and attrs differ in length")
        latest = {int(k): i for i, k in enumerate(keys)}  # last write of a key wins
        with self._lock:
            rows = np.empty(len(latest), dtype=np.int64)
            src = np.fromiter(latest.values(), dtype=np.int64, count=len(latest))
            fresh = sum(1 for k in latest if k not in self._row)
            self._grow(self._used + max(0, fresh - len(self._free)))
            for j, (key, i) in enumerate(latest.items()):
                row = self._row.get(key)
                if row is None:
                    if self._free:
                        row = self._free.pop()
                    else:
                        row, self._used = self._used, self._used + 1
                    self._row[key] = row
                    self._row_key[row] = key
                rows[j] = row
                self._cols.set(row, attrs[i])
            self._vectors[rows] = vectors[src]
            if self._graph is not None:
                self._graph.put(rows, vectors[src])
            elif len(self._row) >= self.graph_from:
                self._build_graph()

    def delete(self, keys: Sequence[int]) -> None:
        with self._lock:
            for key in keys:
                row = self._row.pop(int(key), None)
                if row is None:
                    continue
                if self._graph is not None:
                    self._graph.remove([row])
                self._row_key[row] = -1
                self._free.append(row)

    def clear(self) -> None:
        with self._lock:
            self._reset(1024)

    # -- reads -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._row)

    def keys(self) -> set[int]:
        with self._lock:
            return set(self._row)

    def attributes(self, key: int) -> Attributes | None:
        with self._lock:
            row = self._row.get(int(key))
            return None if row is None else self._cols.get(row)

    def export(self, batch: int = 10_000) -> Iterator[tuple[list[int], np.ndarray, list[Attributes]]]:
        """Every item, in batches (for copying between stores)."""
        with self._lock:
            live = np.flatnonzero(self._row_key[: self._used] >= 0)
        for start in range(0, len(live), batch):
            with self._lock:
                rows = [r for r in live[start : start + batch] if self._row_key[r] >= 0]
                yield (
                    [int(self._row_key[r]) for r in rows],
                    self._vectors[rows].astype(np.float32),
                    [self._cols.get(r) for r in rows],
                )

    def search(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[list[Match]]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if k <= 0 or not self._row:
            return [[] for _ in range(len(queries))]
        with self._lock:
            mask, count, exact = self._plan(flt)
            if count == 0:
                return [[] for _ in range(len(queries))]
            if exact or self._graph is None:
                return self._exact(queries, k, mask)
            filtered = flt is not None and not flt.is_empty()
            want = min(k * self.rescore if self.reduce_dim else k, count)
            allowed = mask.tobytes() if filtered else None
            out: list[list[Match]] = []
            for q in queries:
                rows = self._graph.query(q, want, max(self.ef_search, want), allowed)
                if len(rows) < min(k, count):  # the walk fell short: never return fewer hits
                    out.extend(self._exact(q[None, :], k, mask))
                    continue
                scores = self._vectors[rows].astype(np.float32, copy=False) @ q
                best = np.argsort(-scores, kind="stable")[:k]
                out.append([Match(int(self._row_key[rows[i]]), float(scores[i])) for i in best])
            return out

    def search_best(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[Match]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if k <= 0 or not self._row or len(queries) == 0:
            return []
        with self._lock:
            mask, count, exact = self._plan(flt)
            if count == 0:
                return []
            if exact:  # the max over the query rows in numpy, not a Match per row and key merged in Python
                keys, scores = self._exact_scores(queries, mask)
                return top_matches(scores.max(axis=0), keys, k)
        return best_per_key(self.search(queries, k, flt), k)

    def _plan(self, flt: Filter | None) -> tuple[np.ndarray, int, bool]:
        """The rows passing the filter, how many, and whether to search them exactly (caller holds the lock)."""
        live = self._row_key[: self._used] >= 0
        mask = live if flt is None or flt.is_empty() else self._cols.mask(flt, live)
        count = int(mask.sum())
        if self._graph is None or count < self.exact_below:
            return mask, count, True
        # Few rows pass the filter: exact search over them. Many: walk the graph
        # with the filter (measured at 50k, 5 % passing: ef 64 recall 0.994).
        filtered = flt is not None and not flt.is_empty()
        return mask, count, filtered and (count < self.exact_filtered_below or count < 0.01 * len(self._row))

    def _exact_scores(self, queries: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The keys of the rows in `mask` and every query's cosine with each."""
        rows = np.flatnonzero(mask)
        sub = self._vectors[rows] if len(rows) < self._used else self._vectors[: self._used]
        if len(rows) == self._used:
            rows = np.arange(self._used)
        return self._row_key[rows], queries @ sub.T.astype(np.float32, copy=False)

    def _exact(self, queries: np.ndarray, k: int, mask: np.ndarray) -> list[list[Match]]:
        keys, scores = self._exact_scores(queries, mask)
        return [top_matches(row, keys, k) for row in scores]

    # -- persistence -------------------------------------------------------
    def save(self) -> None:
        if self.index_dir is None:
            return
        with self._lock:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            current = self.index_dir / "CURRENT"
            old = current.read_text().strip() if current.exists() else None
            gen = 1 + (int(old.split("-")[1]) if old else 0)
            snap = self.index_dir / f"snap-{gen}"
            shutil.rmtree(snap, ignore_errors=True)
            snap.mkdir()
            if self._graph is not None:
                self._graph.save(snap / "graph.bin")
            np.save(snap / "vectors.npy", self._vectors[: self._used])
            arrays = self._cols.to_arrays(self._used)
            arrays["row_key"] = self._row_key[: self._used]
            arrays["params"] = np.array([self.dim, self.m, self.ef_construction, len(self._row_key)])
            if self._graph is not None:
                arrays["node"] = self._graph.node[: self._used]
                arrays["dead"] = self._graph.dead[: self._used]
                if self._graph.proj is not None:
                    arrays["proj"] = self._graph.proj
            np.savez(snap / "meta.npz", allow_pickle=False, **arrays)
            tmp = self.index_dir / "CURRENT.tmp"
            tmp.write_text(snap.name)
            os.replace(tmp, current)
            if old and old != snap.name:
                shutil.rmtree(self.index_dir / old, ignore_errors=True)

    def _load(self, index_dir: Path) -> None:
        snap = index_dir / (index_dir / "CURRENT").read_text().strip()
        with np.load(snap / "meta.npz", allow_pickle=False) as data:
            meta = {name: data[name] for name in data.files}
        dim, m, efc, capacity = (int(x) for x in meta["params"])
        if dim != self.dim:
            raise ValueError(f"{snap}: index has dimension {dim}, not {self.dim}")
        self.m, self.ef_construction = m, efc
        used = len(meta["row_key"])
        self._used = used
        self._row_key = np.full(capacity, -1, dtype=np.int64)
        self._row_key[:used] = meta["row_key"]
        self._vectors = np.zeros((capacity, self.dim), dtype=self.mirror_dtype)
        self._vectors[:used] = np.load(snap / "vectors.npy")
        self._cols = AttributeColumns.from_arrays(meta, capacity)
        self._row = {int(key): row for row, key in enumerate(meta["row_key"]) if key >= 0}
        self._free = [row for row in range(used) if self._row_key[row] < 0]
        self._graph = None
        if (snap / "graph.bin").exists():
            self._graph = self._new_graph(meta.get("proj"), snap / "graph.bin")
            self._graph.node[:used], self._graph.dead[:used] = meta["node"], meta["dead"]
            self.reduce_dim = 0 if self._graph.proj is None else self._graph.gdim
        elif not self.reduce_dim:  # saved before its projection was fitted; now unreduced
            self._build_graph()
