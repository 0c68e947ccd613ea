"""GET /s/<pk>/ — re-open a saved search: its own session or staff only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from search.models import Search
from search.services import record_search, run_search
from tests.fake_juhe import FakeServer, Reply, failure, fake_juhe_fixture  # noqa: F401 (fixture)
from tests.ui_fixtures import ANDROID, DESKTOP, HTMX, english_afterwards  # noqa: F401 (autouse fixture)


@pytest.fixture
def saved(client, small_catalog) -> Search:
    """A search made in `client`'s session."""
    session = client.session
    session.save()
    data = small_catalog[1].picture.read_bytes()
    return record_search(run_search(data), data, session_key=session.session_key)


def url(search: Search) -> str:
    return reverse("search_detail", args=[search.pk])


def test_url_shape(saved):
    assert url(saved) == f"/s/{saved.pk}/"


def test_own_session_sees_its_results(client, saved):
    response = client.get(url(saved))
    html = response.content.decode()
    assert response.status_code == 200
    assert f">{saved.hits.get(rank=1).name}</h3>" in html and html.startswith("<!doctype html>")


def test_query_photo_is_shown(client, saved):
    assert saved.thumbnail.url in client.get(url(saved)).content.decode()


def test_buy_link_follows_the_device_of_the_viewer(client, saved):
    top = saved.hits.get(rank=1)
    assert top.detail_app_url in client.get(url(saved), headers={"user-agent": ANDROID}).content.decode()
    assert top.detail_url in client.get(url(saved), headers={"user-agent": DESKTOP}).content.decode()


def test_another_session_gets_404(saved):
    from django.test import Client

    assert Client().get(url(saved)).status_code == 404


def test_staff_can_open_any_search(saved):
    from django.test import Client

    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    other = Client()
    other.force_login(staff)
    assert other.get(url(saved)).status_code == 200


def test_missing_search_is_404(client, db):
    assert client.get("/s/999999/").status_code == 404


def test_htmx_gets_the_fragment(client, saved):
    html = client.get(url(saved), headers=HTMX).content.decode()
    assert "<html" not in html and '<ol class="grid"' in html


def test_htmx_history_restore_gets_the_whole_page(client, saved):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    assert client.get(url(saved), headers=headers).content.decode().startswith("<!doctype html>")


def test_response_varies_on_hx_request(client, saved):
    assert "HX-Request" in client.get(url(saved))["Vary"]


def test_response_varies_on_the_user_agent_that_chose_its_buy_links(client, saved):
    vary = client.get(url(saved), headers={"user-agent": ANDROID})["Vary"]
    assert "User-Agent" in [name.strip() for name in vary.split(",")]


def test_failed_search_shows_its_message_with_200(client, db):
    session = client.session
    session.save()
    search = Search.objects.create(session_key=session.session_key, error_code="corrupt", error_message="Damaged.")
    response = client.get(url(search))
    assert response.status_code == 200 and 'data-error-code="corrupt"' in response.content.decode()


def test_post_is_not_allowed(client, saved):
    assert client.post(url(saved)).status_code == 405


def test_htmx_refining_a_deleted_search_says_it_is_gone(client, saved):
    pk = saved.pk
    saved.delete()  # in another tab: the page with its sort select and chips is still open
    refine = client.get(f"/s/{pk}/", {"sort": "price_asc"}, headers=HTMX)
    region = client.post("/search/", {"search": pk, "region": "0.1,0.1,0.6,0.6"}, headers=HTMX)
    for response in (refine, region):
        assert response.status_code == 410 and response["HX-Retarget"] == "#results"
        assert 'data-error-code="search_gone"' in response.content.decode()
    assert client.get(f"/s/{pk}/").status_code == 404  # a page of its own: the 404 page


