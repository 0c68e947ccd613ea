"""The retrieval engine's contract: features for catalog pictures and for query photos, and re-ranking.

The search service drives it like this (the same path for the web page, the
Juhe-compatible API and the evaluation command):

    query = engine.query_features(photo, region)
    matches = store.search(query.vectors, k, filters)     # max over the query's vectors per key
    top = [Candidate(key, score, extras_of(key)) for ...][: engine.rerank_depth]
    ranked = engine.rerank(query, top)

`CatalogFeatures.vector` goes into the vector store; `CatalogFeatures.extras`
is an opaque blob saved beside the picture and handed back to `rerank`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

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


def square_on_white(image: Image.Image, side: int) -> np.ndarray:
    """Fit the whole picture in a side×side white square (no part cut off), as uint8 HWC."""
    img = image.copy()
    img.thumbnail((side, side), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class Engine:
    """Global-average-pooled EfficientNet-Lite2 features of the whole picture."""

    rerank_depth = 0
    version = "gap260-v1"

    def __init__(self, net: FeatureNet) -> None:
        self.net = net
        self.dim = net.dim

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = np.stack([square_on_white(img, self.net.side) for img in images])
        maps = self.net.feature_maps(pixels)
        return l2_normalise(maps.mean(axis=(2, 3)))

    def catalog_features(self, images: Sequence[Image.Image]) -> list[CatalogFeatures]:
        return [CatalogFeatures(vector=v) for v in self.embed(images)]

    def query_features(self, image: Image.Image, region: Box | None = None) -> QueryFeatures:
        box = (region or Box(0.0, 0.0, 1.0, 1.0)).clamp()
        crop = image.crop(box.pixels(*image.size)) if region else image
        return QueryFeatures(vectors=self.embed([crop]), region=box)

    def rerank(self, query: QueryFeatures, candidates: Sequence[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: c.score, reverse=True)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine(model_path: Path) -> Engine:
    """The process-wide engine; the model loads once, on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine(FeatureNet(model_path))
        return _engine
