"""The hnswlib graph behind HnswStore, optionally over a reduced (projected) space.

Labels are the store's row numbers. With a projection (the top right singular
vectors of an uncentred sample, which best preserve inner products), the graph
holds `reduce_dim`-d vectors: building is several times cheaper and the graph
smaller; the store re-scores the candidates on its full vectors.
"""

from __future__ import annotations

from pathlib import Path

import hnswlib
import numpy as np


def fit_projection(sample: np.ndarray, reduce_dim: int) -> np.ndarray:
    """(reduce_dim, dim) orthonormal rows spanning the sample's top inner-product directions."""
    x = np.asarray(sample, dtype=np.float64)
    gram = x.T @ x
    _, vecs = np.linalg.eigh(gram)  # ascending eigenvalues
    return np.ascontiguousarray(vecs[:, ::-1][:, :reduce_dim].T, dtype=np.float32)


class Graph:
    def __init__(
        self,
        dim: int,
        capacity: int,
        *,
        m: int,
        ef_construction: int,
        proj: np.ndarray | None = None,
        threads: int = 1,
        path: Path | None = None,
    ) -> None:
        self.proj = proj
        self.threads = threads
        self.gdim = dim if proj is None else int(proj.shape[0])
        self.index = hnswlib.Index(space="ip", dim=self.gdim)
        if path is None:
            self.index.init_index(max_elements=capacity, M=m, ef_construction=ef_construction)
        else:
            self.index.load_index(str(path), max_elements=capacity)
        self.node = np.zeros(capacity, dtype=bool)  # the row has a node in the graph
        self.dead = np.zeros(capacity, dtype=bool)  # ... marked deleted

    def project(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x if self.proj is None else np.ascontiguousarray(x @ self.proj.T)

    def resize(self, capacity: int) -> None:
        old = len(self.node)
        if capacity > old:
            self.index.resize_index(capacity)
            self.node = np.concatenate([self.node, np.zeros(capacity - old, dtype=bool)])
            self.dead = np.concatenate([self.dead, np.zeros(capacity - old, dtype=bool)])

    def put(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Insert, or overwrite in place, the nodes of `rows`."""
        for row in rows[self.dead[rows]]:
            self.index.unmark_deleted(int(row))
        self.dead[rows] = False
        self.index.add_items(self.project(vectors), rows, num_threads=self.threads)
        self.node[rows] = True

    def remove(self, rows: list[int]) -> None:
        for row in rows:
            if self.node[row] and not self.dead[row]:
                self.index.mark_deleted(row)
                self.dead[row] = True

    def query(self, q: np.ndarray, count: int, ef: int, allowed: bytes | None) -> np.ndarray:
        """Up to `count` candidate rows for one query (empty if the walk found fewer)."""
        self.index.set_ef(max(ef, count))
        try:
            labels, _ = self.index.knn_query(
                self.project(q[None, :]),
                k=count,
                num_threads=1,
                filter=None if allowed is None else (lambda row: allowed[row] == 1),
            )
        except RuntimeError:  # fewer than `count` reachable
            return np.zeros(0, dtype=np.int64)
        return labels[0].astype(np.int64)

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))
