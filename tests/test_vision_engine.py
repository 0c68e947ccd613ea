"""Behaviour of the retrieval engine: plain copies rank first, rerank orders, extras round-trip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision import geometry
from vision.catalog import VIEW_MARGINS, VIEW_PILES, catalog_views, packed_pile, product_crop
from vision.engine import (
    INLIER_OFFSET,
    MAX_INLIER_BONUS,
    MIN_INLIERS,
    Box,
    Candidate,
    Engine,
    QueryFeatures,
    colour_weight,
    inlier_bonus,
)
from vision.local import (
    CATALOG_KEYPOINTS,
    HIST_BINS,
    LocalFeatures,
    _plausible,
    catalog_local,
    consistent_inliers,
    verify,
)

GROCERY = Path("/work/shared/eval/grocery")


def _synthetic(seed: int) -> Image.Image:
    """A textured 'product' (random coloured shapes and stripes) on a white background."""
    rng = np.random.default_rng(seed)
    canvas = np.full((240, 240, 3), 255, dtype=np.uint8)
    body = rng.integers(0, 256, size=(24, 16, 3), dtype=np.uint8)
    body = np.kron(body, np.ones((7, 7, 1), dtype=np.uint8))  # 168x112 blocky texture
    noise = rng.integers(0, 60, size=body.shape, dtype=np.uint8)
    canvas[36:204, 64:176] = np.clip(body.astype(int) - noise, 0, 255).astype(np.uint8)
    return Image.fromarray(canvas)


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    catalog = GROCERY / "catalog.csv"
    if catalog.is_file():
        with open(catalog, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))[::4][:16]
        return [Image.open(GROCERY / r["imageUrl"]).convert("RGB") for r in rows]
    return [_synthetic(seed) for seed in range(12)]


@pytest.fixture(scope="module")
def indexed(engine: Engine, pictures: list[Image.Image]) -> tuple[np.ndarray, list[bytes]]:
    feats = engine.catalog_features(pictures)
    return np.stack([f.vector for f in feats]), [f.extras for f in feats]


def _search(engine: Engine, indexed: tuple[np.ndarray, list[bytes]], image: Image.Image) -> list[Candidate]:
    vectors, extras = indexed
    query = engine.query_features(image)
    scores = (query.vectors @ vectors.T).max(axis=0)
    order = np.argsort(-scores)[: engine.rerank_depth]
    return engine.rerank(query, [Candidate(int(i), float(scores[i]), extras[i]) for i in order])


def test_catalog_vectors_are_unit_and_sized(engine: Engine, indexed: tuple[np.ndarray, list[bytes]]) -> None:
    vectors, extras = indexed
    assert vectors.dtype == np.float32 and vectors.shape[1] == engine.dim
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert all(0 < len(blob) < 128 * 1024 for blob in extras)  # up to 800 RootSIFT keypoints, ~105 KB


def test_exact_copy_ranks_first(engine: Engine, pictures: list[Image.Image], indexed) -> None:
    for i, picture in enumerate(pictures):
        ranked = _search(engine, indexed, picture)
        assert ranked[0].key == i
        assert 0.0 <= ranked[-1].score <= ranked[0].score <= 1.0
        assert ranked[0].score > engine.similarity_floor


def test_cropped_and_rotated_copy_ranks_first(engine: Engine, pictures: list[Image.Image], indexed) -> None:
    hits = 0
    for i, picture in enumerate(pictures):
        w, h = picture.size
        variant = picture.crop((int(0.06 * w), int(0.04 * h), int(0.95 * w), int(0.97 * h)))
        variant = variant.rotate(8, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
        hits += _search(engine, indexed, variant)[0].key == i
    assert hits == len(pictures)


def test_rerank_orders_best_first_and_uses_geometry(engine: Engine, pictures: list[Image.Image], indexed) -> None:
    _, extras = indexed
    query = engine.query_features(pictures[0])
    # The store's scores are deliberately wrong: the true match comes last with the lowest score.
    cands = [Candidate(k, 0.6 - 0.005 * k, extras[k]) for k in range(1, len(extras))] + [Candidate(0, 0.5, extras[0])]
    ranked = engine.rerank(query, cands)
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    assert {c.key for c in ranked} == {c.key for c in cands}
    if len(catalog_local(pictures[0]).points) >= 30:
        assert ranked[0].key == 0  # the SIFT-verified copy overtakes the embedding's order
    assert engine.rerank(query, []) == []


def test_rerank_survives_missing_extras(engine: Engine, pictures: list[Image.Image]) -> None:
    query = engine.query_features(pictures[0])
    ranked = engine.rerank(query, [Candidate(1, 0.4, b""), Candidate(2, 0.6, b"junk")])
    assert [c.key for c in ranked] == [2, 1]


def test_extras_round_trip(pictures: list[Image.Image]) -> None:
    original = catalog_local(pictures[0])
    restored = LocalFeatures.from_bytes(original.to_bytes())
    assert restored.shape == original.shape
    assert np.allclose(restored.hist, original.hist, atol=1e-3)
    assert np.allclose(restored.points, original.points, atol=0.25)
    assert np.allclose(restored.descriptors, original.descriptors, atol=0.01)
    with pytest.raises(ValueError):
        LocalFeatures.from_bytes(b"nope")


def test_query_region_and_subjects(engine: Engine, pictures: list[Image.Image]) -> None:
    query = engine.query_features(pictures[0], Box(0.1, 0.1, 0.9, 0.9))
    assert isinstance(query, QueryFeatures)
    assert query.vectors.shape[1] == engine.dim and query.region == Box(0.1, 0.1, 0.9, 0.9)
    boxes = engine.detect_subjects(pictures[0])
    assert 1 <= len(boxes) <= 5
    for box in boxes:
        assert 0.0 <= box.x0 < box.x1 <= 1.0 and 0.0 <= box.y0 < box.y1 <= 1.0
    assert isinstance(engine.version, str) and engine.version


def test_subjects_of_a_searched_photo_reuse_its_forward_pass(
    engine: Engine, pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On clutter: a catalog picture's plain white border would let the subjects come without the feature map.
    rng = np.random.default_rng(0)
    cluttered = Image.fromarray(
        rng.integers(0, 256, size=(pictures[3].height + 80, pictures[3].width + 80, 3), dtype=np.uint8)
    )
    cluttered.paste(pictures[3], (40, 40))
    photo = cluttered.copy()
    fresh = engine.detect_subjects(cluttered.copy())
    calls: list[int] = []
    real = engine.net.feature_maps

    def counted(pixels: np.ndarray) -> np.ndarray:
        calls.append(1)
        return real(pixels)

    monkeypatch.setattr(engine.net, "feature_maps", counted)
    engine.query_features(photo)
    assert engine.detect_subjects(photo) == fresh
    assert len(calls) == 1
    engine.detect_subjects(photo.copy())  # another picture object: computed afresh
    assert len(calls) == 2


def _label_matches(seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Matches bunched on a label strip (top of a 150x400 carton), seen turned, halved and shifted."""
    rng = np.random.default_rng(seed)
    src = rng.uniform([10, 10], [140, 40], (25, 2)).astype(np.float32)
    turn = 0.5 * np.array([[np.cos(0.2), -np.sin(0.2)], [np.sin(0.2), np.cos(0.2)]])
    dst = (src @ turn.T + [120, 60] + rng.normal(0, noise, src.shape)).astype(np.float32)
    return src, dst


