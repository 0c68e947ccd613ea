"""Where the product is: its box on a white catalog picture, sub-windows of a photo, salient blobs.

Everything works on the network's feature map so that one forward pass serves
many regions (regional pooling instead of one network run per crop).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

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


# A photo whose border is one plain colour (a product on a table, a wall, a studio sweep): its subjects are what
# differs from that colour, found on a copy PLAIN_GRID cells long. The feature map's 12x12 energy cannot see a
# uniform face: a tablet's dark screen left two blobs at its edges, two chips each cutting the tablet in half.
PLAIN_GRID = 48
PLAIN_BORDER_SPREAD = 30.0  # RGB distance within which 90 % of the border lies from its median colour
PLAIN_CONTRAST = 40.0  # a cell this far from the background colour (or 2.5x the border's spread) is subject
PLAIN_MIN_SHARE = 0.01  # smaller specks of the picture are dust, text or noise
PLAIN_MAX_SHARE = 0.85  # a subject box larger than this did not separate from its background
PLAIN_PART = 0.3  # a smaller blob with this share of its box inside a larger subject's box is part of it


def plain_background_boxes(image: Image.Image, limit: int = 5) -> list[tuple[float, float, float, float]]:
    """Boxes (fractions x0, y0, x1, y1) of what stands out from a plain background, largest first; empty when the
    photo's border is not one plain colour (a shelf, a street) and `salient_boxes` must judge instead."""
    factor = max(1, max(image.size) // PLAIN_GRID)  # a box reduction: PLAIN_GRID to twice that cells long
    if min(image.size) // factor < 8:  # a panorama's strip: no border ring to read a background from
        return []
    rgb = np.asarray(as_rgb(image).reduce(factor), dtype=np.float32)
    ring = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]])
    background = np.median(ring, axis=0)
    spread = float(np.percentile(np.linalg.norm(ring - background, axis=1), 90))
    if spread > PLAIN_BORDER_SPREAD:
        return []
    mask = np.linalg.norm(rgb - background, axis=2) > max(PLAIN_CONTRAST, 2.5 * spread)
    if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
        # Something reaches the border: a table's seams or a shadow's edge, which, touching the product, made one
        # subject of the product and the whole table. Such strokes are one cell thin; a product's thin parts (a
        # tripod's legs, a rope) are kept when nothing reaches the border.
        mask = _opened(mask)
    blobs = [(float(len(xs)), box) for _, xs, box in _blob_cells(mask) if len(xs) >= PLAIN_MIN_SHARE * mask.size]
    blobs.sort(key=lambda item: -item[0])
    if not blobs or _area(blobs[0][1]) > PLAIN_MAX_SHARE:
        return []
    kept: list[tuple[float, float, float, float]] = []
    for _, box in blobs:  # a part mostly inside a larger subject's box (a camera's label, a rope's handles) joins it
        owner = next(
            (i for i, larger in enumerate(kept) if _intersection(box, larger) >= PLAIN_PART * _area(box)), None
        )
        if owner is None:
            kept.append(box)
        else:
            kept[owner] = _union(kept[owner], box)
    return kept[:limit]


def _opened(mask: np.ndarray) -> np.ndarray:
    """The mask without its one-cell-thin strokes: a cross-shaped erosion, then the same dilation."""
    eroded = mask.copy()
    eroded[1:] &= mask[:-1]
    eroded[:-1] &= mask[1:]
    eroded[:, 1:] &= mask[:, :-1]
    eroded[:, :-1] &= mask[:, 1:]
    opened = eroded.copy()
    opened[1:] |= eroded[:-1]
    opened[:-1] |= eroded[1:]
    opened[:, 1:] |= eroded[:, :-1]
    opened[:, :-1] |= eroded[:, 1:]
    return opened


def _union(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def salient_boxes(fmap: np.ndarray, limit: int = 5) -> list[tuple[float, float, float, float]]:
    """Up to `limit` boxes (fractions x0, y0, x1, y1) around strongly activated blobs, strongest first."""
    energy = np.linalg.norm(fmap, axis=0)
    energy = (energy - energy.min()) / max(float(np.ptp(energy)), 1e-6)
    found: list[tuple[float, tuple[float, float, float, float]]] = []
    for level in (0.6, 0.4):
        for ys, xs, box in _blob_cells(energy >= level):
            if len(xs) >= 2 and not any(_same_subject(box, other) for _, other in found):
                found.append((float(energy[ys, xs].sum()), box))
    found = _without_lone_cores(found)
    found.sort(key=lambda item: -item[0])
    return [box for _, box in found[:limit]]


def _blob_cells(mask: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]]:
    """Each 4-connected blob of a boolean grid: its cells' rows and columns, and its box in fractions of the grid."""
    labels = _components(mask)
    h, w = mask.shape
    for label in range(1, int(labels.max()) + 1):
        ys, xs = np.nonzero(labels == label)
        yield ys, xs, (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)


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
    """4-connected component labels of a small boolean grid (0 = background), numbered in the order of each
    component's first cell row by row. Runs of cells a row are joined with the runs they touch in the row above
    (union-find): a cell-by-cell flood fill cost ~5 us a cell in Python, 1.4 ms for a 32-cell grid's subject."""
    parent: list[int] = [0]

    def root(label: int) -> int:
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = parent[label]
        return label

    rows: list[list[tuple[int, int, int]]] = []
    above: list[tuple[int, int, int]] = []
    for row in mask:
        edges = np.flatnonzero(np.diff(np.concatenate(([False], row, [False])).astype(np.int8)))
        runs = []
        for start, end in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            label = len(parent)
            parent.append(label)
            for other_start, other_end, other in above:
                if other_start < end and start < other_end:
                    a, b = root(label), root(other)
                    parent[max(a, b)] = min(a, b)  # the earlier run's label stays the component's
            runs.append((start, end, label))
        rows.append(runs)
        above = runs
    numbers: dict[int, int] = {}
    labels = np.zeros(mask.shape, dtype=np.int32)
    for y, runs in enumerate(rows):
        for start, end, label in runs:
            labels[y, start:end] = numbers.setdefault(root(label), len(numbers) + 1)
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
