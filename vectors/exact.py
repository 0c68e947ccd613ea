"""Exact cosine search in numpy, persisted as one .npz file.

The reference every other store is measured against, and the default for
small catalogs: 100k×1280 float32 is 0.5 GB and a query takes a few ms.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vectors.base import Attributes, Filter, Match, top_matches


class ExactStore:
    def __init__(self, dim: int, path: Path | None = None) -> None:
        self.dim = dim
        self.path = path
        self._lock = threading.RLock()
        self._keys = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._attrs: list[Attributes] = []
        self._row: dict[int, int] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            keys = data["keys"].astype(np.int64)
            vectors = data["vectors"].astype(np.float32)
            attrs = [Attributes(**item) for item in json.loads(str(data["attrs"]))]
        if vectors.shape[1:] != (self.dim,) or len(keys) != len(vectors) or len(attrs) != len(keys):
            raise ValueError(f"{path}: index does not match dimension {self.dim}")
        self._keys, self._vectors, self._attrs = keys, vectors, attrs
        self._row = {int(key): row for row, key in enumerate(keys)}

    def add(self, keys: Sequence[int], vectors: np.ndarray, attrs: Sequence[Attributes]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not (len(keys) == len(vectors) == len(attrs)):
            raise ValueError("keys, vectors and attrs differ in length")
        with self._lock:
            new_keys, new_rows, new_attrs = [], [], []
            for key, vector, attr in zip(keys, vectors, attrs, strict=True):
                row = self._row.get(int(key))
                if row is None:
                    new_keys.append(int(key))
                    new_rows.append(vector)
                    new_attrs.append(attr)
                else:
                    self._vectors[row] = vector
                    self._attrs[row] = attr
            if new_keys:
                start = len(self._keys)
                self._keys = np.concatenate([self._keys, np.asarray(new_keys, dtype=np.int64)])
                self._vectors = np.concatenate([self._vectors, np.stack(new_rows)])
                self._attrs.extend(new_attrs)
                for offset, key in enumerate(new_keys):
                    self._row[key] = start + offset

    def delete(self, keys: Sequence[int]) -> None:
        with self._lock:
            rows = {self._row[int(k)] for k in keys if int(k) in self._row}
            if not rows:
                return
            keep = np.array([i not in rows for i in range(len(self._keys))], dtype=bool)
            self._keys = self._keys[keep]
            self._vectors = self._vectors[keep]
            self._attrs = [a for a, kept in zip(self._attrs, keep, strict=True) if kept]
            self._row = {int(key): row for row, key in enumerate(self._keys)}

    def _within(self, flt: Filter | None) -> tuple[np.ndarray, np.ndarray]:
        """The keys and vectors that pass the filter."""
        with self._lock:
            keys, vectors, attrs = self._keys, self._vectors, self._attrs
        if flt is not None and not flt.is_empty():
            allowed = np.fromiter((flt.matches(a) for a in attrs), dtype=bool, count=len(attrs))
            keys, vectors = keys[allowed], vectors[allowed]
        return keys, vectors

    def search(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[list[Match]]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        keys, vectors = self._within(flt)
        if len(keys) == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        return [top_matches(row, keys, k) for row in queries @ vectors.T]

    def search_best(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[Match]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        keys, vectors = self._within(flt)
        if len(keys) == 0 or len(queries) == 0 or k <= 0:
            return []
        # The max over the query rows in numpy: a Match per row and key, merged in Python, cost ~0.9 ms a
        # search with the 54-picture demo catalog (14 rows) and grows with k.
        return top_matches((queries @ vectors.T).max(axis=0), keys, k)

    def keys(self) -> set[int]:
        with self._lock:
            return set(self._row)

    def attributes(self, key: int) -> Attributes | None:
        with self._lock:
            row = self._row.get(int(key))
            return None if row is None else self._attrs[row]

    def __len__(self) -> int:
        return len(self._keys)

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            np.savez(
                tmp,
                keys=self._keys,
                vectors=self._vectors,
                attrs=np.array(json.dumps([asdict(a) for a in self._attrs])),
            )
            os.replace(tmp, self.path)

    def clear(self) -> None:
        with self._lock:
            self._keys = np.zeros(0, dtype=np.int64)
            self._vectors = np.zeros((0, self.dim), dtype=np.float32)
            self._attrs = []
            self._row = {}
