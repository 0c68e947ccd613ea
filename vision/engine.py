"""The retrieval engine's contract: features for catalog pictures and for query photos, and re-ranking.

The search service drives it like this (the same path for the web page, the
Juhe-compatible API and the evaluation command):

    query = engine.query_features(photo, region)
    matches = store.search(query.vectors, k, filters)     # max over the query's vectors per key
    top = [Candidate(key, score, extras_of(key)) for ...][: engine.rerank_depth]
    ranked = engine.rerank(query, top)                     # final scores in [0, 1]

The pipeline (measured by scripts/eval_vision.py, which drives this very class):
- catalog picture: cropped to its non-white product box, embedded on white with a 0.05
  margin (one network input; its average-pooled, L2-normalised vector goes to the store);
  extras = HSV colour histogram of the product pixels + 800 RootSIFT keypoints + the vectors
  of two extra views (0.25 margin, 3x3 pile packed edge to edge).
- query photo: ONE forward pass at the network side (380 px), the feature map
  average-pooled over 14 square windows (full, 67 %, 50 %): 14 vectors, best one wins. A search that
  will be fully re-ranked computes the photo's colour and SIFT on another core meanwhile.
- rerank: cosine (the best of the store's score and the query windows against the picture's extra
  views in its extras, when it has them: see `catalog.catalog_views`) + 0.15 x colour (Bhattacharyya,
  centre 60 % of the photo; up to 0.2 for a plain picture with few keypoints), then a SIFT
  homography (else similarity) check of the top `verify_depth`; plausible inliers add a bonus growing with
  their logarithm, and from MIN_INLIERS on a share proportional to the inliers relative to the
  best-verified candidate (so the variant that really is in the photo beats its same-brand siblings).
No catalog-wide state: every catalog picture's features depend on that picture only.

`CatalogFeatures.vector` goes into the vector store; `CatalogFeatures.extras`
is an opaque blob saved beside the picture and handed back to `rerank`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vision import catalog, local, parallel, regions
from vision.catalog import l2_normalise
from vision.model import FeatureNet


@dataclass(frozen=True)
class Box:
    """A region of a picture in fractions of its width and height (0..1)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def clamp(self) -> Box:
        x0, x1 = sorted((min(max(self.x0, 0.0), 1.0), min(max(self.x1, 0.0), 1.0)))
        y0, y1 = sorted((min(max(self.y0, 0.0), 1.0), min(max(self.y1, 0.0), 1.0)))
        return Box(x0, y0, x1, y1)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        box = self.clamp()
        return (
            round(box.x0 * width),
            round(box.y0 * height),
            max(round(box.x1 * width), round(box.x0 * width) + 1),
            max(round(box.y1 * height), round(box.y0 * height) + 1),
        )


@dataclass
class CatalogFeatures:
    vector: np.ndarray  # (dim,) float32, L2-normalised
    extras: bytes = b""


@dataclass
class QueryFeatures:
    vectors: np.ndarray  # (R, dim) float32, L2-normalised: one per candidate region
    region: Box = field(default_factory=lambda: Box(0.0, 0.0, 1.0, 1.0))  # the region searched
    state: dict[str, object] = field(default_factory=dict)  # whatever rerank needs


@dataclass
class Candidate:
    key: int
    score: float
    extras: bytes = b""


# With the extra catalog views in re-rank, 0.15 beat 0.2 on both splits (val R@1 0.605 -> 0.615,
# train 0.519 -> 0.526); 0.1 and 0.25 lost on one of them.
COLOUR_WEIGHT = 0.15
# Colour counts more for a plain catalog picture (few SIFT keypoints: produce, a plain pack), which SIFT
# cannot verify: up to PLAIN_COLOUR_GAIN more as its keypoints fall from PLAIN_KEYPOINTS (of the
# CATALOG_KEYPOINTS at most) to none. Whole splits with the log SIFT bonus: val R@1 0.639 -> 0.655, train
# 0.533 -> 0.541, R@10 0.949 -> 0.946 and 0.937 -> 0.939; every gain 0.03-0.1 with 150-400 keypoints won on
# both splits (scripts/rerank_signals.py).
PLAIN_COLOUR_GAIN = 0.05
PLAIN_KEYPOINTS = 250
# SIFT bonus: INLIER_GAIN x ln(1 + inliers beyond INLIER_OFFSET), a smooth bonus that already counts a few
# inliers and grows ever slower, instead of a step of 0.2 at 12 inliers plus 0.3 x (n - 8) / 40 (picked by
# scripts/rerank_signals.py on dumped signals, whole splits: val R@1 0.618 -> 0.639, Packages 0.72 -> 0.78,
# train 0.526 -> 0.533, Packages 0.859 -> 0.883; gains 0.06-0.1 with offsets 3-4 win on both splits).
INLIER_GAIN = 0.08
INLIER_OFFSET = 4
MIN_INLIERS = 12  # from here a candidate counts as verified: it also gets the relative share below
RELATIVE_GAIN = 0.15  # more, up to this, by inliers relative to the best-verified candidate (brand variants)
MAX_INLIER_BONUS = INLIER_GAIN * float(np.log1p(local.CATALOG_KEYPOINTS - INLIER_OFFSET))  # inliers <= keypoints
# Fused score -> 0..1, for every re-rank tier: the light one (no SIFT) on the same scale, so that a photo SIFT
# cannot verify (produce, a blank or a dark photo) gets the same similarity whatever the server's load, and
# SNAPSHOP_SIMILARITY_FLOOR means the same in each tier. On a scale of its own (without the SIFT bonus's room)
# a busy server scored such photos ~1.6x higher: a black photo 0.48 instead of 0.31, above the floor.
SCORE_SCALE = 1.0 + COLOUR_WEIGHT + PLAIN_COLOUR_GAIN + MAX_INLIER_BONUS + RELATIVE_GAIN


