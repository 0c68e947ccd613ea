"""GET / — the page with the photo form and the shopper's recent searches."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.urls import reverse

from search.models import Search
from tests.ui_fixtures import ANDROID, DESKTOP, english_afterwards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.django_db


def test_form_posts_with_htmx_as_multipart(client):
    html = client.get(reverse("home")).content.decode()
    assert 'hx-post="/search/"' in html
    assert 'hx-encoding="multipart/form-data"' in html
    assert 'enctype="multipart/form-data"' in html  # and works as a plain form without JavaScript


def test_before_a_search_the_results_area_is_no_landmark(client):
    """An empty "Search results" region was listed among the page's landmarks (QA20 a11y #14)."""
    html = client.get(reverse("home")).content.decode()
    area = re.search(r'<(\w+) id="results"[^>]*>', html)
    assert area is not None and area.group(1) == "div" and "aria-label" not in area.group(0)
    assert "results-layout" not in html
    assert "{#" not in html and "#}" not in html  # a template comment over two lines is printed, not dropped


def test_csrf_token_is_sent_by_htmx_from_body_headers(client):
    html = client.get(reverse("home")).content.decode()
    headers = re.search(r"<body hx-headers='([^']+)'", html)
    assert headers and json.loads(headers.group(1))["X-CSRFToken"]


def test_htmx_is_told_to_swap_422_429_and_503_bodies(client):
    html = client.get(reverse("home")).content.decode()
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'', html)
    assert meta
    config = json.loads(meta.group(1))
    swapped = {rule["code"] for rule in config["responseHandling"] if rule["swap"]}
    assert {"422", "429", "503"} <= swapped
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False


def test_no_inline_script_or_event_handler(client):
    html = client.get(reverse("home")).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_htmx_is_vendored_from_static(client):
    html = client.get(reverse("home")).content.decode()
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert (settings.BASE_DIR / "static/vendor/htmx/LICENSE").is_file()


def test_phone_gets_a_camera_input(client):
    html = client.get(reverse("home"), headers={"user-agent": ANDROID}).content.decode()
    assert re.search(r'<input[^>]+type="file"[^>]+accept="image/\*"[^>]+capture="environment"', html)


def test_desktop_gets_no_camera_input(client):
    html = client.get(reverse("home"), headers={"user-agent": DESKTOP}).content.decode()
    assert 'capture="environment"' not in html
    assert 'accept="image/*"' in html


def test_file_inputs_have_labels(client):
    html = client.get(reverse("home"), headers={"user-agent": ANDROID}).content.decode()
    for input_id in re.findall(r'<input[^>]+type="file"[^>]+id="([^"]+)"', html):
        assert f'<label class="button button-primary" for="{input_id}"' in html or f'for="{input_id}"' in html


def test_progress_indicator_is_wired(client):
    html = client.get(reverse("home")).content.decode()
    assert 'hx-indicator="#progress"' in html
    assert 'id="progress" class="progress htmx-indicator" role="status"' in html


