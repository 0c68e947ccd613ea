"""The local visual search: engine features → vector store → re-rank → one card per product.

No Django here: the web app feeds it from the database (catalog.index), the
evaluation command from a CSV held in memory, so both run the same code.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from PIL import Image

from catalog.cpu_load import PROCESS_CPU, CpuMeter
from search.hits import ProductHit
from vectors.base import Filter, Match, Store
from vision.engine import Box, Candidate, Engine, QueryFeatures
from vision.local import LightFeatures

# How many pictures to fetch per wanted card: several pictures of one product collapse into one card.
PICTURES_PER_CARD = 3
# Re-ranking under load (brownout): the colour + SIFT check costs about as much CPU as the rest of a
# search together. When more than this many searches are in the engine of this process at once, the
# ones beyond it on entering get the quick re-rank (below) or the light one (no SIFT) and say so; a shopper
# alone always gets the full re-rank, whoever arrives during its model pass (see LocalSearcher.search).
# 0 turns the brownout off (always re-rank).
RERANK_MAX_IN_FLIGHT = 1
# The same when the machine's processors were busier than this share over the last half second
# (catalog.cpu_load): every worker process sees it, however the server spreads searches over them.
# 0 (the default here, for evaluations and benchmarks) turns it off; the web server's setting is
# SNAPSHOP_RERANK_MAX_CPU.
RERANK_MAX_CPU = 0.0
# Between the full and the light re-rank, a second tier: while no more than this many searches are in the
# engine on entering, one beyond RERANK_MAX_IN_FLIGHT still gets the quick re-rank, the SIFT check of a smaller
# copy of the photo against fewer candidates (~40 % of the full check's CPU; val R@1 0.618 against the light
# re-rank's 0.554, train 0.521 against 0.382, most of it on packaged goods). 0 or RERANK_MAX_IN_FLIGHT: none.
RERANK_QUICK_MAX_IN_FLIGHT = 2
# The quick tier only while the processors were less busy than this share: its SIFT is CPU that a loaded
# machine lacks, and spent there it sent other searches to the light re-rank (without this limit, at 9/s on
# the AMD EPYC: 33 full re-ranks of 360 instead of 65, p50 232 ms instead of 210). 0 (the default here, as
# for RERANK_MAX_CPU) turns it off; the web server's setting is SNAPSHOP_RERANK_QUICK_MAX_CPU (80 %).
RERANK_QUICK_MAX_CPU = 0.0
# A busy search still gets the light re-rank (extra views and colour, no SIFT: ~1.6 ms). It reads only the
# colour and views of each picture's extras, kept per process for this many pictures (~11 KB each), so that
# under load the ~100 KB extras are not read from the database again and again (3 ms a search).
LIGHT_CACHE_SIZE = 5_000

# How a search was re-ranked: fully, quickly or lightly (see above), or not at all (re-ranking turned off).
Rerank = Literal["full", "quick", "light", "off"]


class InFlight:
    """How many searches are inside the engine of this process right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    @contextmanager
    def track(self) -> Iterator[int]:
        """Count this search for as long as it runs; yields the count including it."""
        with self._lock:
            self.count += 1
            now = self.count
        try:
            yield now
        finally:
            with self._lock:
                self.count -= 1


# One per process: every searcher (a refreshed index makes a new one) shares the CPU.
PROCESS_IN_FLIGHT = InFlight()


@dataclass(frozen=True)
class PictureInfo:
    """What a vector key (one catalog picture) stands for."""

    product_key: int
    hit: ProductHit  # similarity unset


class CatalogSource(Protocol):
    def extras(self, keys: Sequence[int], *, compute_missing: bool = True) -> dict[int, bytes]: ...

    def pictures(self, keys: Sequence[int]) -> dict[int, PictureInfo]: ...


@dataclass
class LocalResult:
    hits: list[ProductHit]
    query: QueryFeatures
    rerank: Rerank = "full"

    @property
    def rerank_skipped(self) -> bool:
        """The SIFT check was wanted but the server was too busy for it (see RERANK_MAX_IN_FLIGHT)."""
        return self.rerank == "light"