def test_a_busy_notice_is_shown_in_the_page_s_language(client, saved):
    """Stored as shown to the shopper who searched: an English search kept its English notice on the zh page."""
    from search.backends.local import BUSY_TEXT

    saved.notice = BUSY_TEXT
    saved.save()
    html = client.get(url(saved), headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert "服务器现在很忙，这些结果跳过了细致的图片核对。" in html and BUSY_TEXT not in html
    assert BUSY_TEXT in client.get(url(saved), headers={"accept-language": "en"}).content.decode()


def _searched_in_chinese_while_juhe_failed(client, small_catalog, settings) -> Search:
    from django.utils import translation

    settings.SNAPSHOP_BACKEND = "juhe"
    session = client.session
    session.save()
    data = small_catalog[1].picture.read_bytes()
    with translation.override("zh-hans"):
        search = record_search(run_search(data), data, session_key=session.session_key)
    assert search.answered_by == "local (fallback)" and search.notice.startswith("聚合数据暂不可用（")
    return search


def test_a_juhe_fallback_notice_is_shown_in_the_page_s_language(
    client, small_catalog, fake_juhe: FakeServer, settings
) -> None:
    fake_juhe.default = Reply(body=failure(10012))
    search = _searched_in_chinese_while_juhe_failed(client, small_catalog, settings)
    assert "请求次数已用完（10012）" in search.notice  # history keeps what the shopper read

    english = client.get(url(search), headers={"accept-language": "en"}).content.decode()
    assert "Juhe is unavailable (The Juhe request quota is used up (10012)" in english
    assert "聚合数据" not in english
    chinese = client.get(url(search), headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert search.notice in chinese


def test_a_juhe_fallback_notice_with_juhe_s_own_words_stays_as_it_was_shown(
    client, small_catalog, fake_juhe: FakeServer, settings
) -> None:
    fake_juhe.default = Reply(status=502, body=b"Bad Gateway")
    search = _searched_in_chinese_while_juhe_failed(client, small_catalog, settings)
    assert "HTTP 502" in search.notice

    english = client.get(url(search), headers={"accept-language": "en"}).content.decode()
    assert search.notice in english  # not rewritten: its reason is the upstream's, not one of our sentences


def test_a_both_notice_that_our_catalog_failed_is_shown_in_the_page_s_language(
    client, small_catalog, fake_juhe: FakeServer, settings, monkeypatch
) -> None:
    """Juhe answered alone because the local engine could not: its reason is one of our own sentences."""
    from django.utils import translation

    from vision.model import ModelUnavailable

    def no_model() -> None:
        raise ModelUnavailable("models/efficientnet_lite2_380.onnx is missing")

    monkeypatch.setattr("catalog.index.get_searcher", no_model)
    settings.SNAPSHOP_BACKEND = "both"
    settings.SNAPSHOP_LEARN_FROM_JUHE = False
    session = client.session
    session.save()
    data = small_catalog[1].picture.read_bytes()
    with translation.override("zh-hans"):
        search = record_search(run_search(data), data, session_key=session.session_key)
    assert search.answered_by == "juhe"
    assert search.notice == "本站商品目录暂不可用（搜索引擎暂时不可用，请稍后再试）；以下仅为聚合数据的结果。"

    english = client.get(url(search), headers={"accept-language": "en"}).content.decode()
    assert (
        "Our own catalog is unavailable (The search engine is not available right now. Please try again later); "
        "showing results from Juhe only." in english
    )
    assert "本站商品目录" not in english
    assert search.notice in client.get(url(search), headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()


def title(html: str) -> str:
    return html[html.index("<title>") + len("<title>") : html.index("</title>")]


@pytest.mark.parametrize(
    ("language", "text"), [("en", "Results for your photo — SnapShop"), ("zh-CN", "你的照片的搜索结果 — SnapShop")]
)
def test_the_page_is_titled_as_a_photo_search(client, saved, language, text):
    """Not the home page's "SnapShop — search by photo": a tab, a bookmark and history tell the pages apart."""
    html = client.get(url(saved), headers={"accept-language": language}).content.decode()
    assert title(html) == text and html.count("<title>") == 1


@pytest.mark.parametrize(
    ("language", "text"), [("en", "Products like “{}” — SnapShop"), ("zh-CN", "与“{}”相似的商品 — SnapShop")]
)
def test_a_more_like_this_search_is_titled_with_the_product(client, small_catalog, language, text):
    product = small_catalog[3].product
    page = client.post("/search/", {"sku": product.sku_id}, headers={"accept-language": language}, follow=True)
    assert title(page.content.decode()) == text.format(product.name)


def test_htmx_fragment_carries_the_title_for_the_tab(client, saved):
    """htmx sets document.title from a <title> at the root of the swapped response (ignoreTitle is false)."""
    html = client.get(url(saved), headers=HTMX).content.decode()
    assert not html.startswith("<!doctype") and "<title>Results for your photo — SnapShop</title>" in html