def colour_weight(keypoints: int) -> float:
    """The weight of a catalog picture's colour similarity, by its SIFT keypoints (the fewer, the more)."""
    return COLOUR_WEIGHT + PLAIN_COLOUR_GAIN * max(0.0, 1.0 - keypoints / PLAIN_KEYPOINTS)


def inlier_bonus(inliers: int) -> float:
    """The re-rank's bonus for a candidate's geometrically consistent SIFT matches (0 up to INLIER_OFFSET)."""
    return min(INLIER_GAIN * float(np.log1p(max(0, inliers - INLIER_OFFSET))), MAX_INLIER_BONUS)


MAP_CACHE_SIZE = 16


class Engine:
    """Regional EfficientNet-Lite2 embeddings + colour fusion + SIFT verification (see module doc)."""

    rerank_depth = 30  # candidates the service hands to rerank (20 -> 30: +0.01 R@10 on val and train)
    verify_depth = 30  # of those (after colour fusion), how many get the SIFT check (12 cost R@10)
    quick_verify_depth = 12  # the same for the quick check (a busy server's: vision.local.QUICK_SIFT_SIDE)
    similarity_floor = 0.35  # final top scores below this were mostly wrong (val/train top-1 quartiles)

    def __init__(self, net: FeatureNet) -> None:
        self.net = net
        self.dim = net.dim
        self.side = net.side
        self.version = f"lite2-{self.side}{net.tag}-{catalog.VERSION}-{local.VERSION}"
        cells = max(1, round(self.side / 32))
        self._windows = regions.window_grid(cells)
        # The web search asks for a photo's query features and then its subjects: one forward pass
        # serves both, remembered for the few pictures in flight (weakly, so nothing is kept alive).
        self._maps: dict[int, tuple[weakref.ref[Image.Image], np.ndarray]] = {}
        self._maps_lock = threading.Lock()

    # catalog side -------------------------------------------------------------------------
    def catalog_features(self, images: Sequence[Image.Image]) -> list[CatalogFeatures]:
        products = [catalog.product_crop(image) for image in images]
        vectors = catalog.catalog_vectors(self.net, products)
        return [
            CatalogFeatures(vector=vector, extras=catalog.catalog_extras(product, self.net))
            for vector, product in zip(vectors, products, strict=True)
        ]

    # query side ---------------------------------------------------------------------------
    def _feature_map(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(regions.as_rgb(image).resize((self.side, self.side), Image.Resampling.BILINEAR))
        return self.net.feature_maps(pixels[None])[0]

    def _whole_map(self, image: Image.Image) -> np.ndarray:
        with self._maps_lock:
            cached = self._maps.get(id(image))
        if cached is not None and cached[0]() is image:
            return cached[1]
        feature_map = self._feature_map(image)
        with self._maps_lock:
            self._maps = {k: v for k, v in self._maps.items() if v[0]() is not None}
            if len(self._maps) >= MAP_CACHE_SIZE:
                self._maps.pop(next(iter(self._maps)))
            self._maps[id(image)] = (weakref.ref(image), feature_map)
        return feature_map

    def query_features(
        self, image: Image.Image, region: Box | None = None, *, local_early: bool = False, quick: bool = False
    ) -> QueryFeatures:
        """The query's vectors; with `local_early`, the re-rank's colour and SIFT of the photo are computed
        on another core meanwhile (for a search that will be re-ranked, with the quick check if `quick`:
        see vision.parallel)."""
        box = (region or Box(0.0, 0.0, 1.0, 1.0)).clamp()
        photo = regions.as_rgb(image)
        if region is not None:
            photo = photo.crop(box.pixels(*photo.size))
        state: dict[str, object] = {"image": photo}
        if local_early:
            helpers = parallel.Helpers()
            state["helpers"] = helpers
            state[_local_key(quick) + "_future"] = parallel.POOL.submit(
                local.query_local, photo, quick=quick, helpers=helpers
            )
        feature_map = self._feature_map(photo) if region is not None else self._whole_map(image)
        vectors = l2_normalise(regions.pool_windows(feature_map, self._windows))
        return QueryFeatures(vectors=vectors, region=box, state=state)

    def detect_subjects(self, image: Image.Image, *, plain: list[Box] | None = None) -> list[Box]:
        """Up to 5 candidate subject boxes (fractions of the picture), most salient first: what stands out from
        a plain background where there is one, else the feature map's strongly activated blobs. `plain`: the
        plain-background boxes of this picture, when already found."""
        if plain is None:
            plain = [Box(*b) for b in regions.plain_background_boxes(image)]
        return plain or [Box(*b) for b in regions.salient_boxes(self._whole_map(image))]

    def _query_local(self, query: QueryFeatures, *, quick: bool = False) -> local.LocalFeatures:
        key = _local_key(quick)
        cached = query.state.get(key)
        if isinstance(cached, local.LocalFeatures):
            return cached
        early = query.state.pop(key + "_future", None)
        if isinstance(early, Future):
            helpers = query.state.pop("helpers", None)  # its offers hold the SIFT's pyramid: not kept past here
            if isinstance(helpers, parallel.Helpers):
                helpers.help_until(early)  # this thread's pass is done: share the SIFT's last steps
            features = early.result()
        else:
            features = local.query_local(_query_photo(query), quick=quick)
        query.state[key] = features
        query.state["hist"] = features.hist
        return features

    @staticmethod
    def _query_hist(query: QueryFeatures) -> np.ndarray:
        cached = query.state.get("hist")
        if isinstance(cached, np.ndarray):
            return cached
        hist = local.centre_hist(_query_photo(query))
        query.state["hist"] = hist
        return hist

    # re-ranking -----------------------------------------------------------------------------
    @staticmethod
    def _appearance(
        query: QueryFeatures, score: float, hist: np.ndarray, extras: local.LocalFeatures | local.LightFeatures | None
    ) -> float:
        """What both re-ranks start from: the store's score or, when higher, the best cosine of the query's
        windows with the picture's extra views; plus its colour similarity, weighted by its keypoints."""
        if extras is None:
            return score
        if len(extras.views) and extras.views.shape[1] == query.vectors.shape[1]:
            score = max(score, float((query.vectors @ extras.views.T).max()))
        return score + colour_weight(extras.keypoints) * local.colour_similarity(hist, extras.hist)

    def rerank(self, query: QueryFeatures, candidates: Sequence[Candidate], *, quick: bool = False) -> list[Candidate]:
        """Colour, extra views and the SIFT check of the best `verify_depth` candidates; with `quick`, the
        photo's SIFT from a smaller copy and only `quick_verify_depth` candidates checked (~40 % of the CPU)."""
        if not candidates:
            return []
        q = self._query_local(query, quick=quick)
        parsed: list[local.LocalFeatures | None] = []
        for cand in candidates:
            try:
                parsed.append(local.LocalFeatures.from_bytes(cand.extras))
            except ValueError:
                parsed.append(None)
        fused = [self._appearance(query, c.score, q.hist, p) for c, p in zip(candidates, parsed, strict=True)]
        depth = self.quick_verify_depth if quick else self.verify_depth
        order = sorted(range(len(candidates)), key=lambda i: -fused[i])[:depth]
        checked = [i for i in order if parsed[i] is not None]
        inliers = local.verify(q, [p for i in checked if (p := parsed[i]) is not None])
        best = max(inliers, default=0)
        for i, n in zip(checked, inliers, strict=True):
            fused[i] += inlier_bonus(n)
            if n >= MIN_INLIERS:
                fused[i] += RELATIVE_GAIN * n / best
        return _ranked(candidates, fused)

    def light_rerank(
        self, query: QueryFeatures, candidates: Sequence[Candidate], features: Sequence[local.LightFeatures | None]
    ) -> list[Candidate]:
        """The re-rank without its SIFT check, for when the machine is busy: the extra views and the colour,
        ~1.5 ms of CPU (most of it the photo's colour histogram) against the full re-rank's ~35, and val R@1
        0.571 instead of the store order's 0.432 (`manage.py evaluate --busy`). Scores on the full re-rank's
        scale, without the SIFT evidence it skipped."""
        if not candidates:
            return []
        hist = self._query_hist(query)
        fused = [self._appearance(query, c.score, hist, f) for c, f in zip(candidates, features, strict=True)]
        return _ranked(candidates, fused)


def _ranked(candidates: Sequence[Candidate], fused: Sequence[float]) -> list[Candidate]:
    """The candidates best first, each with its fused score brought into 0..1 (SCORE_SCALE)."""
    scored = [
        Candidate(c.key, float(min(max(f / SCORE_SCALE, 0.0), 1.0)), c.extras)
        for c, f in zip(candidates, fused, strict=True)
    ]
    return sorted(scored, key=lambda c: -c.score)


def _local_key(quick: bool) -> str:
    """Where a query's state keeps the photo's colour and SIFT for the full or the quick check."""
    return "local_quick" if quick else "local"


def _query_photo(query: QueryFeatures) -> Image.Image:
    """The photo (or region of it) the query was made from, which the re-rank reads colour and SIFT from."""
    photo = query.state.get("image")
    if not isinstance(photo, Image.Image):
        raise ValueError("query state has no image: build it with Engine.query_features")
    return photo


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine(model_path: Path) -> Engine:
    """The process-wide engine; the model loads once, on first use (tuned for the 380 px export)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine(FeatureNet(model_path))
        return _engine
