"""SIFT orientations and descriptors of keypoints found by vision.sift, vectorised over keypoints.

Orientation: 36-bin gradient histograms over a radius of 4.5 scales, smoothed, every peak >= 0.8 of
the highest. Descriptor: a 4x4 grid of 8-bin orientation histograms over a window of 4 x 3 scales,
from a patch sampled (bilinear) in the keypoint's own frame, so the trilinear binning is one fixed
weight matrix; normalised, clipped at 0.2 and normalised again.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

ORIENTATION_BINS = 36
PEAK_RATIO = 0.8
CELL = 3.0  # descriptor cell width, in keypoint scales
SAMPLES = 3  # descriptor patch samples per cell side (4: no better matches, 1.5x the descriptor cost)
CLIP = 0.2
Array = np.ndarray


def orientations(
    gauss: Array, start: Array, h: Array, w: Array, y: Array, x: Array, scale: Array
) -> tuple[Array, Array]:
    """Dominant gradient directions (radians, image axes): (keypoint index, angle) for each histogram peak."""
    radius = np.round(4.5 * scale).astype(np.int64)
    reach = int(radius.max()) + 1
    span = np.arange(-reach, reach + 1)
    rows = np.clip(np.round(y).astype(np.intp)[:, None] + span, 0, (h - 1)[:, None])
    cols = np.clip(np.round(x).astype(np.intp)[:, None] + span, 0, (w - 1)[:, None])
    patch = gauss.take((start[:, None] + rows * w[:, None])[:, :, None] + cols[:, None, :])
    dx = patch[:, 1:-1, 2:] - patch[:, 1:-1, :-2]
    dy = patch[:, 2:, 1:-1] - patch[:, :-2, 1:-1]
    inner = span[1:-1].astype(np.float32)
    near = np.abs(inner)[None, :] <= radius[:, None]
    fall = np.exp(-0.5 * inner[None, :] ** 2 / (1.5 * scale[:, None].astype(np.float32)) ** 2) * near
    weight = np.sqrt(dx * dx + dy * dy) * fall[:, :, None] * fall[:, None, :]
    bins = np.round(np.arctan2(dy, dx) * np.float32(ORIENTATION_BINS / (2 * np.pi))).astype(np.intp)
    bins += ORIENTATION_BINS * (bins < 0)
    n = len(y)
    keys = (np.arange(n)[:, None, None] * ORIENTATION_BINS + bins).ravel()
    hist = np.bincount(keys, weights=weight.ravel(), minlength=n * ORIENTATION_BINS).reshape(n, -1)
    roll = lambda k: np.roll(hist, k, axis=1)  # noqa: E731
    hist = (roll(2) + roll(-2)) / 16 + (roll(1) + roll(-1)) * (4 / 16) + hist * (6 / 16)
    left, right = np.roll(hist, 1, axis=1), np.roll(hist, -1, axis=1)
    peak = (hist > left) & (hist > right) & (hist >= PEAK_RATIO * hist.max(axis=1, keepdims=True))
    index, b = np.nonzero(peak)
    before, peak_value, after = left[index, b], hist[index, b], right[index, b]
    curve = before - 2 * peak_value + after
    shift = 0.5 * (before - after) / np.where(curve == 0, -1e-12, curve)
    return index, (b + shift) * (2 * np.pi / ORIENTATION_BINS)


@lru_cache(maxsize=4)
def _grid(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch sample offsets in cell units ((s + 2)^2 with a rim for gradients), and the (16, s^2) cell weights."""
    side = 5 * samples
    t = (np.arange(-1, side + 1) + 0.5) / samples - 2.5
    centres = np.arange(4) - 1.5
    inner = t[1:-1]
    tri = np.maximum(0.0, 1.0 - np.abs(inner[None, :] - centres[:, None]))  # (4, side): cell weight along one axis
    fall = np.exp(-(inner[:, None] ** 2 + inner[None, :] ** 2) / 8.0)  # Gaussian window, sigma = 2 cells
    weights = (tri[:, None, :, None] * tri[None, :, None, :]).reshape(16, side, side) * fall
    return t, weights.reshape(16, side * side).astype(np.float32)


def descriptors(
    gauss: Array, start: Array, h: Array, w: Array, y: Array, x: Array, scale: Array, angle: Array
) -> Array:
    """(n, 128) descriptors from patches sampled in each keypoint's frame (u along its orientation).

    Arrays are laid out (patch row, patch column, keypoint) so that every step runs on contiguous memory.
    """
    n = len(x)
    t, weights = _grid(SAMPLES)
    t = t.astype(np.float32)
    size = CELL * scale
    cos, sin = (np.cos(angle) * size).astype(np.float32), (np.sin(angle) * size).astype(np.float32)
    px = x.astype(np.float32) + cos * t[None, :, None] - sin * t[:, None, None]
    py = y.astype(np.float32) + sin * t[None, :, None] + cos * t[:, None, None]
    np.clip(px, 0, (w - 1.001).astype(np.float32), out=px)
    np.clip(py, 0, (h - 1.001).astype(np.float32), out=py)
    x0, y0 = np.floor(px), np.floor(py)
    px -= x0
    py -= y0
    index = (y0 * w.astype(np.float32) + x0).astype(np.intp)
    index += start
    corner = gauss.take(index)
    top = corner + px * (gauss.take(index + 1) - corner)
    index += w
    corner = gauss.take(index)
    bottom = corner + px * (gauss.take(index + 1) - corner)
    patch = top + py * (bottom - top)
    du = (patch[1:-1, 2:] - patch[1:-1, :-2]).reshape(-1, n)
    dv = (patch[2:, 1:-1] - patch[:-2, 1:-1]).reshape(-1, n)
    magnitude = np.sqrt(du * du + dv * dv)
    o = np.arctan2(dv, du)
    o *= np.float32(4 / np.pi)  # orientation bins, -4 .. 4
    o0 = np.floor(o)
    first = o0.astype(np.intp)
    first &= 7
    o -= o0
    upper = magnitude * o
    magnitude -= upper
    columns = -(-n * 8 // 64) * 64  # whole blocks of 64 for the products below
    hist = np.zeros((du.shape[0], columns), dtype=np.float32)
    first += np.arange(0, du.shape[0] * columns, columns)[:, None] + np.arange(0, n * 8, 8)
    slots = hist.reshape(-1)
    slots[first] = magnitude
    first += 1
    first -= 8 * (o0 == -1)  # bin 7 (o0 = -1) spills into bin 0
    slots[first] = upper
    blocks = hist.reshape(du.shape[0], -1, 64).transpose(1, 0, 2)  # products this small stay on one BLAS thread
    pooled = np.matmul(weights, blocks).transpose(1, 0, 2).reshape(16, columns)[:, : n * 8]
    desc = pooled.reshape(16, n, 8).transpose(1, 0, 2).reshape(n, 128)
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-7)
    np.minimum(desc, CLIP, out=desc)
    return desc / np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-7)