def test_matches_on_one_label_count_through_a_similarity_when_the_homography_folds() -> None:
    carton, photo = (400, 150), (320, 320)
    src, dst = _label_matches(1, 2.0)
    homography, _ = geometry.find_homography(src, dst, 8.0)
    assert homography is None or not _plausible(homography, carton, photo)  # the case the fallback is for
    assert consistent_inliers(src, dst, carton, photo) >= 20
    exact_src, exact_dst = _label_matches(1, 0.0)
    assert consistent_inliers(exact_src, exact_dst, carton, photo) == len(exact_src)  # plain homography path
    shuffled = np.random.default_rng(2).uniform(0, 320, dst.shape).astype(np.float32)
    assert consistent_inliers(src, shuffled, carton, photo) < MIN_INLIERS  # unrelated matches stay unverified


def test_extras_carry_extra_views(engine: Engine, pictures: list[Image.Image]) -> None:
    original = catalog_local(pictures[0])
    assert len(LocalFeatures.from_bytes(original.to_bytes()).views) == 0  # a blob without views
    (views,) = catalog_views(engine.net, [pictures[0]])
    assert views.shape == (len(VIEW_MARGINS) + len(VIEW_PILES), engine.dim)
    assert np.allclose(np.linalg.norm(views, axis=1), 1.0, atol=1e-4)
    original.views = views
    restored = LocalFeatures.from_bytes(original.to_bytes())
    assert np.allclose(restored.views, views, atol=2e-3)
    assert np.allclose(restored.descriptors, original.descriptors, atol=0.01)


