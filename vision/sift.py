"""SIFT keypoints and descriptors (Lowe 2004) in numpy and Pillow, after OpenCV's SIFT.

Scale space as OpenCV builds it: the picture upsampled 2x (bilinear) and blurred to sigma 1.6, three
scales per octave (six Gaussian and five difference-of-Gaussian layers), each octave's base the
previous octave's third layer decimated. The blurs are separable Gaussians run as small banded
matrix products over tiles (BLAS), the 3x3x3 extremum search as shifted maxima of flattened layers.
Extrema are refined to sub-pixel, scale-interpolated positions (up to 5 Newton steps), and kept for
contrast (0.04 / 3) and edge response (r = 10). Their orientations and descriptors: vision.sift_describe.
Everything is vectorised over pixels and keypoints; Python loops only run over octaves.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from vision import parallel
from vision.sift_describe import descriptors, orientations

SIGMA = 1.6
LAYERS = 3  # scales per octave
CONTRAST = 0.04
EDGE = 10.0
BORDER = 5  # extrema nearer the octave's edge are not searched
TILE = 16  # rows or columns per banded matrix product in the blur
TRUNCATE = 3.0  # Gaussian kernels reach this many sigmas
SPLIT = 256  # rows or columns per matrix product: OpenBLAS threads products above 2^18 multiply-adds
STEP = 2.0 ** (1.0 / LAYERS)
PARTS = 4  # the orientations and descriptors offered to a helper in this many parts...
PART_SIZE = 64  # ...of at least this many keypoints (smaller ones cost more to hand over than they save)
Array = np.ndarray


@lru_cache(maxsize=64)
def _band(sigma: float) -> tuple[np.ndarray, int]:
    """(TILE, TILE + 2r) matrix: each row the Gaussian kernel (radius r = TRUNCATE sigma), shifted by one."""
    r = max(1, int(np.ceil(TRUNCATE * sigma)))
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    band = np.zeros((TILE, TILE + 2 * r), dtype=np.float32)
    for i in range(TILE):
        band[i, i : i + 2 * r + 1] = taps
    return band, r


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float32 (h, w) array, mirrored borders (as OpenCV's BORDER_REFLECT_101)."""
    band, r = _band(round(float(sigma), 6))
    h, w = image.shape
    if min(h, w) <= r + 1:
        return image.copy()
    across, down = -(-w // TILE), -(-h // TILE)
    wide = np.empty((h, across * TILE + 2 * r), dtype=np.float32)
    wide[:, r : r + w] = image
    wide[:, :r] = image[:, r:0:-1]
    wide[:, r + w : 2 * r + w] = image[:, w - 2 : w - 2 - r : -1] if w - 2 - r >= 0 else image[:, w - 2 :: -1]
    wide[:, 2 * r + w :] = 0.0
    tall = np.empty((down * TILE + 2 * r, across * TILE), dtype=np.float32)
    windows = sliding_window_view(wide, TILE + 2 * r, axis=1)[:, ::TILE].transpose(1, 0, 2)
    rows = tall[r : r + h].reshape(h, across, TILE).transpose(1, 0, 2)
    for i in range(0, h, SPLIT):  # products this small stay on one BLAS thread (threads would busy-wait)
        np.matmul(windows[:, i : i + SPLIT], band.T, out=rows[:, i : i + SPLIT])
    tall[:r] = tall[2 * r : r : -1]
    tall[r + h : 2 * r + h] = tall[r + h - 2 : h - 2 : -1] if h - 2 >= 0 else tall[r + h - 2 :: -1]
    tall[2 * r + h :] = 0.0
    windows = sliding_window_view(tall, TILE + 2 * r, axis=0)[::TILE].transpose(0, 2, 1)
    out = np.empty((down, TILE, across * TILE), dtype=np.float32)
    for i in range(0, w, SPLIT):
        np.matmul(band, windows[:, :, i : i + SPLIT], out=out[:, :, i : i + SPLIT])
    return out.reshape(down * TILE, across * TILE)[:h, :w]


class Pyramid(NamedTuple):
    """All octaves' Gaussian and difference-of-Gaussian layers, each kind in one flat float32 buffer."""

    gauss: np.ndarray
    dog: np.ndarray
    height: np.ndarray  # (octaves,) int
    width: np.ndarray
    gauss_at: np.ndarray  # (octaves,) where each octave's first layer starts in `gauss`
    dog_at: np.ndarray

    def octave(self, o: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of octave o: Gaussian (LAYERS + 3, h, w) and DoG (LAYERS + 2, h, w) layers."""
        h, w = int(self.height[o]), int(self.width[o])
        g, d = int(self.gauss_at[o]), int(self.dog_at[o])
        return (
            self.gauss[g : g + (LAYERS + 3) * h * w].reshape(LAYERS + 3, h, w),
            self.dog[d : d + (LAYERS + 2) * h * w].reshape(LAYERS + 2, h, w),
        )


def pyramid(grey: np.ndarray) -> Pyramid:
    """The scale space of a uint8 greyscale picture, its first octave at twice the picture's size."""
    sizes, (h, w) = [], (2 * grey.shape[0], 2 * grey.shape[1])
    while min(h, w) > 2 * BORDER + 2:
        sizes.append((h, w))
        h, w = (h + 1) // 2, (w + 1) // 2
    height, width = np.array(sizes, dtype=np.intp).reshape(-1, 2).T
    area = height * width
    gauss_at = np.concatenate([[0], np.cumsum(area * (LAYERS + 3))]).astype(np.intp)
    dog_at = np.concatenate([[0], np.cumsum(area * (LAYERS + 2))]).astype(np.intp)
    p = Pyramid(
        np.empty(gauss_at[-1], dtype=np.float32), np.empty(dog_at[-1], np.float32), height, width, gauss_at, dog_at
    )
    if not sizes:
        return p
    picture = Image.fromarray(grey.astype(np.float32), mode="F")
    picture = picture.resize((2 * grey.shape[1], 2 * grey.shape[0]), Image.Resampling.BILINEAR)
    base = blur(np.asarray(picture), np.sqrt(SIGMA**2 - 1.0))
    steps = [SIGMA * STEP ** (i - 1) * np.sqrt(STEP**2 - 1.0) for i in range(1, LAYERS + 3)]
    for o in range(len(sizes)):
        gauss, dog = p.octave(o)
        gauss[0] = base
        for i, step in enumerate(steps, start=1):
            gauss[i] = blur(gauss[i - 1], step)
        np.subtract(gauss[1:], gauss[:-1], out=dog)
        base = gauss[LAYERS, ::2, ::2]
    return p


_CUBE = np.stack(np.meshgrid(np.arange(3) - 1, np.arange(3) - 1, np.arange(3) - 1, indexing="ij")).reshape(3, 27)


def _extrema(dog: np.ndarray, chunk: int = 1 << 17) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layer, row, column) of one octave's 3x3x3 DoG maxima above and minima below the pre-threshold.

    First the pixels at least as extreme as their left, right, finer and coarser neighbours (about 1.5 %),
    on the flattened layers in cache-sized chunks; then all 26 neighbours of those.
    """
    n, h, w = dog.shape
    flat = dog.reshape(-1)
    hw = h * w
    threshold = np.float32(np.floor(0.5 * CONTRAST / LAYERS * 255.0))
    lo, hi = hw + BORDER * w, (n - 2) * hw + (h - BORDER) * w
    found = [np.zeros(0, dtype=np.intp)]
    for s in range(lo, hi, chunk):
        e = min(hi, s + chunk)
        centre = flat[s:e]
        hits = np.zeros(e - s, dtype=bool)
        for op, extreme, beyond, limit in (
            (np.maximum, np.greater_equal, np.greater, threshold),
            (np.minimum, np.less_equal, np.less, -threshold),
        ):
            near = op(flat[s - 1 : e - 1], flat[s + 1 : e + 1])
            op(near, flat[s - hw : e - hw], out=near)
            op(near, flat[s + hw : e + hw], out=near)
            ok = extreme(centre, near)
            ok &= beyond(centre, limit)
            hits |= ok
        found.append(np.nonzero(hits)[0] + s)
    index = np.concatenate(found)
    layer, rest = np.divmod(index, hw)
    row, col = np.divmod(rest, w)
    inside = (col >= BORDER) & (col < w - BORDER)
    index, layer, row, col = index[inside], layer[inside], row[inside], col[inside]
    values = flat.take(index[:, None] + (_CUBE[0] * hw + _CUBE[1] * w + _CUBE[2]))
    centre = values[:, 13:14]
    keep = (centre >= values).all(axis=1) | (centre <= values).all(axis=1)
    return layer[keep], row[keep], col[keep]


def _derivatives(p: Pyramid, octave: Array, layer: Array, row: Array, col: Array) -> tuple[Array, ...]:
    """Gradient (n, 3), Hessian (n, 3, 3) in (x, y, scale) and centre value of the DoG, scaled to 0..1."""
    h, w = p.height[octave], p.width[octave]
    centre = p.dog_at[octave] + (layer * h + row) * w + col
    index = centre[:, None] + (h * w)[:, None] * _CUBE[0] + w[:, None] * _CUBE[1] + _CUBE[2]
    v = p.dog.take(index).reshape(-1, 3, 3, 3).astype(np.float64) / 255.0
    c = v[:, 1, 1, 1]
    grad = 0.5 * np.stack(
        [v[:, 1, 1, 2] - v[:, 1, 1, 0], v[:, 1, 2, 1] - v[:, 1, 0, 1], v[:, 2, 1, 1] - v[:, 0, 1, 1]], 1
    )
    dxx = v[:, 1, 1, 2] + v[:, 1, 1, 0] - 2 * c
    dyy = v[:, 1, 2, 1] + v[:, 1, 0, 1] - 2 * c
    dss = v[:, 2, 1, 1] + v[:, 0, 1, 1] - 2 * c
    dxy = 0.25 * (v[:, 1, 2, 2] - v[:, 1, 2, 0] - v[:, 1, 0, 2] + v[:, 1, 0, 0])
    dxs = 0.25 * (v[:, 2, 1, 2] - v[:, 2, 1, 0] - v[:, 0, 1, 2] + v[:, 0, 1, 0])
    dys = 0.25 * (v[:, 2, 2, 1] - v[:, 2, 0, 1] - v[:, 0, 2, 1] + v[:, 0, 0, 1])
    hessian = np.stack([dxx, dxy, dxs, dxy, dyy, dys, dxs, dys, dss], 1).reshape(-1, 3, 3)
    return grad, hessian, c


def _refine(p: Pyramid, octave: Array, layer: Array, row: Array, col: Array) -> tuple[Array, ...]:
    """Sub-pixel extrema kept for contrast and edge: (octave, layer, row, col, offset (n, 3) x/y/s, response)."""
    n = len(layer)
    offset = np.zeros((n, 3))
    response = np.zeros(n)
    state = np.zeros(n, dtype=np.int8)  # 0 moving, 1 converged and kept, -1 dropped
    active = np.arange(n)
    for _ in range(5):
        if not len(active):
            break
        grad, hessian, centre = _derivatives(p, octave[active], layer[active], row[active], col[active])
        det = np.linalg.det(hessian)
        solvable = np.abs(det) > 1e-12
        step = np.zeros_like(grad)
        step[solvable] = -np.linalg.solve(hessian[solvable], grad[solvable][:, :, None])[:, :, 0]
        done = solvable & (np.abs(step) < 0.5).all(axis=1)
        contrast = centre + 0.5 * (grad * step).sum(axis=1)
        trace = hessian[:, 0, 0] + hessian[:, 1, 1]
        det2 = hessian[:, 0, 0] * hessian[:, 1, 1] - hessian[:, 0, 1] ** 2
        keep = (np.abs(contrast) * LAYERS >= CONTRAST) & (det2 > 0) & (trace**2 * EDGE < (EDGE + 1) ** 2 * det2)
        finished = active[done]
        state[finished] = np.where(keep[done], 1, -1)
        offset[finished] = step[done]
        response[finished] = np.abs(contrast[done])
        go = ~done & solvable & (np.abs(step) < 1e6).all(axis=1)
        state[active[~done]] = -1
        moving, move = active[go], np.round(step[go]).astype(np.intp)
        col[moving] += move[:, 0]
        row[moving] += move[:, 1]
        layer[moving] += move[:, 2]
        h, w = p.height[octave[moving]], p.width[octave[moving]]
        inside = (layer[moving] >= 1) & (layer[moving] <= LAYERS) & (row[moving] >= BORDER) & (row[moving] < h - BORDER)
        inside &= (col[moving] >= BORDER) & (col[moving] < w - BORDER)
        active = moving[inside]
        state[active] = 0
    kept = state == 1
    return octave[kept], layer[kept], row[kept], col[kept], offset[kept], response[kept]


def detect_and_compute(
    grey: np.ndarray, keypoints: int, mask: np.ndarray | None = None, *, helpers: parallel.Helpers | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The strongest `keypoints` SIFT keypoints of a uint8 greyscale picture (inside `mask` when given).

    `helpers`: the orientations and descriptors (~40 % of the time) are computed in parts another thread may
    take (a search's photo, whose SIFT outlasts the network pass beside it: see vision.parallel.Helpers).

    Returns (n, 2) float32 positions (x, y) in the picture's pixels and (n, 128) float32 unit descriptors.
    """
    p = pyramid(grey)
    found = [(np.full(len(e[0]), o), *e) for o in range(len(p.height)) for e in [_extrema(p.octave(o)[1])]]
    if not found:
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0, 128), dtype=np.float32)
    octave, layer, row, col, offset, response = _refine(
        p, *(np.concatenate(parts) for parts in zip(*found, strict=True))
    )
    h, w = p.height[octave], p.width[octave]
    _, first = np.unique(p.dog_at[octave] + (layer * h + row) * w + col, return_index=True)  # refined onto one pixel
    octave, layer, row, col, offset, response, h, w = (
        a[first] for a in (octave, layer, row, col, offset, response, h, w)
    )
    y, x = row + offset[:, 1], col + offset[:, 0]
    scale = SIGMA * 2.0 ** ((layer + offset[:, 2]) / LAYERS)
    zoom = 2.0 ** (octave - 1.0)  # octave pixel -> picture pixel; the upsampled picture's pixel i is 0.5 i - 0.25
    px, py = x * zoom - 0.25, y * zoom - 0.25
    chosen = np.argsort(-response, kind="stable")
    if mask is not None:
        inside = mask[
            np.clip(np.round(py[chosen]).astype(np.intp), 0, mask.shape[0] - 1),
            np.clip(np.round(px[chosen]).astype(np.intp), 0, mask.shape[1] - 1),
        ]
        chosen = chosen[inside]
    chosen = chosen[:keypoints]
    start = p.gauss_at[octave] + layer * h * w

    def oriented(part: Array) -> list[tuple[Array, Array]]:
        """Per layer, (keypoint, angle) of each orientation of these keypoints, in their order."""
        found = []
        for lay in range(1, LAYERS + 1):
            group = part[layer[part] == lay]
            if not len(group):
                found.append((group, np.zeros(0)))
                continue
            index, ang = orientations(p.gauss, start[group], h[group], w[group], y[group], x[group], scale[group])
            found.append((group[index], ang))
        return found

    def described(part: Array) -> Array:
        at = kp[part]
        return descriptors(p.gauss, start[at], h[at], w[at], y[at], x[at], scale[at], theta[part])

    if helpers is not None and len(chosen) >= 2 * PART_SIZE:
        # In parts the search's thread may help with: the same values, in the same order, as one call.
        by_part = helpers.map(oriented, parts(chosen))
        per_layer = [part[lay] for lay in range(LAYERS) for part in by_part]
    else:
        per_layer = oriented(chosen)
    kp = np.concatenate([k for k, _ in per_layer])
    if not len(kp):
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0, 128), dtype=np.float32)
    theta = np.concatenate([a for _, a in per_layer])
    kp, theta = kp[order := np.argsort(-response[kp], kind="stable")[:keypoints]], theta[order]
    if helpers is not None and len(kp) >= 2 * PART_SIZE:
        desc = np.concatenate(helpers.map(described, parts(np.arange(len(kp)))))
    else:
        desc = described(np.arange(len(kp)))
    return np.stack([px[kp], py[kp]], 1).astype(np.float32), desc.astype(np.float32)


def parts(items: Array) -> list[Array]:
    """Up to PARTS consecutive slices of at least PART_SIZE items, each but the last a multiple of 8 long: the
    descriptors' products take 8 keypoints a block, and blocks as in one call give bit-identical values."""
    count = max(1, min(PARTS, len(items) // PART_SIZE))
    size = max(8, -(-len(items) // count // 8) * 8)
    return [items[start : start + size] for start in range(0, len(items), size)]
