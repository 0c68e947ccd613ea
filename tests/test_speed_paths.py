"""The cheap paths of a web search (issue 8): the stored photo kept as uploaded minus its metadata,
and re-ranking that steps aside when the engine is busy (brownout)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.html import escape
from PIL import Image

from catalog.index import get_local_index
from catalog.local_engine import PROCESS_IN_FLIGHT, LocalResult, LocalSearcher
from search.models import Search
from search.photo import strip_jpeg_metadata
from search.services import record_search, run_search
from tests.conftest import CatalogItem
from tests.images import encode, textured
from vision.prepare import prepare_image

BUSY_TEXT = "skipped the detailed picture check"
QUICK_TEXT = "had a shorter picture check"


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """The JPEG with one more segment right after SOI."""
    return jpeg[:2] + bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def private_jpeg(**params: object) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (59.0, 20.0, 0.0)}  # GPS
    data = encode(textured(400, 300, 5), "JPEG", quality=90, exif=exif, comment=b"my secret comment", **params)
    data = with_segment(data, 0xED, b"Photoshop 3.0\x00" + b"IPTC city: Tallinn")  # APP13
    return data + b"MOTION-PHOTO-VIDEO-TRAILER" * 20


@pytest.mark.parametrize("params", [{}, {"progressive": True}, {"restart_marker_blocks": 2}, {"subsampling": 0}])
def test_stripping_keeps_the_pixels_and_drops_every_private_segment(params: dict[str, object]) -> None:
    data = private_jpeg(**params)
    stripped = strip_jpeg_metadata(data)
    assert stripped is not None
    for secret in (b"PhoneMaker", b"Exif", b"my secret comment", b"Tallinn", b"MOTION-PHOTO"):
        assert secret in data and secret not in stripped
    assert not Image.open(io.BytesIO(stripped)).getexif()
    assert np.array_equal(pixels(stripped), pixels(data))
    assert stripped.endswith(b"\xff\xd9")


def test_stripping_keeps_the_colour_profile_and_refuses_what_it_cannot_walk() -> None:
    profile = b"fake-but-kept ICC bytes"
    data = encode(textured(200, 150, 2), "JPEG", quality=90, icc_profile=profile)
    stripped = strip_jpeg_metadata(data)
    assert stripped is not None and Image.open(io.BytesIO(stripped)).info.get("icc_profile") == profile
    assert strip_jpeg_metadata(data[: len(data) // 2]) is None  # no end of picture
    assert strip_jpeg_metadata(encode(textured(200, 150, 2), "PNG")) is None
    assert strip_jpeg_metadata(b"\xff\xd8\xff\xe1\x00") is None


def test_an_upright_jpeg_is_stored_as_uploaded_minus_its_metadata(small_catalog: list[CatalogItem]) -> None:
    data = private_jpeg()
    search = record_search(run_search(data), data)
    stored = search.photo.read()
    assert stored == strip_jpeg_metadata(data)
    assert not Image.open(io.BytesIO(stored)).getexif()
    assert (search.photo_width, search.photo_height) == (400, 300)
    assert max(Image.open(search.thumbnail.path).size) == 320


def test_a_turned_jpeg_is_stored_upright_without_exif(small_catalog: list[CatalogItem]) -> None:
    upright = textured(400, 300, 7)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera held sideways: turn 90° clockwise to view
    exif[0x8825] = {1: "N", 2: (59.0, 20.0, 0.0)}
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    search = record_search(run_search(data), data)
    stored = Image.open(search.photo.path)
    assert not stored.getexif()
    assert stored.size == (400, 300) == (search.photo_width, search.photo_height)
    difference = np.abs(np.asarray(stored.convert("RGB"), dtype=np.int16) - np.asarray(upright, dtype=np.int16))
    assert difference.mean() < 6


def test_a_png_is_stored_as_a_jpeg(small_catalog: list[CatalogItem]) -> None:
    data = encode(textured(400, 300, 3), "PNG")
    search = record_search(run_search(data), data)
    assert Image.open(search.photo.path).format == "JPEG"


def searcher() -> LocalSearcher:
    return get_local_index().searcher


def test_a_search_while_the_engine_is_busy_gets_a_shorter_check_or_none_and_says_so(
    small_catalog: list[CatalogItem],
) -> None:
    item = small_catalog[2]
    data = item.picture.read_bytes()
    client = Client()
    assert searcher().rerank and searcher().max_in_flight == 1 and searcher().max_quick_in_flight == 2

    def post() -> str:
        response = client.post(
            "/search/", {"photo": SimpleUploadedFile("a.jpg", data, "image/jpeg")}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200 and escape(item.product.name) in response.content.decode()
        return response.content.decode()

    with PROCESS_IN_FLIGHT.track():  # another search is in the engine of this process
        quick = post()
        with PROCESS_IN_FLIGHT.track():  # and a third
            busy = post()
    alone = post()
    assert QUICK_TEXT in quick and BUSY_TEXT not in quick
    assert BUSY_TEXT in busy and QUICK_TEXT not in busy
    assert BUSY_TEXT not in alone and QUICK_TEXT not in alone
    first, second, third = Search.objects.order_by("pk")  # kept in history for the admin
    assert QUICK_TEXT in first.notice and BUSY_TEXT in second.notice and not third.notice
    for search in (first, second):
        top = search.hits.first()
        assert top is not None and top.sku_id == item.product.sku_id
    assert PROCESS_IN_FLIGHT.count == 0


def concurrent_searches(local: LocalSearcher, photos: list[bytes]) -> list[LocalResult]:
    """Every photo searched at the same moment, each on its own thread."""
    images = [prepare_image(data, max_side=1280).image for data in photos]
    start = threading.Barrier(len(images))
    results: list[LocalResult | None] = [None] * len(images)

    def run(i: int) -> None:
        start.wait()
        results[i] = local.search(images[i], limit=5)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@pytest.mark.django_db(transaction=True)  # the searching threads read the catalog on their own connections
def test_concurrent_searches_beyond_the_limit_skip_the_re_rank(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = small_catalog[:6]
    local = searcher()
    # Each search waits, once its re-rank is chosen, until all six are in the engine: on a busy machine the threads
    # otherwise came in so far apart that a second one found only one other search in flight (two quick checks).
    all_inside = threading.Barrier(len(items), timeout=30)
    features = local.engine.query_features

    def once_all_are_inside(*args: object, **kwargs: object) -> object:
        all_inside.wait()
        return features(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local.engine, "query_features", once_all_are_inside)
    results = concurrent_searches(local, [item.picture.read_bytes() for item in items])
    monkeypatch.undo()
    # Six searches in one engine at once: the first to enter gets the full re-rank, the second the quick check, the
    # others none, even those alone again after their pass.
    tiers = [r.rerank for r in results]
    assert sorted(tiers) == ["full", "light", "light", "light", "light", "quick"]
    for item, result in zip(items, results, strict=True):
        assert result.hits[0].sku_id == item.product.sku_id
    assert PROCESS_IN_FLIGHT.count == 0
    alone = local.search(prepare_image(items[0].picture.read_bytes()).image, limit=5)
    assert not alone.rerank_skipped


@pytest.mark.django_db(transaction=True)
def test_without_a_limit_every_concurrent_search_is_re_ranked(small_catalog: list[CatalogItem]) -> None:
    local = searcher()
    unlimited = LocalSearcher(local.engine, local.store, local.source, max_in_flight=0)
    results = concurrent_searches(unlimited, [item.picture.read_bytes() for item in small_catalog[:4]])
    assert not any(r.rerank_skipped for r in results)


def test_the_first_page_is_built_from_the_hits_exactly_as_they_are_stored(small_catalog: list[CatalogItem]) -> None:
    from decimal import Decimal

    from search.hits import ProductHit
    from search.services import stored_hits

    data = small_catalog[0].picture.read_bytes()
    outcome = run_search(data)
    long = "x" * 700
    outcome.hits.append(
        ProductHit(sku_id="y" * 80, sku_name=long, sku_price=Decimal("7.5"), cid1=long, ware_label=long)
    )
    search = record_search(outcome, data)
    assert len(outcome.hits) > 2
    assert Search.objects.get(pk=search.pk).product_hits() == stored_hits(outcome)


@pytest.mark.parametrize(
    ("size", "fmt", "expected"),
    [
        ((1440, 992), "JPEG", (720, 496)),  # half scale in the DCT: 720 px, not resampled to 800
        ((1600, 1100), "JPEG", (800, 550)),
        ((4032, 3024), "JPEG", (1008, 756)),  # a phone photo at a quarter
        ((1200, 900), "JPEG", (800, 600)),  # no DCT scale lands near 800 px: resampled
        ((1440, 992), "PNG", (800, 551)),  # no DCT: resampled
        ((348, 348), "JPEG", (348, 348)),
    ],
)
def test_a_query_photo_decodes_near_800_px_without_resampling_when_the_dct_can(
    size: tuple[int, int], fmt: str, expected: tuple[int, int]
) -> None:
    from search.services import prepare_query_photo

    data = encode(textured(*size, 4), fmt)
    photo = prepare_query_photo(data)
    assert photo.size == expected and photo.image.mode == "RGB"
    if fmt == "JPEG" and size[0] // expected[0] in (2, 4):
        # Exactly the pixels of the JPEG decoded at that scale.
        decoded = Image.open(io.BytesIO(data))
        decoded.draft("RGB", expected)
        assert np.array_equal(np.asarray(photo.image), np.asarray(decoded.convert("RGB")))


def test_the_model_session_takes_its_thread_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread unless SNAPSHOP_MODEL_THREADS says otherwise (gunicorn.conf.py sets cores / workers)."""
    from pathlib import Path

    from django.conf import settings

    from vision.model import FeatureNet

    def threads() -> int:
        options = FeatureNet(Path(settings.SNAPSHOP_MODEL_PATH)).session.get_session_options()
        return int(options.intra_op_num_threads)

    monkeypatch.setenv("SNAPSHOP_MODEL_THREADS", "2")
    assert threads() == 2
    monkeypatch.setenv("SNAPSHOP_MODEL_THREADS", "0")
    assert threads() == 0  # onnxruntime's own default (a thread per core)
    monkeypatch.setenv("SNAPSHOP_MODEL_THREADS", "not a number")
    assert threads() == 1
    monkeypatch.delenv("SNAPSHOP_MODEL_THREADS")
    assert threads() == 1  # the other core computes the photo's SIFT meanwhile (vision.parallel)
