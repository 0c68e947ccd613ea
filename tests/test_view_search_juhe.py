"""POST /search/ with the `juhe` backend failing: the photo's fault or the service's, told apart."""

from __future__ import annotations

import json

import pytest

from search.models import Search
from tests.fake_juhe import SKU, FakeServer, Reply, failure, fake_juhe_fixture, success  # noqa: F401
from tests.images import jpeg
from tests.ui_fixtures import HTMX, english_afterwards, upload  # noqa: F401 (autouse fixture)


@pytest.fixture
def juhe_backend(fake_juhe: FakeServer, settings) -> FakeServer:
    settings.SNAPSHOP_BACKEND = "juhe"
    return fake_juhe


@pytest.mark.parametrize("code", [10001, 10003, 10009])
def test_a_key_problem_is_answered_from_our_own_catalog_without_a_word_of_the_key(
    client, small_catalog, juhe_backend: FakeServer, code: int
) -> None:
    """One expired key meant no photo search at all, "the search engine is not available" (QA20)."""
    juhe_backend.default = Reply(body=failure(code, "nope"))
    response = client.post("/search/", {"photo": upload(small_catalog[3].picture.read_bytes())}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and small_catalog[3].product.name in html
    assert "Juhe is unavailable right now; showing results from our own catalog." in html
    assert "JUHE_API_KEY" not in html and "administrator" not in html and str(code) not in html  # the operator's
    saved = Search.objects.get()
    assert saved.answered_by == "local (fallback)" and not saved.error_code
    page = client.get(f"/s/{saved.pk}/", headers={"accept-language": "zh-hans"})  # the saved search in Chinese
    assert "聚合数据暂不可用；" in page.content.decode()


def test_a_missing_key_is_answered_from_our_own_catalog(client, small_catalog, juhe_backend: FakeServer, settings):
    settings.JUHE_API_KEY = ""
    response = client.post("/search/", {"photo": upload(small_catalog[3].picture.read_bytes())}, headers=HTMX)
    assert response.status_code == 200 and "showing results from our own catalog" in response.content.decode()


def test_a_photo_juhe_cannot_use_is_the_photo(client, db, juhe_backend: FakeServer) -> None:
    juhe_backend.default = Reply(body=failure(254701, "bad image"))
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 422 and "We could not use this photo" in response.content.decode()


def test_an_upstream_price_too_large_to_store_is_unknown_and_every_page_still_opens(
    client, db, juhe_backend: FakeServer
) -> None:
    """SQLite keeps any number; Django then failed to read the 12-digit price column back: the permalink,
    history, /find/ and the admin answered 500 for good."""
    juhe_backend.default = Reply(
        body=success(dict(SKU, skuId=90000000000, skuName="Huge price", skuPrice="99999999999"))
    )
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 200 and "Huge price" in response.content.decode()
    saved = Search.objects.get()
    assert saved.hits.get().price is None
    for url in (f"/s/{saved.pk}/", f"/s/{saved.pk}/?sort=price_asc", "/history/", "/find/?q=Huge"):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("similarity", ["NaN", "Infinity", "-Infinity"])
def test_a_similarity_that_is_no_number_is_zero(client, db, juhe_backend: FakeServer, similarity: str) -> None:
    juhe_backend.default = Reply(body=success(dict(SKU, similarity=similarity)))
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 200 and SKU["skuName"] in response.content.decode()
    assert Search.objects.get().hits.get().similarity == 0.0


@pytest.mark.parametrize(("similarity", "kept"), [(1e308, 1.0), (5, 1.0), (-3.5, 0.0)])
def test_a_similarity_outside_zero_to_one_is_brought_into_it(
    client, db, juhe_backend: FakeServer, similarity: float, kept: float
) -> None:
    """1e308 from a broken upstream overflowed the card's percentage: the page and its permalink answered 500."""
    juhe_backend.default = Reply(body=success(dict(SKU, similarity=similarity)))
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 200 and SKU["skuName"] in response.content.decode()
    saved = Search.objects.get()
    assert saved.hits.get().similarity == kept and client.get(f"/s/{saved.pk}/").status_code == 200


def test_a_bare_nan_token_is_zero_too(client, db, juhe_backend: FakeServer) -> None:
    body = json.dumps(success(dict(SKU, similarity=0.5))).replace("0.5", "NaN").encode()  # json.loads accepts it
    juhe_backend.default = Reply(body=body)
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 200 and Search.objects.get().hits.get().similarity == 0.0


def test_filters_on_a_juhe_search_still_work_once_juhe_is_switched_off(
    client, db, juhe_backend: FakeServer, settings
) -> None:
    """The filter re-ran the search with the backend stored on it: 'Search is unavailable' for every filter."""
    cheap, dear = (
        dict(SKU, skuId=1, skuName="Cheap", skuPrice="5.00"),
        dict(SKU, skuId=2, skuName="Dear", skuPrice="900"),
    )
    juhe_backend.default = Reply(body=success(cheap, dear))
    client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    saved = Search.objects.get()
    settings.SNAPSHOP_BACKEND, settings.JUHE_API_KEY = "local", ""
    response = client.get(f"/s/{saved.pk}/", {"min": "100"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and ">Dear</h3>" in html and ">Cheap</h3>" not in html
    assert "Search is unavailable" not in html
