"""The contract every vector store keeps.

Keys are integers (the catalog picture's primary key). Scores are cosine
similarities of L2-normalised vectors, highest first. Filters are applied
inside the store, so a filtered search returns the best k matches *within*
the filter, never a post-filtered remainder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Attributes:
    product: int
    cid1: str = ""
    cid2: str = ""
    cid3: str = ""
    price: float | None = None
    self_operated: bool | None = None


@dataclass(frozen=True)
class Filter:
    cid1: str | None = None
    cid2: str | None = None
    cid3: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    self_operated: bool | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())

    def matches(self, attrs: Attributes) -> bool:
        if self.cid1 is not None and attrs.cid1 != self.cid1:
            return False
        if self.cid2 is not None and attrs.cid2 != self.cid2:
            return False
        if self.cid3 is not None and attrs.cid3 != self.cid3:
            return False
        if self.price_min is not None and (attrs.price is None or attrs.price < self.price_min):
            return False
        if self.price_max is not None and (attrs.price is None or attrs.price > self.price_max):
            return False
        return self.self_operated is None or attrs.self_operated is self.self_operated


@dataclass(frozen=True)
class Match:
    key: int
    score: float


def top_matches(scores: np.ndarray, keys: np.ndarray, k: int) -> list[Match]:
    """The k highest scores (one per key) as matches, best first."""
    k = min(k, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [Match(int(keys[i]), float(scores[i])) for i in top]


def best_per_key(rows: Sequence[Sequence[Match]], k: int | None = None) -> list[Match]:
    """Several queries' matches merged: each key once with its best score, best first (at most k)."""
    best: dict[int, float] = {}
    for row in rows:
        for match in row:
            if match.score > best.get(match.key, float("-inf")):
                best[match.key] = match.score
    merged = sorted(best.items(), key=lambda kv: kv[1], reverse=True)[:k]
    return [Match(key, score) for key, score in merged]


class StoreUnavailable(RuntimeError):
    """The store's server or files cannot be reached; the search says so instead of failing."""


class Store(Protocol):
    dim: int

    def add(self, keys: Sequence[int], vectors: np.ndarray, attrs: Sequence[Attributes]) -> None:
        """Insert or replace (same key) without a rebuild."""

    def delete(self, keys: Sequence[int]) -> None: ...

    def search(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[list[Match]]:
        """For each query row, the k best matches (within the filter), best first."""

    def search_best(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[Match]:
        """The k best keys by their best score over the query rows (within the filter), best first: the first
        k of `best_per_key(search(queries, k, flt))`. A query photo is several vectors (its regions)."""

    def keys(self) -> set[int]: ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Make what was added durable (a no-op for stores that write through)."""

    def clear(self) -> None: ...
