"""Robust plane fits for the SIFT check in numpy: RANSAC homographies and similarity transforms.

Each RANSAC round draws a batch of minimal samples from a fixed-seed generator (the same matches
always give the same answer), fits all of them at once in closed form (4-point homographies through
the projective basis, 2-point similarities as complex ratios), counts every hypothesis' inliers in
one array operation, and stops when the best count makes more samples pointless at the wanted
confidence (as OpenCV's RANSAC does). The best model is then refitted to its inliers by least
squares, and kept if that gains inliers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

SEED = 20261126
BATCH = 64  # hypotheses in the first round; later rounds draw what the confidence still asks for, up to 1024
EXHAUSTIVE = 500  # with at most this many distinct minimal samples, try them all (no randomness)


def transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, 2) points through a 3x3 projective matrix (or a 2x3 affine one)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape == (2, 3):
        return pts @ m[:, :2].T + m[:, 2]
    projected = pts @ m[:, :2].T + m[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return projected[:, :2] / projected[:, 2:3]


def is_convex(polygon: np.ndarray) -> bool:
    """True for a simple convex polygon (either winding), as OpenCV's isContourConvex."""
    p = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    edge = np.roll(p, -1, axis=0) - p
    turn = edge[:, 0] * np.roll(edge, -1, axis=0)[:, 1] - edge[:, 1] * np.roll(edge, -1, axis=0)[:, 0]
    if not (np.all(turn > 0) or np.all(turn < 0)):
        return False
    angles = np.arctan2(edge[:, 1], edge[:, 0])
    total = np.angle(np.exp(1j * (np.roll(angles, -1) - angles))).sum()
    return bool(abs(abs(total) - 2 * np.pi) < 1e-6)  # winds once: no star polygon