def test_packed_pile_shows_copies_edge_to_edge(pictures: list[Image.Image]) -> None:
    solid = Image.new("RGB", (50, 80), (200, 30, 40))  # a plain product, taller than wide
    for copies in (2, 3, 4):
        pile = packed_pile(solid, 380, copies)
        assert pile.shape == (380, 380, 3)
        assert (pile == (200, 30, 40)).all()  # no white between or around the copies
    product = product_crop(pictures[0])
    pile = packed_pile(product, 380, 3)
    cell = -(-380 // 3)
    first = pile[:cell, :cell]
    assert np.array_equal(pile[cell : 2 * cell, cell : 2 * cell], first)  # the same copy in every cell
    assert first.std() > 10  # a picture, not a blank: the copy's middle fills the cell
    assert np.array_equal(packed_pile(product, 380, 3), pile)  # deterministic (catalog extras are stored)


def test_rerank_scores_a_candidate_by_its_best_view(engine: Engine, pictures: list[Image.Image]) -> None:
    query = engine.query_features(pictures[0])
    (views,) = catalog_views(engine.net, [pictures[0]])
    bins = int(np.prod(HIST_BINS))
    flat = np.full(bins, 1.0 / bins, np.float32)
    bare = LocalFeatures.of(flat, np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (1, 1))
    plain = bare.to_bytes()  # same colour, no keypoints: only the embedding score orders them
    bare.views = views
    with_views = bare.to_bytes()
    ranked = engine.rerank(query, [Candidate(0, 0.1, with_views), Candidate(1, 0.3, plain)])
    assert ranked[0].key == 0  # its own views match the photo far better than the store's 0.1
    ranked = engine.rerank(query, [Candidate(0, 0.1, plain), Candidate(1, 0.3, plain)])
    assert ranked[0].key == 1


def test_inlier_bonus_counts_a_few_inliers_and_grows_ever_slower() -> None:
    assert inlier_bonus(0) == inlier_bonus(INLIER_OFFSET) == 0.0  # chance matches earn nothing
    bonuses = [inlier_bonus(n) for n in range(INLIER_OFFSET, CATALOG_KEYPOINTS + 1)]
    steps = np.diff(bonuses)
    assert (steps > 0).all() and (np.diff(steps) <= 1e-12).all()  # rising, each inlier worth less
    assert 0.0 < inlier_bonus(MIN_INLIERS - 1) < inlier_bonus(MIN_INLIERS)  # below "verified" it already counts
    assert inlier_bonus(10 * CATALOG_KEYPOINTS) == MAX_INLIER_BONUS  # capped: fused scores stay within 0..1


def test_colour_counts_more_for_a_plain_catalog_picture(engine: Engine, pictures: list[Image.Image]) -> None:
    assert colour_weight(0) > colour_weight(100) > colour_weight(CATALOG_KEYPOINTS) == colour_weight(10**6)
    query = engine.query_features(pictures[0])
    hist = engine._query_local(query).hist  # both candidates have exactly the photo's colours
    plain = LocalFeatures.of(hist, np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (400, 400))
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 400, (CATALOG_KEYPOINTS, 2)).astype(np.float32)
    noise = rng.random((CATALOG_KEYPOINTS, 128)).astype(np.float32) ** 4  # SIFT-like: a few strong bins
    textured = LocalFeatures.of(hist, points, noise / np.linalg.norm(noise, axis=1, keepdims=True), (400, 400))
    assert verify(engine._query_local(query), [textured]) == [0]  # its keypoints match nothing in the photo
    ranked = engine.rerank(query, [Candidate(1, 0.31, textured.to_bytes()), Candidate(0, 0.3, plain.to_bytes())])
    assert ranked[0].key == 0  # same colours: they count more for the picture SIFT cannot check


def test_one_blob_gives_one_subject_and_two_blobs_two() -> None:
    """The lower activation level's box around a blob is the same subject as the higher level's box inside it
    (two near-duplicate chips before); a separate blob is another subject."""
    from vision.regions import salient_boxes

    fmap = np.zeros((4, 12, 12), np.float32)
    fmap[:, 2:9, 1:6] = 0.5  # a blob's halo ...
    fmap[:, 3:8, 2:5] = 1.0  # ... and its core
    assert len(salient_boxes(fmap)) == 1
    fmap[:, 3:8, 8:11] = 0.9  # another blob, apart
    assert len(salient_boxes(fmap)) == 2


def test_a_small_core_inside_its_subject_is_not_a_subject_of_its_own() -> None:
    """A ball's bright side (a ninth of the ball's box) gave a second chip showing the same ball; a larger box
    around two separate cores is a group, and the cores stay subjects of their own."""
    from vision.regions import salient_boxes

    fmap = np.zeros((4, 12, 12), np.float32)
    fmap[:, 1:10, 1:10] = 0.5  # the ball ...
    fmap[:, 4:7, 4:7] = 1.0  # ... and its bright side
    assert salient_boxes(fmap) == [(1 / 12, 1 / 12, 10 / 12, 10 / 12)]
    fmap[:, 2:4, 2:4] = 1.0  # a second core within the same halo: two things side by side
    boxes = salient_boxes(fmap)
    assert len(boxes) == 3 and (1 / 12, 1 / 12, 10 / 12, 10 / 12) in boxes
