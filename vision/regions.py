"""Where the product is: its box on a white catalog picture, sub-windows of a photo, salient blobs.

Everything works on the network's feature map so that one forward pass serves
many regions (regional pooling instead of one network run per crop).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

WHITE_LEVEL = 240  # a catalog pixel darker than this in some channel belongs to the product


def as_rgb(image: Image.Image) -> Image.Image:
    """The picture in RGB: itself when it already is (`convert` would copy every pixel even then)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def darkest_channel(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's smallest channel value (H, W) of an (H, W, 3) picture.

    Element-wise minima of the three channel planes: the same values as `rgb.min(axis=2)`, which numpy
    reduces over a stride-3 axis ~25x slower (40 ms -> 1.5 ms for a 1600 px picture, once per catalog
    picture in each import phase).
    """
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def product_mask(rgb: np.ndarray, level: int = WHITE_LEVEL) -> np.ndarray:
    """True where a catalog picture is not (near-)white background."""
    return darkest_channel(np.asarray(rgb)) < level


def product_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Pixel box of the non-white content of a picture (the whole picture if it is all white)."""
    mask = product_mask(np.asarray(image))
    # The first and last rows and columns holding product pixels: ~10x faster than the extremes of
    # np.nonzero over every pixel, which catalog import paid for each picture.
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if np.count_nonzero(mask) < 16:
        return (0, 0, image.width, image.height)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def on_white(image: Image.Image, side: int, margin: float) -> np.ndarray:
    """The picture fitted in a side×side white square with `margin` (fraction of its long side) around it."""
    w, h = image.size
    scale = side / (max(w, h) * (1.0 + 2.0 * margin))
    fitted = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(fitted, ((side - fitted.width) // 2, (side - fitted.height) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def window_grid(cells: int, scales: tuple[float, ...] = (1.0, 0.67, 0.5)) -> list[tuple[int, int, int, int]]:
    """Square sub-windows (x0, y0, x1, y1) of a cells×cells map: each scale tiled with ~50 % overlap."""
    boxes: list[tuple[int, int, int, int]] = []
    for scale in scales:
        w = max(1, round(cells * scale))
        steps = 1 if w >= cells else max(2, int(np.ceil((cells - w) / (w * 0.5))) + 1)
        positions = np.linspace(0, cells - w, steps).round().astype(int) if steps > 1 else np.array([0])
        for y in positions:
            for x in positions:
                boxes.append((int(x), int(y), int(x) + w, int(y) + w))
    return boxes


def pool_windows(fmap: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Average-pool one feature map (C, h, w) over each box -> (len(boxes), C).

    A weighted sum with each box's averaging weights: 0.5 ms for the 14 windows of a 1280x12x12 map,
    where integral images took 2 ms. einsum without `optimize` keeps it out of BLAS, whose worker
    threads busy-wait for such a small product (6 ms on the shared 2 cores).
    """
    c, h, w = fmap.shape
    weights = _pooling_weights(tuple(boxes), h, w)
    return np.einsum("cp,bp->bc", fmap.reshape(c, h * w).astype(np.float32, copy=False), weights)


@functools.lru_cache(maxsize=8)
def _pooling_weights(boxes: tuple[tuple[int, int, int, int], ...], h: int, w: int) -> np.ndarray:
    """(len(boxes), h*w): 1/area inside each box, 0 outside."""
    weights = np.zeros((len(boxes), h, w), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        weights[i, y0:y1, x0:x1] = 1.0 / ((x1 - x0) * (y1 - y0))
    return weights.reshape(len(boxes), h * w)


def salient_boxes(fmap: np.ndarray, limit: int = 5) -> list[tuple[float, float, float, float]]:
    """Up to `limit` boxes (fractions x0, y0, x1, y1) around strongly activated blobs, strongest first."""
    energy = np.linalg.norm(fmap, axis=0)
    h, w = energy.shape
    energy = (energy - energy.min()) / max(float(np.ptp(energy)), 1e-6)
    found: list[tuple[float, tuple[float, float, float, float]]] = []
    for level in (0.6, 0.4):
        mask = energy >= level
        labels = _components(mask)
        for label in range(1, int(labels.max()) + 1):
            ys, xs = np.nonzero(labels == label)
            if len(xs) < 2:
                continue
            mass = float(energy[ys, xs].sum())
            box = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
            if not any(_same_subject(box, other) for _, other in found):
                found.append((mass, box))
    found = _without_lone_cores(found)
    found.sort(key=lambda item: -item[0])
    return [box for _, box in found[:limit]]


def _without_lone_cores(
    found: list[tuple[float, tuple[float, float, float, float]]],
) -> list[tuple[float, tuple[float, float, float, float]]]:
    """Drops a box that lies inside a larger one holding no other box: the strong core of one subject
    (a ball's bright side inside the ball), however small beside it, was a chip of its own showing the same
    thing. A larger box around two or more boxes is a group of subjects, and all of them stay."""
    inside = {
        i: [j for j, (_, small) in enumerate(found) if j != i and _nested(small, large)]
        for i, (_, large) in enumerate(found)
    }
    lone = {nested[0] for nested in inside.values() if len(nested) == 1}
    return [item for i, item in enumerate(found) if i not in lone]


def _nested(small: tuple[float, float, float, float], large: tuple[float, float, float, float]) -> bool:
    """`small`, of smaller area, lies (90 % of it at least) inside `large`."""
    return 0 < _area(small) < _area(large) and _intersection(small, large) >= 0.9 * _area(small)


def _area(box: tuple[float, float, float, float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _components(mask: np.ndarray) -> np.ndarray:
    """4-connected component labels of a small boolean grid (0 = background)."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    current = 0
    for y, x in zip(*np.nonzero(mask), strict=True):
        if labels[y, x]:
            continue
        current += 1
        stack = [(int(y), int(x))]
        labels[y, x] = current
        while stack:
            cy, cx = stack.pop()
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = current
                    stack.append((ny, nx))
    return labels


def _same_subject(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Boxes of one blob: overlapping most of their union, or one nested in the other at no less than 40 % of its
    area (the lower level's box around the same blob as the higher level's: near-duplicate chips)."""
    if _iou(a, b) >= 0.6:
        return True
    small, large = (a, b) if _area(a) < _area(b) else (b, a)  # equal areas 90 % inside each other: IoU >= 0.82
    return _nested(small, large) and _area(small) >= 0.4 * _area(large)


def _intersection(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0
