from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from catalog.local_engine import PictureInfo
from search.models import Search
from search.services import record_search, run_search
from tests.conftest import CatalogItem
from tests.images import encode, jpeg, textured

pytestmark = pytest.mark.django_db


def test_an_exact_copy_of_a_catalog_picture_ranks_first(small_catalog: list[CatalogItem]) -> None:
    for item in small_catalog:
        outcome = run_search(item.picture.read_bytes())
        assert outcome.ok, outcome.error_message
        assert outcome.hits[0].sku_id == item.product.sku_id


def test_a_cropped_and_rotated_copy_still_ranks_first(small_catalog: list[CatalogItem]) -> None:
    for item in small_catalog[::3]:
        image = Image.open(item.picture).convert("RGB")
        w, h = image.size
        changed = image.crop((int(w * 0.08), int(h * 0.06), int(w * 0.95), int(h * 0.9))).rotate(
            8, expand=True, fillcolor=(255, 255, 255)
        )
        outcome = run_search(encode(changed))
        assert outcome.hits[0].sku_id == item.product.sku_id


def test_hits_are_one_per_product_best_first(small_catalog: list[CatalogItem]) -> None:
    outcome = run_search(small_catalog[0].picture.read_bytes())
    skus = [hit.sku_id for hit in outcome.hits]
    assert len(skus) == len(set(skus)) == len(small_catalog)
    similarities = [hit.similarity for hit in outcome.hits]
    assert similarities == sorted(similarities, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in similarities)


def test_history_keeps_the_photo_and_hits_in_rank_order(small_catalog: list[CatalogItem]) -> None:
    data = small_catalog[1].picture.read_bytes()
    outcome = run_search(data)
    search = record_search(outcome, data, session_key="abc", device="mobile")
    stored = Search.objects.get(pk=search.pk)
    assert stored.result_count == len(outcome.hits)
    assert stored.backend == "local" and stored.answered_by == "local"
    assert stored.device == "mobile" and stored.session_key == "abc"
    assert stored.photo and stored.thumbnail
    assert max(Image.open(stored.thumbnail.path).size) <= 320
    assert [(h.rank, h.sku_id) for h in stored.hits.all()] == [
        (rank, hit.sku_id) for rank, hit in enumerate(outcome.hits, start=1)
    ]
    first = stored.hits.first()
    assert first is not None
    assert first.category_path == " › ".join(small_catalog[1].product.category_path)


def test_stored_photo_has_no_exif(small_catalog: list[CatalogItem]) -> None:
    image = textured(400, 300, 5)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (59.0, 20.0, 0.0)}  # GPS
    data = encode(image, exif=exif)
    search = record_search(run_search(data), data)
    assert not Image.open(search.photo.path).getexif()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"<html><script>alert(1)</script></html>", "not_image"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not_image"),
        (jpeg(40, 300), "too_small"),
        (jpeg(400, 300)[:600], "corrupt"),
    ],
)
def test_bad_photos_get_a_specific_error_and_are_recorded(
    small_catalog: list[CatalogItem], data: bytes, code: str
) -> None:
    outcome = run_search(data)
    assert outcome.error_code == code and outcome.error_message and not outcome.hits
    search = record_search(outcome, data)
    assert Search.objects.get(pk=search.pk).error_code == code


def test_an_unsupported_format_is_named(small_catalog: list[CatalogItem]) -> None:
    outcome = run_search(encode(textured(100, 100), "ICO"))
    assert outcome.error_code == "unsupported_format"
    assert "ICO" in outcome.error_message


def test_too_many_pixels_are_refused_before_decoding(small_catalog: list[CatalogItem], settings) -> None:
    settings.SNAPSHOP_MAX_IMAGE_PIXELS = 1_000_000
    outcome = run_search(encode(Image.new("RGB", (2000, 1000), "white"), "PNG"))
    assert outcome.error_code == "too_large"


def test_a_jpeg_over_the_pixel_limit_is_searched_at_the_size_it_decodes_to(
    small_catalog: list[CatalogItem], settings
) -> None:
    """A high-resolution phone photo (64 or 108 megapixels against the default limit of 50) is a JPEG, decoded
    at 1/8 of its size: it was refused as too large. Here the limit is 1 MP and the photo 3.8 MP."""
    settings.SNAPSHOP_MAX_IMAGE_PIXELS = 1_000_000
    wanted = small_catalog[1]
    with Image.open(wanted.picture) as picture:
        scale = (3_800_000 / (picture.width * picture.height)) ** 0.5
        large = picture.convert("RGB").resize((round(picture.width * scale), round(picture.height * scale)))
    assert 1_000_000 < large.width * large.height <= 4_000_000
    outcome = run_search(encode(large, "JPEG"))
    assert outcome.ok and outcome.hits[0].sku_id == wanted.product.sku_id
    decoded = outcome.photo.image  # type: ignore[union-attr]
    assert decoded.width * decoded.height <= 1_000_000 < large.width * large.height

    refused = run_search(encode(large, "PNG"))  # decoded whole: the limit counts its own pixels
    assert refused.error_code == "too_large" and "the limit is 1 megapixels" in refused.error_message
    huge = run_search(encode(Image.new("RGB", (2500, 2000), "white"), "JPEG"))  # 5 MP: past 4 x the limit
    assert huge.error_code == "too_large" and "(2500×2000 pixels); the limit is 4 megapixels" in huge.error_message


