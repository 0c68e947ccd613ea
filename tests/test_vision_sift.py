"""Behaviour of the numpy SIFT (vision.sift), the RANSAC fits (vision.geometry) and the colour histogram."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vision import geometry, local, parallel, sift


def _textured(seed: int, size: int = 320) -> np.ndarray:
    """A greyscale picture of random light and dark spots at three sizes: plenty of blobs and corners."""
    rng = np.random.default_rng(seed)
    picture = np.full((size, size), 128.0, dtype=np.float32)
    for sigma, count in ((2.0, 400), (4.0, 150), (8.0, 40)):
        spots = np.zeros((size, size), dtype=np.float32)
        spots[rng.integers(0, size, count), rng.integers(0, size, count)] = rng.uniform(-1, 1, count)
        picture += sift.blur(spots, sigma) * (120 * np.pi * sigma * sigma)
    return np.clip(picture, 0, 255).astype(np.uint8)


def _warp(grey: np.ndarray, angle: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The picture turned by `angle` degrees and scaled about its centre; also the 3x3 map old -> new pixels."""
    h, w = grey.shape
    a = np.deg2rad(angle)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = np.array([w / 2, h / 2])
    forward = np.eye(3)
    forward[:2, :2], forward[:2, 2] = rot, centre - rot @ centre
    inverse = np.linalg.inv(forward)  # PIL wants new -> old
    warped = Image.fromarray(grey).transform(
        (w, h), Image.Transform.AFFINE, tuple(inverse[:2].ravel()), Image.Resampling.BILINEAR, fillcolor=128
    )
    return np.asarray(warped), forward


