"""Contract over real HTTP: our `juhe` client against our own /snapshop/query (live server).

The client must round-trip the results and every error code the server produces;
the web page set to the `juhe` backend shows the same cards, and falls back to
the local engine (saying so, in history too) when the URL is dead.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiKey
from search import juhe_errors as juhe
from search.juhe_client import encode_for_juhe, get_client
from search.models import Search
from search.services import run_search
from tests.conftest import CatalogItem
from tests.fake_juhe import closed_port_url
from tests.images import jpeg
from vision.prepare import prepare_image


def create_key(*args: str) -> str:
    out = io.StringIO()
    call_command("create_api_key", "contract", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture
def own_server(settings, live_server, transactional_db) -> str:
    """The juhe client pointed at our own endpoint, with a real key made by create_api_key."""
    key = create_key()
    settings.JUHE_API_URL = live_server.url + "/snapshop/query"
    settings.JUHE_API_KEY = key
    settings.JUHE_RETRY_BACKOFF = 0.0
    settings.JUHE_READ_TIMEOUT = 30.0
    settings.SNAPSHOP_LEARN_PICTURES = False
    return key


def search_page(client: Client, data: bytes) -> str:
    upload = io.BytesIO(data)
    upload.name = "photo.jpg"
    response = client.post("/search/", {"photo": upload}, follow=True)  # a plain form lands on the saved search
    assert response.status_code in {200, 422}, response.status_code
    return response.content.decode()


def test_results_round_trip(own_server: str, small_catalog: list[CatalogItem]) -> None:
    item = small_catalog[2]
    data = item.picture.read_bytes()
    result = get_client().query(prepare_image(data).image)
    local = run_search(encode_for_juhe(prepare_image(data).image), backend="local")  # the very bytes sent
    assert [hit.sku_id for hit in result.hits] == [hit.sku_id for hit in local.hits]
    top = result.hits[0]
    assert top.sku_id == item.product.sku_id
    assert (top.sku_name, top.sku_price, top.ware_label) == (
        item.product.name,
        item.product.price,
        item.product.ware_label,
    )
    assert (top.detail_url, top.detail_app_url) == (item.product.detail_url, item.product.detail_app_url)
    assert (top.cid1, top.cid2, top.cid3) == (item.product.cid1, item.product.cid2, item.product.cid3)
    assert top.similarity == pytest.approx(local.hits[0].similarity, abs=0.02)
    assert top.image_url.startswith("http://") and top.source == "juhe"
    assert Search.objects.filter(channel=Search.Channel.API, request_id=result.request_id).exists()


@pytest.mark.parametrize(
    ("make_key", "exception"),
    [
        (lambda: "0123456789abcdef0123456789abcdef", juhe.WrongKey),
        (lambda: create_key("--daily-quota", "0"), juhe.QuotaExceeded),
    ],
)
def test_key_errors_round_trip(own_server: str, settings, make_key, exception) -> None:
    settings.JUHE_API_KEY = make_key()
    with pytest.raises(exception):
        get_client().query(prepare_image(jpeg()).image)


def test_expired_and_revoked_keys_round_trip(own_server: str) -> None:
    api_key = ApiKey.objects.lookup(own_server)
    assert api_key is not None
    ApiKey.objects.filter(pk=api_key.pk).update(expires=timezone.now() - timedelta(minutes=1))
    with pytest.raises(juhe.KeyExpired):
        get_client().query(prepare_image(jpeg()).image)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)
    with pytest.raises(juhe.BannedKey):
        get_client().query(prepare_image(jpeg()).image)


def test_bad_image_round_trips(own_server: str) -> None:
    with pytest.raises(juhe.BadImage) as caught:
        get_client().query_encoded("this is not base64 %%%")
    assert "base64" in caught.value.reason


def test_no_results_round_trips_with_reason(own_server: str) -> None:
    with pytest.raises(juhe.QueryFailed) as caught:  # empty catalog
        get_client().query(prepare_image(jpeg()).image)
    assert caught.value.reason.startswith("查询失败")


def test_internal_error_round_trips_and_is_retried_once(own_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def crash(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr("api.views.run_search", crash)
    with pytest.raises(juhe.UpstreamInternalError) as caught:
        get_client().query(prepare_image(jpeg()).image)
    assert caught.value.fallback_allowed and len(calls) == 2


def test_web_page_on_juhe_backend_shows_the_same_cards(
    own_server: str,
    settings,
    small_catalog: list[CatalogItem],
) -> None:
    data = small_catalog[4].picture.read_bytes()
    local_html = search_page(Client(), data)
    settings.SNAPSHOP_BACKEND = "juhe"
    juhe_html = search_page(Client(), data)
    web = Search.objects.filter(channel=Search.Channel.WEB).order_by("pk")
    assert [s.answered_by for s in web] == ["local", "juhe"]
    local_skus, juhe_skus = ([h.sku_id for h in s.hits.all()] for s in web)
    # Same best card; the photo is re-encoded for Juhe, so near-ties further down may swap.
    assert juhe_skus[0] == local_skus[0] == small_catalog[4].product.sku_id
    assert set(juhe_skus[:5]) <= set(local_skus)
    assert {h.source for h in web[1].hits.all()} == {"juhe"}
    api = Search.objects.get(channel=Search.Channel.API)
    assert web[1].upstream_request_id == api.request_id
    assert small_catalog[4].product.name in local_html and small_catalog[4].product.name in juhe_html


def test_both_backends_merge_one_card_per_sku(own_server: str, settings, small_catalog: list[CatalogItem]) -> None:
    outcome = run_search(small_catalog[5].picture.read_bytes(), backend="both")
    assert outcome.ok and outcome.answered_by == "local+juhe"
    skus = [hit.sku_id for hit in outcome.hits]
    assert len(skus) == len(set(skus)) and skus[0] == small_catalog[5].product.sku_id
    assert {hit.source for hit in outcome.hits} == {"local+juhe"}


def test_dead_juhe_url_falls_back_to_local_with_a_notice(
    settings,
    db,
    small_catalog: list[CatalogItem],
) -> None:
    settings.SNAPSHOP_BACKEND = "juhe"
    settings.JUHE_API_URL = closed_port_url()
    settings.JUHE_API_KEY = "any-key-at-all"
    settings.JUHE_RETRY_BACKOFF = 0.0
    html = search_page(Client(), small_catalog[3].picture.read_bytes())
    search = Search.objects.get()
    assert search.answered_by == "local (fallback)" and not search.error_code
    assert search.notice.startswith("Juhe is unavailable") and "any-key-at-all" not in search.notice
    assert search.hits.all()[0].sku_id == small_catalog[3].product.sku_id
    assert "Juhe is unavailable" in html and small_catalog[3].product.name in html