def test_an_empty_catalog_says_no_results(db) -> None:
    outcome = run_search(jpeg())
    assert outcome.error_code == "no_results" and outcome.error_message


def test_a_missing_model_makes_the_engine_unavailable(settings, tmp_path: Path, monkeypatch) -> None:
    import vision.engine

    monkeypatch.setattr(vision.engine, "_engine", None)
    settings.SNAPSHOP_MODEL_PATH = tmp_path / "missing.onnx"
    outcome = run_search(jpeg())
    assert outcome.error_code == "engine_unavailable"
    assert "not available" in outcome.error_message


def test_without_re_ranking_an_exact_copy_still_ranks_first(small_catalog: list[CatalogItem], settings) -> None:
    from catalog.index import reset_local_index

    settings.SNAPSHOP_RERANK = False
    reset_local_index()
    item = small_catalog[5]
    outcome = run_search(item.picture.read_bytes())
    assert outcome.hits[0].sku_id == item.product.sku_id
    assert outcome.hits[0].similarity > 0.9  # plain cosine of an identical picture


def model_cards(keys: list[int]) -> dict[int, PictureInfo]:
    """What the cards were built from before `picture_cards`: model instances and their `url`."""
    from catalog.index import product_hit
    from catalog.models import ProductImage

    pictures = ProductImage.objects.filter(pk__in=keys).select_related("product")
    urls: dict[int, list[str]] = {}
    for image in ProductImage.objects.filter(product__in={p.product_id for p in pictures}):
        if image.url:
            urls.setdefault(image.product_id, []).append(image.url)
    return {
        p.pk: PictureInfo(product_key=p.product_id, hit=product_hit(p.product, urls.get(p.product_id, [])))
        for p in pictures
    }


def test_card_rows_read_as_plain_rows_equal_the_model_instances(small_catalog: list[CatalogItem]) -> None:
    from catalog.cards import picture_cards
    from catalog.features import DatabaseSource
    from catalog.models import ProductImage

    first, second = small_catalog[0].product, small_catalog[1].product
    # A second picture known only by its web address, and one with no usable address: both as the model says.
    ProductImage.objects.create(product=first, position=5, source_url="https://cdn.example.com/a.jpg")
    ProductImage.objects.create(product=second, position=1, source_url="ftp://example.com/b.jpg")
    keys = list(ProductImage.objects.values_list("pk", flat=True)) + [10**9]  # and one that does not exist
    cards = picture_cards(keys)
    assert cards == model_cards(keys) == DatabaseSource().pictures(keys)
    assert len(cards) == len(keys) - 1
    card = next(info for info in cards.values() if info.product_key == first.pk)
    assert card.hit.sku_id == first.sku_id and card.hit.all_image_urls[-1] == "https://cdn.example.com/a.jpg"
    assert card.hit.image_url.startswith("/media/catalog/")
    assert picture_cards([]) == {}


def test_a_catalog_embedded_by_another_engine_version_says_so(small_catalog: list[CatalogItem]) -> None:
    """After an upgrade changes the engine, its index leaves out the old vectors: not "no matching products"."""
    from catalog.index import reset_local_index
    from catalog.models import ProductImage

    ProductImage.objects.update(features_version="an-older-engine")
    reset_local_index()
    outcome = run_search(small_catalog[0].picture.read_bytes())
    assert outcome.error_code == "engine_unavailable"
    assert "new version of the search engine" in outcome.error_message


def test_card_picture_urls_follow_the_media_url(small_catalog: list[CatalogItem], settings) -> None:
    """Stored pictures' URLs are remembered by the storage's base URL and name: a new MEDIA_URL gives new ones."""
    from catalog.cards import picture_cards
    from catalog.models import ProductImage

    keys = list(ProductImage.objects.values_list("pk", flat=True))
    assert all(info.hit.image_url.startswith("/media/catalog/") for info in picture_cards(keys).values())
    settings.MEDIA_URL = "/pictures/"
    cards = picture_cards(keys)
    assert all(info.hit.image_url.startswith("/pictures/catalog/") for info in cards.values())
    assert cards == model_cards(keys)