def _matches(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours with Lowe's ratio test, as local.verify matches."""
    da, db = local._rootsift(a[1]), local._rootsift(b[1])
    sim = da @ db.T
    best = sim.argmax(axis=1)
    second = np.sort(sim, axis=1)[:, -2]
    d1, d2 = np.sqrt(np.maximum(2 - 2 * sim.max(axis=1), 0)), np.sqrt(np.maximum(2 - 2 * second, 0))
    keep = (d1 < 0.8 * d2) & (sim.argmax(axis=0)[best] == np.arange(len(da)))
    return a[0][keep], b[0][best[keep]]


def test_textured_picture_has_keypoints_and_a_flat_one_none() -> None:
    points, desc = sift.detect_and_compute(_textured(1), 500)
    assert 100 <= len(points) <= 500
    assert desc.shape == (len(points), 128)
    assert np.allclose(np.linalg.norm(desc, axis=1), 1.0, atol=1e-4)
    assert (desc >= 0).all() and desc.max() < 0.5  # large gradients clipped (at 0.2 before renormalising)
    assert (points >= -0.5).all() and (points <= 319.5).all()
    flat_points, flat_desc = sift.detect_and_compute(np.full((200, 240), 180, dtype=np.uint8), 500)
    assert len(flat_points) == 0 and flat_desc.shape == (0, 128)


def test_the_strongest_keypoints_are_kept() -> None:
    grey = _textured(2)
    many, _ = sift.detect_and_compute(grey, 1000)
    few, _ = sift.detect_and_compute(grey, 50)
    assert len(few) == 50 < len(many)
    kept = {tuple(p) for p in np.round(few, 3)}
    assert kept <= {tuple(p) for p in np.round(many, 3)}


@pytest.mark.parametrize(("angle", "scale"), [(30.0, 1.0), (-70.0, 0.7), (0.0, 1.4)])
def test_a_turned_and_scaled_copy_matches_where_the_transform_says(angle: float, scale: float) -> None:
    grey = _textured(3)
    warped, forward = _warp(grey, angle, scale)
    src, dst = _matches(sift.detect_and_compute(grey, 800), sift.detect_and_compute(warped, 800))
    assert len(src) >= 40
    homography, inliers = geometry.find_homography(src, dst, 4.0)
    assert homography is not None and inliers is not None and inliers.sum() >= 30
    corners = np.array([[60.0, 60.0], [260.0, 60.0], [260.0, 260.0], [60.0, 260.0]])
    assert np.abs(geometry.transform(homography, corners) - geometry.transform(forward, corners)).max() < 3.0
    right = np.abs(geometry.transform(forward, src) - dst).max(axis=1) < 3.0
    assert right.mean() > 0.8  # the matches themselves are mostly correct


def test_unrelated_pictures_do_not_verify() -> None:
    a = local.LocalFeatures.of(np.zeros(1), *sift_parts(_textured(4)))
    b = local.LocalFeatures.of(np.zeros(1), *sift_parts(_textured(5)))
    same = local.LocalFeatures.of(np.zeros(1), *sift_parts(_warp(_textured(4), 15.0, 0.9)[0]))
    unrelated, related = local.verify(a, [b, same])
    assert unrelated < 12 <= related
    assert related >= 40


def sift_parts(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    points, desc = sift.detect_and_compute(grey, 800)
    return points, local._rootsift(desc), grey.shape


def test_the_mask_keeps_keypoints_off_white() -> None:
    grey = _textured(6)
    grey[:, 160:] = 255  # right half white, with a sharp edge
    points, _ = sift.detect_and_compute(grey, 800, grey < 245)
    assert len(points) > 50
    assert (np.round(points[:, 0]) < 160).all()
    unmasked, _ = sift.detect_and_compute(grey, 800)
    assert len(unmasked) >= len(points)


def test_sift_features_through_pillow_and_masking_white() -> None:
    rgb = np.repeat(_textured(7)[:, :, None], 3, axis=2)
    rgb[:, 200:] = 255
    points, desc, shape = local.sift_features(Image.fromarray(rgb), 300, mask_white=True, side=local.SIFT_SIDE)
    assert shape == (400, 400)  # resized to the long side
    assert 0 < len(points) <= 300 and (points[:, 0] < 250 * 400 / 320).all()
    assert np.allclose((desc**2).sum(axis=1), 1.0, atol=1e-4)


def test_results_are_deterministic() -> None:
    grey = _textured(8)
    p1, d1 = sift.detect_and_compute(grey, 400)
    p2, d2 = sift.detect_and_compute(grey.copy(), 400)
    assert np.array_equal(p1, p2) and np.array_equal(d1, d2)
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 300, (80, 2))
    dst = src * 0.9 + 5 + rng.normal(0, 1.0, src.shape)
    dst[:40] = rng.uniform(0, 300, (40, 2))
    first = geometry.find_homography(src, dst, 8.0)
    again = geometry.find_homography(src, dst, 8.0)
    assert first[0] is not None and first[1] is not None and again[0] is not None and again[1] is not None
    assert np.array_equal(first[1], again[1]) and np.array_equal(first[0], again[0])


def test_blur_is_a_gaussian_with_mirrored_borders() -> None:
    rng = np.random.default_rng(9)
    picture = rng.uniform(0, 255, (37, 53)).astype(np.float32)
    sigma = 1.7
    r = int(np.ceil(sift.TRUNCATE * sigma))
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(picture.astype(np.float64), r, mode="reflect")
    rows = sum(taps[i] * padded[:, i : i + 53] for i in range(2 * r + 1))
    expected = sum(taps[i] * rows[i : i + 37] for i in range(2 * r + 1))
    assert np.abs(sift.blur(picture, sigma) - expected).max() < 1e-3
    flat = np.full((40, 40), 77.0, dtype=np.float32)
    assert np.allclose(sift.blur(flat, 3.0), 77.0, atol=1e-3)


def test_homography_from_exact_correspondences() -> None:
    truth = np.array([[1.1, 0.2, 30.0], [-0.1, 0.9, 12.0], [4e-4, -2e-4, 1.0]])
    src = np.random.default_rng(10).uniform(0, 400, (30, 2))
    dst = geometry.transform(truth, src)
    fitted = geometry.fit_homography(src, dst)
    assert fitted is not None and np.allclose(fitted, truth, atol=1e-6)
    (four,) = geometry.homographies(src[None, :4], dst[None, :4])
    assert np.allclose(four, truth, atol=1e-6)
    found, inliers = geometry.find_homography(src, dst, 1.0)
    assert found is not None and inliers is not None and inliers.all()
    assert np.allclose(found, truth, atol=1e-6)


def test_ransac_tolerates_half_outliers() -> None:
    rng = np.random.default_rng(11)
    truth = np.array([[0.8, -0.3, 50.0], [0.25, 0.85, -20.0], [2e-4, 1e-4, 1.0]])
    src = rng.uniform(0, 300, (120, 2))
    dst = geometry.transform(truth, src) + rng.normal(0, 0.7, (120, 2))
    outliers = rng.permutation(120)[:60]
    dst[outliers] = rng.uniform(0, 300, (60, 2))
    found, inliers = geometry.find_homography(src, dst, 4.0)
    assert found is not None and inliers is not None
    expected = np.ones(120, dtype=bool)
    expected[outliers] = False
    assert (inliers & expected).sum() >= 58 and (inliers & ~expected).sum() <= 2
    corners = np.array([[0.0, 0.0], [300.0, 0.0], [300.0, 300.0], [0.0, 300.0]])
    assert np.abs(geometry.transform(found, corners) - geometry.transform(truth, corners)).max() < 2.0


def test_similarity_fit_and_ransac() -> None:
    rng = np.random.default_rng(12)
    a, s = np.deg2rad(25), 0.6
    truth = np.array([[s * np.cos(a), -s * np.sin(a), 40.0], [s * np.sin(a), s * np.cos(a), 10.0]])
    src = rng.uniform(0, 200, (40, 2))
    dst = geometry.transform(truth, src)
    fitted = geometry.fit_similarity(src, dst)
    assert fitted is not None and np.allclose(fitted, truth, atol=1e-9)
    dst[:15] = rng.uniform(0, 200, (15, 2))
    found, inliers = geometry.find_similarity(src, dst, 3.0)
    assert found is not None and inliers is not None
    assert inliers[15:].all() and inliers[:15].sum() <= 1
    assert np.allclose(found, truth, atol=1e-6)
    few, none = geometry.find_similarity(src[:1], dst[:1], 3.0)
    assert few is None and none is None


def test_degenerate_samples_give_no_homography() -> None:
    line = np.stack([np.arange(8.0), 2 * np.arange(8.0)], axis=1)
    assert len(geometry.homographies(line[None, :4], line[None, 1:5])) == 0
    found, inliers = geometry.find_homography(line, line + 1.0, 2.0)
    assert found is None and inliers is None
    mirrored = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    folded = mirrored[[1, 0, 2, 3]]  # two corners swapped: a bow-tie, not a plane's view
    assert len(geometry.homographies(mirrored[None], folded[None])) == 0


def test_convexity_and_area() -> None:
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])
    assert geometry.is_convex(square) and geometry.is_convex(square[::-1])
    assert geometry.area(square) == pytest.approx(16.0)
    assert not geometry.is_convex(square[[0, 2, 1, 3]])  # bow-tie
    assert not geometry.is_convex(np.array([[0.0, 0.0], [4.0, 0.0], [1.0, 1.0], [0.0, 4.0]]))  # dent