def area(polygon: np.ndarray) -> float:
    """Unsigned area (shoelace)."""
    p = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    q = np.roll(p, -1, axis=0)
    return float(abs((p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum()) / 2.0)


def _iterations(inliers: int, total: int, sample: int, confidence: float, cap: int) -> int:
    """Samples needed so that one all-inlier sample was drawn with the given confidence."""
    ratio = inliers / total
    if ratio >= 1.0:
        return 0
    miss = 1.0 - ratio**sample
    if miss >= 1.0:
        return cap
    return min(cap, int(np.ceil(np.log(1.0 - confidence) / np.log(miss))))


def _samples(rng: np.random.Generator, n: int, k: int, size: int) -> np.ndarray:
    """(<= k, size) rows of distinct indices below n."""
    picks = rng.integers(0, n, (k, size))
    distinct = np.ones(k, dtype=bool)
    for i in range(size):
        for j in range(i):
            distinct &= picks[:, i] != picks[:, j]
    return picks[distinct]


@lru_cache(maxsize=256)
def _all_samples(n: int, size: int) -> np.ndarray:
    return np.array(list(combinations(range(n), size)), dtype=np.intp).reshape(-1, size)


def _ransac(
    src: np.ndarray,
    dst: np.ndarray,
    threshold: float,
    sample: int,
    fit_minimal: Callable[[np.ndarray, np.ndarray], np.ndarray],
    fit_all: Callable[[np.ndarray, np.ndarray], np.ndarray | None],
    errors: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    confidence: float,
    cap: int,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Best model of minimal samples (inlier count) after least-squares refits; (None, None) if none."""
    n = len(src)
    if n < sample:
        return None, None
    exhaustive = comb(n, sample) <= EXHAUSTIVE
    rng = np.random.default_rng(SEED)
    best_model, best_mask, best_count = None, None, 0
    drawn, needed = 0, cap
    limit = threshold * threshold
    while drawn < needed:
        if exhaustive:
            picks, drawn = _all_samples(n, sample), cap
        else:
            batch = BATCH if drawn == 0 else int(np.clip(needed - drawn, BATCH, 1024))
            picks = _samples(rng, n, batch, sample)
            drawn += batch
        models = fit_minimal(src[picks], dst[picks])
        if not len(models):
            continue
        inside = errors(models, src, dst) < limit
        counts = inside.sum(axis=1)
        top = int(counts.argmax())
        if counts[top] > best_count:
            best_model, best_mask, best_count = models[top], inside[top], int(counts[top])
            needed = _iterations(best_count, n, sample, confidence, cap)
    if best_model is None or best_mask is None:
        return None, None
    for _ in range(2):  # least-squares refit on the inliers while that gains some
        refit = fit_all(src[best_mask], dst[best_mask])
        if refit is None:
            break
        mask = errors(refit[None], src, dst)[0] < limit
        if mask.sum() < best_count:
            break
        gained = mask.sum() > best_count
        best_model, best_mask, best_count = refit, mask, int(mask.sum())
        if not gained:
            break
    return best_model, best_mask


# homographies ----------------------------------------------------------------------------------
def _homogeneous(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points, np.ones((*points.shape[:-1], 1))], axis=-1)


def _basis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 3, 3) maps of the projective basis onto 4 points each, and the 4 triangles' signed areas (x2)."""
    x, y = points[..., 0], points[..., 1]

    def triangle(i: int, j: int, k: int) -> np.ndarray:
        return (x[:, j] - x[:, i]) * (y[:, k] - y[:, i]) - (y[:, j] - y[:, i]) * (x[:, k] - x[:, i])

    d = np.stack([triangle(1, 2, 3), triangle(2, 0, 3), triangle(0, 1, 3), triangle(0, 1, 2)], axis=1)
    basis = np.stack([x[:, :3] * d[:, :3], y[:, :3] * d[:, :3], d[:, :3]], axis=1)  # columns: points 0..2, scaled
    return basis, d


def _adjugate(m: np.ndarray) -> np.ndarray:
    """Adjugates of (B, 3, 3) matrices (the inverse times the determinant)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    g, h, i = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    return np.stack(
        [
            e * i - f * h,
            c * h - b * i,
            b * f - c * e,
            f * g - d * i,
            a * i - c * g,
            c * d - a * f,
            d * h - e * g,
            b * g - a * h,
            a * e - b * d,
        ],
        axis=1,
    ).reshape(-1, 3, 3)


def homographies(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The homographies of (B, 4, 2) point quadruples, normalised to h33 = 1; degenerate ones left out.

    A quadruple counts if no three of its points are collinear in either picture and the four
    triangles keep their orientation (or all flip), as OpenCV's sample check.
    """
    a, da = _basis(np.asarray(src, dtype=np.float64))
    b, db = _basis(np.asarray(dst, dtype=np.float64))
    scale = np.abs(da).max(axis=1) * np.abs(db).max(axis=1)
    same = (np.sign(da) == np.sign(db)).sum(axis=1)
    good = (np.abs(da * db).min(axis=1) > 1e-9 * scale) & ((same == 4) | (same == 0))
    h = b[good] @ _adjugate(a[good])
    corner = h[:, 2, 2]
    ok = np.abs(corner) > 1e-12 * np.abs(h).max(axis=(1, 2), initial=0.0)
    return h[ok] / corner[ok, None, None]


def _projection_errors(models: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(B, n) squared reprojection errors of the points through each homography."""
    x = models[:, None, :, 0] * src[None, :, 0:1] + models[:, None, :, 1] * src[None, :, 1:2] + models[:, None, :, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 1.0 / x[:, :, 2]
        err = (x[:, :, 0] * z - dst[None, :, 0]) ** 2 + (x[:, :, 1] * z - dst[None, :, 1]) ** 2
    return np.where(np.isfinite(err), err, np.inf)


def fit_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares homography (normalised DLT) of n >= 4 correspondences; None if degenerate."""
    if len(src) < 4:
        return None

    def normaliser(p: np.ndarray) -> np.ndarray:
        centre = p.mean(axis=0)
        spread = np.sqrt(((p - centre) ** 2).sum(axis=1)).mean()
        s = np.sqrt(2.0) / spread if spread > 1e-12 else 1.0
        return np.array([[s, 0.0, -s * centre[0]], [0.0, s, -s * centre[1]], [0.0, 0.0, 1.0]])

    ts, td = normaliser(src), normaliser(dst)
    ps, pd = transform(ts, src), transform(td, dst)
    rows = np.zeros((2 * len(ps), 9))
    rows[0::2, 0:2], rows[0::2, 2] = ps, 1.0
    rows[0::2, 6:8], rows[0::2, 8] = -pd[:, :1] * ps, -pd[:, 0]
    rows[1::2, 3:5], rows[1::2, 5] = ps, 1.0
    rows[1::2, 6:8], rows[1::2, 8] = -pd[:, 1:] * ps, -pd[:, 1]
    h = np.linalg.svd(rows)[2][-1].reshape(3, 3)
    h = np.linalg.inv(td) @ h @ ts
    if abs(h[2, 2]) < 1e-12 or not np.isfinite(h).all():
        return None
    return h / h[2, 2]


def find_homography(
    src: np.ndarray, dst: np.ndarray, threshold: float, confidence: float = 0.995, max_iters: int = 2000
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """RANSAC homography of src -> dst (n, 2) with reprojection error < threshold: (3x3, inlier mask)."""
    s, d = np.asarray(src, dtype=np.float64).reshape(-1, 2), np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    return _ransac(s, d, threshold, 4, homographies, fit_homography, _projection_errors, confidence, max_iters)


# similarities ----------------------------------------------------------------------------------
def _similarities(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(B, 2, 3) similarity transforms (rotation, uniform scale, shift) of (B, 2, 2) point pairs."""
    s = src[..., 0] + 1j * src[..., 1]
    d = dst[..., 0] + 1j * dst[..., 1]
    base = s[:, 1] - s[:, 0]
    good = np.abs(base) > 1e-9
    m = (d[good, 1] - d[good, 0]) / base[good]
    t = d[good, 0] - m * s[good, 0]
    return np.stack(
        [np.stack([m.real, -m.imag, t.real], 1), np.stack([m.imag, m.real, t.imag], 1)],
        axis=1,
    )


def _similarity_errors(models: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    x = models[:, None, :, 0] * src[None, :, 0:1] + models[:, None, :, 1] * src[None, :, 1:2] + models[:, None, :, 2]
    return ((x - dst[None]) ** 2).sum(axis=2)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares similarity (2x3) of n >= 2 correspondences; None if the points coincide."""
    s = src[:, 0] + 1j * src[:, 1]
    d = dst[:, 0] + 1j * dst[:, 1]
    sc, dc = s - s.mean(), d - d.mean()
    norm = float((np.abs(sc) ** 2).sum())
    if len(src) < 2 or norm < 1e-12:
        return None
    m = (np.conj(sc) * dc).sum() / norm
    t = d.mean() - m * s.mean()
    return np.array([[m.real, -m.imag, t.real], [m.imag, m.real, t.imag]])


def find_similarity(
    src: np.ndarray, dst: np.ndarray, threshold: float, confidence: float = 0.99, max_iters: int = 2000
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """RANSAC similarity of src -> dst (n, 2): (2x3 matrix, inlier mask), as estimateAffinePartial2D."""
    s, d = np.asarray(src, dtype=np.float64).reshape(-1, 2), np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    return _ransac(s, d, threshold, 2, _similarities, fit_similarity, _similarity_errors, confidence, max_iters)