def test_language_follows_the_browser(client):
    html = client.get(reverse("home"), headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert '<html lang="zh-hans">' in html
    assert "拍照找商品" in html


def test_language_switcher_posts_to_set_language(client):
    html = client.get(reverse("home")).content.decode()
    assert 'action="/i18n/setlang/" method="post"' in html
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in html


def test_switching_language_sticks(client):
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get(reverse("home"), headers={"accept-language": "en"}).content.decode()
    assert '<html lang="zh-hans">' in html


def test_recent_searches_of_this_session_are_listed(client):
    session = client.session
    session.save()
    Search.objects.create(session_key=session.session_key, thumbnail="searches/thumbs/mine.jpg")
    html = client.get(reverse("home")).content.decode()
    assert "/media/searches/thumbs/mine.jpg" in html


def test_recent_searches_of_other_sessions_are_not_listed(client):
    Search.objects.create(session_key="someone-else", thumbnail="searches/thumbs/theirs.jpg")
    html = client.get(reverse("home")).content.decode()
    assert "theirs.jpg" not in html


def test_post_is_not_allowed(client):
    assert client.post(reverse("home")).status_code == 405


def test_unknown_page_uses_the_site_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b'class="site-header"' in response.content


def test_without_javascript_a_stylesheet_shows_the_plain_form(client):
    html = client.get(reverse("home")).content.decode()
    assert '<noscript><link rel="stylesheet" href="/static/css/nojs.css"></noscript>' in html
    assert 'class="button button-secondary search-button">Search</button>' in html


def test_recent_searches_show_their_top_hit_in_one_query(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from search.hits import ProductHit
    from search.recent import recent_searches

    session = client.session
    session.save()
    found = Search.objects.create(session_key=session.session_key, thumbnail="searches/thumbs/found.jpg")
    found.save_hits([ProductHit("1", "Blue kettle", similarity=0.9), ProductHit("2", "Red kettle", similarity=0.5)])
    Search.objects.create(session_key=session.session_key, thumbnail="searches/thumbs/no.jpg", error_code="no_results")
    html = client.get(reverse("home")).content.decode()
    assert '<span class="recent-top">Blue kettle</span>' in html and "Red kettle" not in html
    assert '<span class="recent-top">No match</span>' in html
    request = client.get(reverse("home")).wsgi_request
    with CaptureQueriesContext(connection) as queries:
        recent = recent_searches(request)
    assert [getattr(item, "top_name", "") for item in recent] == [None, "Blue kettle"]
    assert len(queries.captured_queries) == 1


def test_recent_searches_are_the_sessions_newest_eight_with_a_photo(client):
    from datetime import timedelta

    from django.template.defaultfilters import date
    from django.utils import timezone

    from search.recent import recent_searches

    session = client.session
    session.save()
    start = timezone.now() - timedelta(hours=1)
    made = []
    for minute in range(11):
        search = Search.objects.create(session_key=session.session_key, thumbnail=f"searches/thumbs/{minute}.jpg")
        made.append(search)
        Search.objects.filter(pk=search.pk).update(created=start + timedelta(minutes=minute))
    Search.objects.filter(pk=made[9].pk).update(thumbnail="")  # no photo kept: not listed
    Search.objects.filter(pk=made[5].pk).update(created=start + timedelta(minutes=10))  # ties go by pk
    Search.objects.create(session_key="someone-else", thumbnail="searches/thumbs/theirs.jpg")
    request = client.get(reverse("home")).wsgi_request
    recent = recent_searches(request)
    assert [item.pk for item in recent] == [made[n].pk for n in (10, 5, 8, 7, 6, 4, 3, 2)]
    assert recent[0].thumbnail_url == "/media/searches/thumbs/10.jpg"
    assert recent[0].url == reverse("search_detail", args=[made[10].pk])
    assert recent[1].created == start + timedelta(minutes=10) and recent[1].error_code == ""
    assert recent[1].created_iso == date(timezone.localtime(recent[1].created), "c")  # as |date:'c' wrote it
    html = client.get(reverse("home")).content.decode()
    assert html.count('<span class="recent-top">') == 8
    url = reverse("search_detail", args=[made[10].pk])
    assert f'<a href="{url}" hx-get="{url}" hx-target="#results"' in html
    assert f'<time datetime="{recent[0].created_iso}">' in html


def recent_time(client, created_ago, language: str = "en") -> str:
    """The time the recent list shows for a search of this session made `created_ago` before now."""
    from django.utils import timezone

    session = client.session
    session.save()
    search = Search.objects.create(session_key=session.session_key, thumbnail="searches/thumbs/one.jpg")
    Search.objects.filter(pk=search.pk).update(created=timezone.now() - created_ago)
    html = client.get(reverse("home"), headers={"accept-language": language}).content.decode()
    match = re.search(r'<time datetime="[^"]+">([^<]*)</time>', html)
    assert match, html
    return match.group(1)


@pytest.mark.parametrize(("language", "text"), [("en", "just now"), ("zh-CN", "刚刚")])
def test_a_search_of_the_last_minute_was_made_just_now(client, language, text):
    """Not "0 minutes ago" (timesince's smallest unit is the minute)."""
    from datetime import timedelta

    assert recent_time(client, timedelta(seconds=20), language) == text


@pytest.mark.parametrize(("language", "text"), [("en", "5\xa0minutes ago"), ("zh-CN", "5\xa0分钟前")])
def test_an_older_search_says_how_long_ago(client, language, text):
    from datetime import timedelta

    assert recent_time(client, timedelta(minutes=5, seconds=10), language) == text
