"""The catalog side of the engine: a catalog picture's vector and its re-rank extras.

Catalog pictures are studio shots on white. The product is cropped to its
non-white box and embedded on a white square at a few margins (network
inputs); the average-pooled, L2-normalised vectors are summed into one.
The extras (colour histogram and SIFT keypoints, see vision.local) are
computed from the same product crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from vision import local, regions
from vision.model import FeatureNet

CATALOG_MARGINS = (0.05, 0.25, 0.45)
CATALOG_PILES: tuple[int, ...] = ()  # 2x2/3x3 "piles" measured: +0.01 val R@1, -0.01 R@10, train equal
VERSION = "m3"  # part of the engine version: change it when catalog vectors change


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def product_crop(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB")
    return rgb.crop(regions.product_box(rgb))


def catalog_vectors(net: FeatureNet, products: Sequence[Image.Image]) -> list[np.ndarray]:
    """One (dim,) L2-normalised vector per product crop."""
    out: list[np.ndarray] = []
    for product in products:
        views = [regions.on_white(product, net.side, m) for m in CATALOG_MARGINS]
        views += [regions.tiled_on_white(product, net.side, k) for k in CATALOG_PILES]
        pooled = l2_normalise(net.feature_maps(np.stack(views)).mean(axis=(2, 3)))
        out.append(l2_normalise(pooled.sum(axis=0)))
    return out


def catalog_extras(product: Image.Image) -> bytes:
    return local.catalog_local(product).to_bytes()
