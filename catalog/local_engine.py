"""The local visual search: engine features → vector store → re-rank → one card per product.

No Django here: the web app feeds it from the database (catalog.index), the
evaluation command from a CSV held in memory, so both run the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from PIL import Image

from search.hits import ProductHit
from vectors.base import Filter, Match, Store
from vision.engine import Box, Candidate, Engine, QueryFeatures

# How many pictures to fetch per wanted card: several pictures of one product collapse into one card.
PICTURES_PER_CARD = 3


@dataclass(frozen=True)
class PictureInfo:
    """What a vector key (one catalog picture) stands for."""

    product_key: int
    hit: ProductHit  # similarity unset


class CatalogSource(Protocol):
    def extras(self, keys: Sequence[int]) -> dict[int, bytes]: ...

    def pictures(self, keys: Sequence[int]) -> dict[int, PictureInfo]: ...


@dataclass
class LocalResult:
    hits: list[ProductHit]
    query: QueryFeatures


def merge_matches(rows: list[list[Match]]) -> list[Match]:
    """A query has several vectors (regions); a picture's score is its best over them."""
    best: dict[int, float] = {}
    for row in rows:
        for match in row:
            if match.score > best.get(match.key, float("-inf")):
                best[match.key] = match.score
    return [Match(key, score) for key, score in sorted(best.items(), key=lambda kv: kv[1], reverse=True)]


class LocalSearcher:
    def __init__(self, engine: Engine, store: Store, source: CatalogSource, *, rerank: bool = True) -> None:
        self.engine = engine
        self.store = store
        self.source = source
        # Re-ranking (colour, local-feature verification) is the slow, precise part; without it
        # the order is the vector store's cosine order.
        self.rerank = rerank

    def search(
        self,
        image: Image.Image,
        *,
        limit: int,
        region: Box | None = None,
        flt: Filter | None = None,
    ) -> LocalResult:
        query = self.engine.query_features(image, region)
        depth = max(limit * PICTURES_PER_CARD, self.rerank_depth)
        matches = merge_matches(self.store.search(query.vectors, depth, flt))
        ranked = self._rerank(query, matches)
        return LocalResult(hits=self._cards(ranked, limit), query=query)

    @property
    def rerank_depth(self) -> int:
        return self.engine.rerank_depth if self.rerank else 0

    def _rerank(self, query: QueryFeatures, matches: list[Match]) -> list[Candidate]:
        depth = self.rerank_depth
        if depth == 0:
            return [Candidate(m.key, m.score) for m in matches]
        head, tail = matches[:depth], matches[depth:]
        extras = self.source.extras([m.key for m in head]) if head else {}
        reranked = self.engine.rerank(query, [Candidate(m.key, m.score, extras.get(m.key, b"")) for m in head])
        rest = [Candidate(m.key, m.score) for m in tail]
        if reranked and rest:
            # Pictures below the re-ranked head never outrank it.
            ceiling = min(c.score for c in reranked)
            rest = [Candidate(c.key, min(c.score, ceiling)) for c in rest]
        return reranked + rest

    def _cards(self, ranked: list[Candidate], limit: int) -> list[ProductHit]:
        pictures = self.source.pictures([c.key for c in ranked])
        return one_card_per_product([(c.key, c.score) for c in ranked], pictures, limit)


def one_card_per_product(
    scored: list[tuple[int, float]],
    pictures: dict[int, PictureInfo],
    limit: int,
    exclude_products: set[int] | None = None,
) -> list[ProductHit]:
    """Best-first picture scores → at most `limit` cards, each product once with its best picture's score."""
    seen = set(exclude_products or ())
    hits: list[ProductHit] = []
    for key, score in scored:
        info = pictures.get(key)
        if info is None or info.product_key in seen:
            continue
        seen.add(info.product_key)
        hits.append(replace(info.hit, similarity=max(0.0, min(1.0, score))))
        if len(hits) >= limit:
            break
    return hits
