"""Colour histograms and SIFT geometric verification, plus the compact per-picture extras blob.

Extras layout (little-endian): b"SSX1", uint16 histogram bins, uint16 keypoints n,
uint16 picture height, uint16 width, then float16 histogram[bins], float16 xy[n, 2]
and uint8 RootSIFT descriptors[n, 128] (sqrt of L1-normalised SIFT, scaled to 0..255; below 128 in
practice, and clipped there: vision.int_matmul).
About 40 KB per 300 keypoints. Optionally followed by uint16 k, uint16 dim and float16
views[k, dim]: the picture's extra unit embeddings (other views of it than the store's
vector, see vision.catalog.catalog_views); absent when k = 0.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from PIL import Image

from vision import geometry, int_matmul, parallel, regions, sift

MAGIC = b"SSX1"
VERSION = "rs800-v5"  # part of the engine version: change it when the extras change (stored data is recomputed)
HIST_BINS = (18, 4, 4)  # hue, saturation, value
SIFT_SIDE = 400  # catalog pictures are resized to this long side before SIFT
QUERY_SIFT_SIDE = 320  # query photos likewise: 320 measured better than 400 (and cheaper: cost ~ side²)
CATALOG_KEYPOINTS = 800  # 400 -> 800 with mutual nearest neighbours: +0.02 val, +0.005 train R@1
QUERY_KEYPOINTS = 1000
# The quick check (a busy server's second tier, see vision.engine): the photo at 240 px with 500 keypoints,
# ~70 ms of CPU against ~115 (grocery val R@1 0.618 and train 0.521 with 12 candidates verified, against
# 0.645 / 0.539 for the full check and 0.554 / 0.382 without SIFT; 240 px and 8 candidates: 0.608 / 0.517).
QUICK_SIFT_SIDE = 240
QUICK_KEYPOINTS = 500
RATIO = 0.8
RANSAC_PIXELS = 8.0
SIMILARITY_FALLBACK = True  # count a similarity's inliers when no plausible homography (see consistent_inliers)


@dataclass
class LocalFeatures:
    hist: np.ndarray  # (bins,) float32, sums to 1
    points: np.ndarray  # (n, 2) float32, pixel positions in the SIFT-sized picture
    codes: np.ndarray  # (n, 128) uint8, RootSIFT (unit L2 norm) x 255, at most 127: what matching multiplies
    shape: tuple[int, int]  # (height, width) of the SIFT-sized picture
    views: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # (k, dim) unit vectors
    # The unit descriptors the codes were made from, when known (a query photo's): matched at finer steps.
    unit: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        hist: np.ndarray,
        points: np.ndarray,
        descriptors: np.ndarray,
        shape: tuple[int, int],
        views: np.ndarray | None = None,
    ) -> LocalFeatures:
        """From unit RootSIFT descriptors (n, 128) float."""
        unit = np.asarray(descriptors, dtype=np.float32).reshape(-1, 128)
        codes = int_matmul.codes(unit)
        if views is None:
            return cls(hist, points, codes, shape, unit=unit)
        return cls(hist, points, codes, shape, views, unit=unit)

    @property
    def descriptors(self) -> np.ndarray:
        """(n, 128) float32 unit RootSIFT vectors (as the codes give them when not known)."""
        return self.unit if self.unit is not None else _unit(self.codes.astype(np.float32) / 255.0)

    def to_bytes(self) -> bytes:
        n = len(self.points)
        header = MAGIC + struct.pack("<4H", len(self.hist), n, self.shape[0], self.shape[1])
        blob = header + self.hist.astype("<f2").tobytes() + self.points.astype("<f2").tobytes() + self.codes.tobytes()
        if len(self.views):
            blob += struct.pack("<2H", *self.views.shape) + self.views.astype("<f2").tobytes()
        return blob

    @classmethod
    def from_bytes(cls, blob: bytes) -> LocalFeatures:
        bins, n, height, width = _header(blob)
        offset = 12 + 2 * bins
        points = np.frombuffer(blob, "<f2", 2 * n, offset).astype(np.float32).reshape(n, 2)
        offset += 4 * n
        codes = np.frombuffer(blob, np.uint8, 128 * n, offset).reshape(n, 128)  # read-only: never written to
        return cls(_hist(blob, bins), points, codes, (height, width), _views(blob, bins, n))

    @property
    def keypoints(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class LightFeatures:
    """What the light re-rank (under load) reads of a picture's extras: its colour and extra views, without
    converting the SIFT part, which is most of the blob and of the time to read it."""

    hist: np.ndarray  # (bins,) float32
    views: np.ndarray  # (k, dim) float32 unit vectors, or (0, 0)
    keypoints: int  # how many SIFT keypoints the picture has (the colour weighs more when few)

    @classmethod
    def from_bytes(cls, blob: bytes) -> LightFeatures:
        bins, n, _, _ = _header(blob)
        return cls(_hist(blob, bins), _views(blob, bins, n), n)


def _header(blob: bytes) -> tuple[int, int, int, int]:
    """(histogram bins, keypoints, height, width) of an extras blob."""
    if len(blob) < 12 or blob[:4] != MAGIC:
        raise ValueError("not a SnapShop extras blob")
    bins, n, height, width = struct.unpack("<4H", blob[4:12])
    return bins, n, height, width


def _hist(blob: bytes, bins: int) -> np.ndarray:
    return np.frombuffer(blob, "<f2", bins, 12).astype(np.float32)


def _views(blob: bytes, bins: int, n: int) -> np.ndarray:
    """The extra views stored after the descriptors (header, bins histogram halves, n xy pairs of halves, n x 128
    bytes), or an empty (0, 0) array."""
    offset = 12 + 2 * bins + 4 * n + 128 * n
    if len(blob) < offset + 4:
        return np.zeros((0, 0), dtype=np.float32)
    k, dim = struct.unpack("<2H", blob[offset : offset + 4])
    return np.frombuffer(blob, "<f2", k * dim, offset + 4).astype(np.float32).reshape(k, dim)


def hsv_hist(rgb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Normalised hue-saturation-value histogram (HIST_BINS) of an RGB uint8 array, of the masked pixels if given.

    Hue in OpenCV's 0..180 degrees-halved scale, saturation and value 0..255, rounded as OpenCV's RGB2HSV.
    """
    pixels = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if mask is not None:
        pixels = pixels[np.asarray(mask, dtype=bool).ravel()]
    r, g, b = (pixels[:, i].astype(np.int32) for i in range(3))
    value = np.maximum(np.maximum(r, g), b)
    diff = value - np.minimum(np.minimum(r, g), b)
    saturation = (510 * diff + value) // np.maximum(2 * value, 1)
    sector = np.where(value == r, g - b, np.where(value == g, b - r + 2 * diff, r - g + 4 * diff))
    hue = (60 * sector + diff) // np.maximum(2 * diff, 1)
    hue = np.where(diff > 0, hue % 180, 0)
    hb, sb, vb = HIST_BINS
    index = (np.minimum(hue * hb // 180, hb - 1) * sb + saturation * sb // 256) * vb + value * vb // 256
    hist = np.bincount(index, minlength=hb * sb * vb).astype(np.float32)
    return (hist / max(float(hist.sum()), 1e-9)).astype(np.float32)


def colour_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two normalised histograms, 0..1."""
    return float(np.sqrt(np.maximum(a, 0) * np.maximum(b, 0)).sum())


def _sized_grey(image: Image.Image, side: int = SIFT_SIDE) -> np.ndarray:
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR))


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-7)).astype(np.float32)


def _rootsift(desc: np.ndarray | None) -> np.ndarray:
    if desc is None:
        return np.zeros((0, 128), dtype=np.float32)
    desc = desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-7)
    return _unit(np.sqrt(desc))


def sift_features(
    image: Image.Image,
    keypoints: int,
    mask_white: bool,
    side: int = SIFT_SIDE,
    *,
    helpers: parallel.Helpers | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    grey = _sized_grey(image, side)
    mask = grey < 245 if mask_white else None
    points, desc = sift.detect_and_compute(grey, keypoints, mask, helpers=helpers)
    return points, _rootsift(desc), (int(grey.shape[0]), int(grey.shape[1]))


def centre_hist(photo: Image.Image) -> np.ndarray:
    """The colour histogram of a query photo's centre 60 %, squared to 174 px, i.e. [35:139] of it.

    Resizing only that part (the same pixels, +-1) costs a third of resizing it all (1 ms against 2.6
    for an 800 px photo).
    """
    w, h = photo.size
    box = (35 * w / 174, 35 * h / 174, 139 * w / 174, 139 * h / 174)
    return hsv_hist(np.asarray(photo.resize((104, 104), Image.Resampling.BILINEAR, box=box)))


def query_local(photo: Image.Image, *, quick: bool = False, helpers: parallel.Helpers | None = None) -> LocalFeatures:
    """What the re-rank compares a query photo by: its centre's colour and its SIFT keypoints (fewer, from a
    smaller copy, for the quick check). `helpers`: the search's thread may share its last steps."""
    side, keypoints = (QUICK_SIFT_SIDE, QUICK_KEYPOINTS) if quick else (QUERY_SIFT_SIDE, QUERY_KEYPOINTS)
    points, desc, shape = sift_features(photo, keypoints, mask_white=False, side=side, helpers=helpers)
    return LocalFeatures.of(centre_hist(photo), points, desc, shape)


def catalog_local(image: Image.Image) -> LocalFeatures:
    rgb = np.asarray(image)
    mask = regions.product_mask(rgb, level=235)
    hist = hsv_hist(rgb, mask if mask.sum() > 64 else None)
    points, desc, shape = sift_features(image, CATALOG_KEYPOINTS, mask_white=True)
    return LocalFeatures.of(hist, points, desc, shape)


def verify(query: LocalFeatures, catalog: list[LocalFeatures]) -> list[int]:
    """Geometrically consistent SIFT matches (RANSAC homography inliers) of each catalog picture in the query.

    A homography only counts if the catalog picture's outline maps to a plausible convex quadrilateral;
    when none does, a similarity transform with a plausible outline counts instead.
    """
    if len(catalog) < 2:
        return _verify_part(query, catalog)
    # Two parts with about as many catalog keypoints each (the matching's cost), the second on another core.
    keypoints = np.cumsum([len(c.descriptors) for c in catalog])
    cut = min(max(int(np.searchsorted(keypoints, keypoints[-1] / 2)) + 1, 1), len(catalog) - 1)
    first, second = parallel.side_by_side(partial(_verify_part, query), catalog[:cut], catalog[cut:])
    return first + second


def _verify_part(query: LocalFeatures, catalog: list[LocalFeatures]) -> list[int]:
    return [
        consistent_inliers(src, dst, cand.shape, query.shape) if len(src) >= 6 else 0
        for (src, dst), cand in zip(mutual_matches(query, catalog), catalog, strict=True)
    ]


def mutual_matches(query: LocalFeatures, catalog: list[LocalFeatures]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each catalog picture's SIFT matches in the query: (its keypoints' positions, the query's).

    A match passes the ratio test and is also the query keypoint's nearest among that picture's keypoints
    (mutual). One byte product per picture (vision.int_matmul): a picture's 800 x 1,000 block stays in the
    processor's cache for the passes over it, where one product for all candidates (~50 MB) spent as long
    again faulting in fresh memory.
    """
    none = np.zeros((0, 2), dtype=np.float32)
    if len(query.codes) < 2:
        return [(none, none)] * len(catalog)
    query_codes, query_scale = int_matmul.fine_codes(query.descriptors)
    return [_matches(query, query_codes, query_scale, cand) if len(cand.codes) else (none, none) for cand in catalog]


def _matches(
    query: LocalFeatures, query_codes: np.ndarray, query_scale: float, cand: LocalFeatures
) -> tuple[np.ndarray, np.ndarray]:
    codes = np.minimum(cand.codes, int_matmul.CODE_MAX)  # blobs stored before the clip (none seen above 85)
    sim = int_matmul.products(codes, query_codes)  # cosines of the unit RootSIFT vectors, x row length x scale
    rows = np.arange(len(sim))
    nearest = sim.argmax(axis=1)
    s1 = sim[rows, nearest]
    column_best = sim.max(axis=0)  # each query keypoint's best among this picture's
    sim[rows, nearest] = np.iinfo(sim.dtype).min
    s2 = sim.max(axis=1)
    # Each row's own length (255 +- rounding), as the float matching's unit rows had.
    lengths = np.maximum(np.sqrt(np.einsum("ij,ij->i", codes, codes, dtype=np.int32)) * query_scale, 1.0)
    d1 = np.sqrt(np.maximum(2.0 - 2.0 * s1 / lengths, 0.0))
    d2 = np.sqrt(np.maximum(2.0 - 2.0 * s2 / lengths, 0.0))
    picked = np.nonzero((d1 < RATIO * d2) & (s1 >= column_best[nearest]))[0]
    return cand.points[picked], query.points[nearest[picked]]


def consistent_inliers(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], query_shape: tuple[int, int]) -> int:
    """RANSAC inliers of a plausible homography, else of a plausible similarity (0 if neither).

    Matches bunched on one face of a carton (a logo, a label) often give a homography that
    folds the picture's outline; a similarity (rotation, scale, shift) cannot fold, so it is
    the fallback (measured: +0.01 val Packages R@1, train unchanged).
    """
    homography, inliers = geometry.find_homography(src, dst, RANSAC_PIXELS)
    if homography is not None and inliers is not None and _plausible(homography, shape, query_shape):
        return int(inliers.sum())
    if not SIMILARITY_FALLBACK:
        return 0
    similarity, inliers = geometry.find_similarity(src, dst, RANSAC_PIXELS)
    if similarity is None or inliers is None:
        return 0
    outline = np.vstack([similarity, [0.0, 0.0, 1.0]])
    return int(inliers.sum()) if _plausible(outline, shape, query_shape) else 0


def _plausible(homography: np.ndarray, shape: tuple[int, int], query_shape: tuple[int, int]) -> bool:
    h, w = shape
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    quad = geometry.transform(homography, corners)
    if not np.isfinite(quad).all() or not geometry.is_convex(quad):
        return False
    area = geometry.area(quad)
    query_area = query_shape[0] * query_shape[1]
    if not 0.005 * query_area <= area <= 4.0 * query_area:
        return False
    sides = np.linalg.norm(quad - np.roll(quad, 1, axis=0), axis=1)
    return float(sides.min()) >= 0.15 * float(sides.max())