class LocalSearcher:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        source: CatalogSource,
        *,
        rerank: bool = True,
        max_in_flight: int = RERANK_MAX_IN_FLIGHT,
        max_quick_in_flight: int = RERANK_QUICK_MAX_IN_FLIGHT,
        in_flight: InFlight | None = None,
        max_cpu: float = RERANK_MAX_CPU,
        max_quick_cpu: float = RERANK_QUICK_MAX_CPU,
        cpu: CpuMeter | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.source = source
        # Re-ranking (colour, local-feature verification) is the slow, precise part; without it
        # the order is the vector store's cosine order.
        self.rerank = rerank
        self.max_in_flight = max_in_flight
        self.max_quick_in_flight = max_quick_in_flight
        self.in_flight = in_flight or PROCESS_IN_FLIGHT
        self.max_cpu = max_cpu
        self.max_quick_cpu = max_quick_cpu
        self.cpu = cpu or PROCESS_CPU
        self.forced: Rerank | None = None  # this re-rank whatever the load (`manage.py evaluate --busy/--quick`)
        self._light: OrderedDict[int, LightFeatures] = OrderedDict()
        self._light_lock = threading.Lock()

    def search(
        self,
        image: Image.Image,
        *,
        limit: int,
        region: Box | None = None,
        flt: Filter | None = None,
    ) -> LocalResult:
        with self.in_flight.track() as entered:
            # A search that will be re-ranked with a SIFT check starts its photo's part of it at once, on the
            # other core (vision.parallel), beside the model pass.
            tier = self._tier_on_entry(entered)
            query = self.engine.query_features(
                image, region, local_early=tier in ("full", "quick"), quick=tier == "quick"
            )
            depth = max(limit * PICTURES_PER_CARD, self.rerank_depth)
            matches = self.store.search_best(query.vectors, depth, flt)
            # The re-rank is decided on entry. A search that started early has by now paid for its photo's
            # SIFT, about as long as the pass (~60 % of the full re-rank's CPU), so another search entering
            # meanwhile does not take it back; only a busy machine (the CPU meter) does. A search that was not
            # alone on entry stays as it was even if it is alone now: its SIFT would only start now, one pass
            # late, and those late re-ranks made the slowest answers under load (gunicorn at 6 and 9/s:
            # p99 530 -> 402 and 560 -> 424 ms, for 5-6 % more light re-ranks). The quick check has little left
            # to do after the pass (~5 ms of its ~75), so it is kept.
            if tier == "full" and self.forced is None and self.machine_busy():
                tier = "light"
            ranked = self._rerank(query, matches, self.rerank_depth, tier=tier)
            return LocalResult(hits=self._cards(ranked, limit), query=query, rerank=tier)

    def _tier_on_entry(self, count: int) -> Rerank:
        """The re-rank this search can afford as it enters, the `count`-th search in the engine (see
        RERANK_MAX_IN_FLIGHT and the quick tier). The count as it entered, not as it is a moment later: six searches
        arriving together all read six and all went without the full re-rank the first of them was due."""
        if not self.rerank:
            return "off"
        if self.forced is not None:
            return self.forced
        busy = self.cpu.busy()
        if _over(self.max_cpu, busy):
            return "light"
        if self.max_in_flight <= 0 or count <= self.max_in_flight:
            return "full"
        if count <= self.max_quick_in_flight and not _over(self.max_quick_cpu, busy):
            return "quick"
        return "light"

    def machine_busy(self) -> bool:
        return _over(self.max_cpu, self.cpu.busy())

    @property
    def rerank_depth(self) -> int:
        return self.engine.rerank_depth if self.rerank else 0

    def _rerank(self, query: QueryFeatures, matches: list[Match], depth: int, *, tier: Rerank) -> list[Candidate]:
        if depth == 0 or tier == "off":
            return [Candidate(m.key, m.score) for m in matches]
        head, tail = matches[:depth], matches[depth:]
        if tier == "light":
            found = self.light_features([m.key for m in head])
            candidates = [Candidate(m.key, m.score) for m in head]
            reranked = self.engine.light_rerank(query, candidates, [found.get(m.key) for m in head])
        else:
            extras = self.source.extras([m.key for m in head]) if head else {}
            candidates = [Candidate(m.key, m.score, extras.get(m.key, b"")) for m in head]
            reranked = self.engine.rerank(query, candidates, quick=tier == "quick")
        rest = [Candidate(m.key, m.score) for m in tail]
        if reranked and rest:
            # Pictures below the re-ranked head never outrank it.
            ceiling = min(c.score for c in reranked)
            rest = [Candidate(c.key, min(c.score, ceiling)) for c in rest]
        return reranked + rest

    def light_features(self, keys: Sequence[int]) -> dict[int, LightFeatures]:
        """The pictures' colour and views, from the cache or read from their extras. A picture without extras
        yet goes without (computing them costs ~80 ms, the very CPU a busy server lacks) and is not
        remembered: the import fills them in later."""
        with self._light_lock:
            found = {key: self._light[key] for key in keys if key in self._light}
        missing = [key for key in keys if key not in found]
        read = {}
        for key, blob in (self.source.extras(missing, compute_missing=False) if missing else {}).items():
            try:
                read[key] = LightFeatures.from_bytes(blob)
            except ValueError:
                continue
        with self._light_lock:
            self._light.update(read)
            for key in found:
                self._light.move_to_end(key)
            while len(self._light) > LIGHT_CACHE_SIZE:
                self._light.popitem(last=False)
        return found | read

    def forget(self, keys: Sequence[int]) -> None:
        """These pictures' extras changed or they left the catalog."""
        with self._light_lock:
            for key in keys:
                self._light.pop(key, None)

    def _cards(self, ranked: list[Candidate], limit: int) -> list[ProductHit]:
        pictures = self.source.pictures([c.key for c in ranked])
        return one_card_per_product([(c.key, c.score) for c in ranked], pictures, limit)


def _over(limit: float, busy: float) -> bool:
    """The processors' busy share has reached a CPU limit (0: no limit)."""
    return 0 < limit <= busy


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
        hit = copy.copy(info.hit)  # not dataclasses.replace: its links were checked when it was made
        hit.similarity = max(0.0, min(1.0, score))
        hits.append(hit)
        if len(hits) >= limit:
            break
    return hits
