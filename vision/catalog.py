"""The catalog side of the engine: a catalog picture's vector and its re-rank extras.

Catalog pictures are studio shots on white. The product is cropped to its
non-white box and embedded on a white square at the catalog margins (one
network input each; the average-pooled, L2-normalised vectors are summed
into one). The network runs on several pictures' views at once. The extras
(colour histogram and SIFT keypoints, see vision.local) are computed from
the same product crop, scaled down to the side SIFT works at.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from vision import local, regions
from vision.model import FeatureNet

# One network input per picture for its store vector. Three margins (0.05/0.25/0.45) -> two (0.05/0.25)
# cost nothing; with the other margin's view in the extras (VIEW_MARGINS), two -> one cost nothing either
# and saves a network input per catalog picture at import (`evaluate`, int8 model, R@1 with re-rank:
# val 0.615 -> 0.618, train 0.526 -> 0.527, the same with either margin). Without re-rank (and under
# brownout) the tight margin is the better one: val 0.432 (0.25: 0.399; both: 0.412), train 0.354
# (0.358; 0.359).
CATALOG_MARGINS: tuple[float, ...] = (0.05,)
CATALOG_PILES: tuple[int, ...] = ()  # 2x2/3x3 piles on white measured: +0.01 val R@1, -0.01 R@10, train equal
# The extras are computed from the product crop scaled down to this long side (SIFT's own side): on the
# demo pictures the colour histograms stay within Bhattacharyya 0.986 of the full crop's and SIFT
# self-verification keeps 212 of 224 inliers (median), for a fraction of the cost (44 -> 21 ms).
EXTRAS_SIDE = local.SIFT_SIDE
VIEWS_PER_RUN = 2  # network inputs per ONNX Runtime run: larger batches measured slower on this CPU (cache)
VERSION = "m1w-pp"  # part of the engine version: change it when catalog vectors or extras change


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def product_crop(image: Image.Image) -> Image.Image:
    rgb = regions.as_rgb(image)
    return rgb.crop(regions.product_box(rgb))


def packed_pile(image: Image.Image, side: int, copies: int) -> np.ndarray:
    """copies x copies copies of the picture packed edge to edge on a side x side square, as produce is shelved.

    Each copy covers its square cell (scaled to the cell's side by its short side, the middle kept), so no
    white shows between the copies (fitting each copy into its cell on white did worse: a shelf photo shows
    a pile, not items on white).
    """
    cell = -(-side // copies)
    w, h = image.size
    scale = cell / min(w, h)
    big = image.resize((max(cell, round(w * scale)), max(cell, round(h * scale))), Image.Resampling.BILINEAR)
    x, y = (big.width - cell) // 2, (big.height - cell) // 2
    tile = big.crop((x, y, x + cell, y + cell))
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    for row in range(copies):
        for col in range(copies):
            canvas.paste(tile, (col * cell, row * cell))
    return np.asarray(canvas, dtype=np.uint8)


def _view_vectors(
    net: FeatureNet, products: Sequence[Image.Image], margins: Sequence[float], piles: Sequence[int]
) -> np.ndarray:
    """(products, views, dim) unit vectors: each product on white at each margin, then each pile of it."""
    per_product = len(margins) + len(piles)
    if not products or per_product == 0:
        return np.zeros((len(products), per_product, net.dim), dtype=np.float32)
    flat = np.stack(
        [
            view
            for product in products
            for view in [regions.on_white(product, net.side, m) for m in margins]
            + [packed_pile(product, net.side, k) for k in piles]
        ]
    )
    pooled = np.concatenate(
        [net.feature_maps(flat[i : i + VIEWS_PER_RUN]).mean(axis=(2, 3)) for i in range(0, len(flat), VIEWS_PER_RUN)]
    )
    return l2_normalise(pooled).reshape(len(products), per_product, -1)


def catalog_vectors(net: FeatureNet, products: Sequence[Image.Image]) -> list[np.ndarray]:
    """One (dim,) L2-normalised vector per product crop: its catalog views summed."""
    if not products:
        return []
    return list(l2_normalise(_view_vectors(net, products, CATALOG_MARGINS, CATALOG_PILES).sum(axis=1)))


# Extra views of a catalog picture whose vectors ride in its extras (the store keeps one vector per
# picture): the product on white with a wider margin, and a 3x3 "pile" of it, as produce is shelved.
# Their best cosine with the query's windows replaces the store's score in rerank when higher.
# Measured (int8 model, evaluate): val R@1 0.585 -> 0.605, train 0.519 with them (harness: 0.514 -> 0.521).
# The pile packed edge to edge (packed_pile) instead of 3x3 copies fitted on white: evaluate val R@1 0.655 ->
# 0.669, train 0.541 -> 0.549 (Fruit 0.279 -> 0.291, Vegetables 0.549 -> 0.568, Packages 0.883 -> 0.876),
# R@10 0.946 -> 0.946 and 0.939 -> 0.943 (picked offline from scripts/rerank_signals.py's signals with the
# photos' window vectors; 2x2, 4x4 and 5x5 packed lost on both splits, a staggered 3x3 gained less). The
# hubs (Yellow Onion, Floury Potato, Vine Tomato win for many fruit photos) win on the store vector, not
# on the pile view: catalog-side hubness corrections (CSLS against the catalog's vectors, views or piles,
# per-picture z-scores) and query-side ones (per-window centring, window agreement) all lost.
VIEW_MARGINS: tuple[float, ...] = (0.25,)
VIEW_PILES: tuple[int, ...] = (3,)


def catalog_views(net: FeatureNet, products: Sequence[Image.Image]) -> list[np.ndarray]:
    """Each product crop's extra view vectors, (len(VIEW_MARGINS) + len(VIEW_PILES), dim), unit rows."""
    return list(_view_vectors(net, products, VIEW_MARGINS, VIEW_PILES))


def catalog_extras(product: Image.Image, net: FeatureNet) -> bytes:
    """Colour, SIFT keypoints and the extra view vectors (wider margin, pile) that re-rank compares."""
    if max(product.size) > EXTRAS_SIDE:
        product = product.copy()
        product.thumbnail((EXTRAS_SIDE, EXTRAS_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    features = local.catalog_local(product)
    features.views = catalog_views(net, [product])[0]
    return features.to_bytes()
