"""The light re-rank a busy server gives every search instead of none: extra views and colour, no SIFT."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from catalog.features import DatabaseSource
from catalog.index import get_local_index
from catalog.local_engine import LocalSearcher
from catalog.models import ProductImage
from tests.conftest import CatalogItem
from vision.catalog import catalog_views
from vision.engine import SCORE_SCALE, Candidate, Engine
from vision.local import HIST_BINS, LightFeatures, LocalFeatures
from vision.prepare import prepare_image


def picture(colour: tuple[int, int, int]) -> Image.Image:
    """A plain product: a coloured box with a darker band, on white."""
    canvas = Image.new("RGB", (240, 240), (255, 255, 255))
    canvas.paste(Image.new("RGB", (120, 160), colour), (60, 40))
    canvas.paste(Image.new("RGB", (120, 30), tuple(c // 2 for c in colour)), (60, 100))
    return canvas


def test_light_features_are_the_colour_views_and_keypoint_count_of_the_extras(engine: Engine) -> None:
    for feature in engine.catalog_features([picture((200, 40, 40)), picture((40, 60, 200))]):
        full, light = LocalFeatures.from_bytes(feature.extras), LightFeatures.from_bytes(feature.extras)
        assert np.array_equal(light.hist, full.hist)
        assert np.array_equal(light.views, full.views) and len(light.views) == 2
        assert light.keypoints == len(full.points)
    with pytest.raises(ValueError):
        LightFeatures.from_bytes(b"nope")


def test_colour_decides_between_pictures_alike_in_shape(engine: Engine) -> None:
    red, blue = picture((200, 40, 40)), picture((40, 60, 200))
    query = engine.query_features(red)
    (views,) = catalog_views(engine.net, [red])
    same_colours = LightFeatures(engine._query_hist(query), views, 0)
    other_colours = LightFeatures(LightFeatures.from_bytes(engine.catalog_features([blue])[0].extras).hist, views, 0)
    # The store put the blue one first; with the same views, the photo's colours lift the red one.
    ranked = engine.light_rerank(query, [Candidate(1, 0.62), Candidate(0, 0.60)], [other_colours, same_colours])
    assert [c.key for c in ranked] == [0, 1]
    assert all(0.0 <= c.score <= 1.0 for c in ranked)


def test_views_lift_a_picture_the_store_scored_low_and_missing_extras_keep_the_store_score(engine: Engine) -> None:
    red = picture((200, 40, 40))
    query = engine.query_features(red)
    (views,) = catalog_views(engine.net, [red])
    bins = int(np.prod(HIST_BINS))
    grey = np.zeros(bins, np.float32)
    grey[0] = 1.0  # one bin: no colour in common with the photo
    ranked = engine.light_rerank(
        query,
        [Candidate(1, 0.5), Candidate(2, 0.4), Candidate(0, 0.1)],
        [None, LightFeatures(grey, np.zeros((0, 0), np.float32), 800), LightFeatures(grey, views, 800)],
    )
    assert [c.key for c in ranked] == [0, 1, 2]  # its own views match the photo far better than 0.1
    assert ranked[1].score == pytest.approx(0.5 / SCORE_SCALE)
    assert engine.light_rerank(query, [], []) == []


def test_a_picture_sift_cannot_verify_scores_the_same_under_load_as_alone(engine: Engine) -> None:
    """The similarity floor's "uncertain" must not depend on how busy the server is (a black photo was 0.31
    alone and 0.48 busy): without SIFT evidence, the full and the light re-rank give the same score."""
    red = picture((200, 40, 40))
    query = engine.query_features(red)
    (views,) = catalog_views(engine.net, [red])
    hist = engine._query_hist(query)
    no_keypoints = LocalFeatures.of(
        hist, np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (240, 240), views
    )
    full = engine.rerank(query, [Candidate(0, 0.3, no_keypoints.to_bytes())])
    light = engine.light_rerank(query, [Candidate(0, 0.3)], [LightFeatures(hist, views, 0)])
    assert 0.0 < light[0].score < 1.0
    assert light[0].score == pytest.approx(full[0].score, abs=2e-3)  # the blob keeps colour and views in float16


class CountingSource(DatabaseSource):
    """The catalog's own source, counting which pictures' extras are read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[int] = []

    def extras(self, keys: Sequence[int], *, compute_missing: bool = True) -> dict[int, bytes]:
        self.read.extend(keys)
        return super().extras(keys, compute_missing=compute_missing)


def test_a_busy_search_is_re_ranked_lightly_and_reads_each_picture_once(small_catalog: list[CatalogItem]) -> None:
    served = get_local_index().searcher
    source = CountingSource()
    busy = LocalSearcher(served.engine, served.store, source)
    busy.forced = "light"
    image = prepare_image(small_catalog[3].picture.read_bytes()).image
    first = busy.search(image, limit=5)
    assert first.rerank_skipped  # the full check was skipped, and the page says so
    assert first.hits[0].sku_id == small_catalog[3].product.sku_id
    pool = set(source.read)
    assert len(pool) == len(small_catalog)  # the 12 pictures are the whole pool
    again = busy.search(image, limit=5)
    assert [h.sku_id for h in again.hits] == [h.sku_id for h in first.hits]
    assert sorted(source.read) == sorted(pool)  # remembered: nothing read twice

    changed = ProductImage.objects.get(product=small_catalog[3].product)
    busy.forget([changed.pk])
    busy.search(image, limit=5)
    assert source.read.count(changed.pk) == 2  # a forgotten picture is read again


def test_the_index_forgets_the_light_features_of_pictures_it_re_embeds(small_catalog: list[CatalogItem]) -> None:
    index = get_local_index()
    searcher = index.searcher
    keys = list(ProductImage.objects.values_list("pk", flat=True))
    assert set(searcher.light_features(keys)) == set(keys)
    picture_row = ProductImage.objects.get(product=small_catalog[0].product)
    image = Image.open(small_catalog[0].picture).convert("RGB")
    before = searcher.light_features([picture_row.pk])[picture_row.pk]
    index.add_pictures([picture_row], [image.rotate(90, expand=True)])
    after = searcher.light_features([picture_row.pk])[picture_row.pk]
    assert after is not before and not np.array_equal(after.views, before.views)


def test_a_busy_search_does_not_compute_missing_extras(small_catalog: list[CatalogItem]) -> None:
    """Right after an import, before its second phase, pictures have no extras yet: the full re-rank computes
    them (~80 ms each), a busy search goes without them rather than spend the CPU it lacks."""
    ProductImage.objects.update(extras=None)
    served = get_local_index().searcher
    busy = LocalSearcher(served.engine, served.store, served.source)
    busy.forced = "light"
    item = small_catalog[5]
    result = busy.search(prepare_image(item.picture.read_bytes()).image, limit=5)
    assert result.rerank_skipped and result.hits[0].sku_id == item.product.sku_id
    assert not ProductImage.objects.exclude(extras=None).exists()  # none computed
    assert busy.light_features(list(ProductImage.objects.values_list("pk", flat=True))) == {}
    calm = LocalSearcher(served.engine, served.store, served.source)
    assert not calm.search(prepare_image(item.picture.read_bytes()).image, limit=5).rerank_skipped
    assert ProductImage.objects.exclude(extras=None).exists()  # the full re-rank computed and kept them