def test_hsv_histogram() -> None:
    red = np.zeros((10, 10, 3), dtype=np.uint8)
    red[..., 0] = 255
    hist = local.hsv_hist(red)
    assert hist.shape == (int(np.prod(local.HIST_BINS)),) and hist.sum() == pytest.approx(1.0)
    assert hist[3 * 4 + 3] == pytest.approx(1.0)  # hue bin 0, top saturation and value bins
    picture = red.copy()
    picture[:, 5:] = (0, 0, 200)  # blue: hue 120 of 180 -> bin 12; value 200 -> bin 3
    mask = np.zeros((10, 10), dtype=bool)
    mask[:, 5:] = True
    assert local.hsv_hist(picture, mask)[(12 * 4 + 3) * 4 + 3] == pytest.approx(1.0)
    assert local.hsv_hist(picture)[(12 * 4 + 3) * 4 + 3] == pytest.approx(0.5)
    grey = np.full((4, 4, 3), 90, dtype=np.uint8)
    assert local.hsv_hist(grey)[1] == pytest.approx(1.0)  # no hue, no saturation, value bin 1


def test_a_helping_thread_shares_the_work_and_changes_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    grey = _textured(9)
    alone = sift.detect_and_compute(grey, 400)
    helper_started = threading.Event()
    threads: set[str] = set()
    orientations = sift.orientations

    def noted(*args: Any) -> tuple[np.ndarray, np.ndarray]:
        threads.add(threading.current_thread().name)
        if threading.current_thread().name == "MainThread":
            helper_started.set()
        else:  # the offering thread leaves at least one part to the helper
            assert helper_started.wait(10), "the helping thread took no part"
        return orientations(*args)

    monkeypatch.setattr(sift, "orientations", noted)
    helpers = parallel.Helpers()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="offering") as offering:
        future = offering.submit(sift.detect_and_compute, grey, 400, helpers=helpers)
        helpers.help_until(future)
        shared = future.result(timeout=10)

    assert len(alone[0]) >= 2 * sift.PART_SIZE and len(sift.parts(np.arange(len(alone[0])))) > 1
    assert threads == {"MainThread", "offering_0"}
    assert np.array_equal(alone[0], shared[0]) and np.array_equal(alone[1], shared[1])


def test_parts_cover_every_item_once_in_blocks_of_eight() -> None:
    for count in (0, 7, 127, 128, 129, 300, 1000):
        items = np.arange(count)
        parts = sift.parts(items)
        assert np.array_equal(np.concatenate(parts) if parts else items, items)
        assert len(parts) <= sift.PARTS and all(len(part) % 8 == 0 for part in parts[:-1])
