"""GET /s/<pk>/ — re-open a saved search: its own session or staff only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from search.models import Search
from search.services import record_search, run_search
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
