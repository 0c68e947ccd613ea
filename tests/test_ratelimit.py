"""Rate limits: the web search form per session and IP (429, swapped by htmx), /snapshop/query per IP (10011)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client

from search.ratelimit import client_ip, hit

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def fresh_counts(settings):
    settings.SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE = 2
    settings.SNAPSHOP_RATE_LIMIT_IP_MULTIPLIER = 1
    settings.SNAPSHOP_API_RATE_LIMIT_PER_MINUTE = 2
    cache.clear()
    yield
    cache.clear()


def post_search(client: Client, ip: str = "203.0.113.5", headers: dict[str, str] | None = None):
    # An empty form: the view answers "choose a photo" (422) without running a search.
    return client.post("/search/", {}, REMOTE_ADDR=ip, headers=headers)


def test_the_middleware_is_installed() -> None:
    middleware = django_settings.MIDDLEWARE
    assert "search.ratelimit.RateLimitMiddleware" in middleware
    assert middleware.index("search.ratelimit.RateLimitMiddleware") > middleware.index(
        "django.contrib.sessions.middleware.SessionMiddleware"
    )


def test_web_searches_over_the_limit_get_a_readable_429() -> None:
    client = Client()
    assert [post_search(client).status_code for _ in range(2)] == [422, 422]
    refused = post_search(client)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    body = refused.content.decode()
    assert "Too many searches" in body
    assert "<html" in body  # a whole page for a browser without htmx


def test_htmx_gets_the_error_fragment() -> None:
    client = Client()
    for _ in range(2):
        post_search(client, headers=HTMX)
    refused = post_search(client, headers=HTMX)
    assert refused.status_code == 429
    body = refused.content.decode()
    assert "Too many searches" in body and 'data-error-code="rate_limited"' in body
    assert "<html" not in body


def test_htmx_is_told_to_swap_429_bodies() -> None:
    """base.html's htmx-config must swap 429 like 422/503, or the shopper sees only a generic error.

    Owner: the UI helper (templates/base.html, meta htmx-config responseHandling).
    """
    base = (Path(django_settings.BASE_DIR) / "templates" / "base.html").read_text()
    config = json.loads(re.search(r"name=\"htmx-config\" content='([^']*)'", base).group(1))  # type: ignore[union-attr]
    swapped = [rule["code"] for rule in config["responseHandling"] if rule.get("swap")]
    first_match = next(
        rule for rule in config["responseHandling"] if re.fullmatch(rule["code"].replace(".", r"\d"), "429")
    )
    assert first_match.get("swap") is True, swapped


def test_other_clients_and_get_requests_are_not_limited() -> None:
    client = Client()
    for _ in range(3):
        post_search(client)
    assert post_search(Client(), ip="203.0.113.99").status_code == 422
    assert client.get("/", REMOTE_ADDR="203.0.113.5").status_code == 200


def test_per_session_limit_lets_another_shopper_behind_the_same_ip_through(settings) -> None:
    settings.SNAPSHOP_RATE_LIMIT_IP_MULTIPLIER = 10
    first = Client()
    first.session.save()  # a shopper with a session cookie
    assert first.cookies.get(settings.SESSION_COOKIE_NAME)
    statuses = [post_search(first).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    second = Client()
    second.session.save()
    assert post_search(second).status_code == 422
    # ...but a client dropping its cookie still counts against the IP.
    for _ in range(30):
        post_search(Client())
    assert post_search(Client()).status_code == 429


def test_zero_disables_the_web_limit(settings) -> None:
    settings.SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE = 0
    client = Client()
    assert {post_search(client).status_code for _ in range(10)} == {422}


def post_api(client: Client, ip: str = "198.51.100.7"):
    return client.post("/snapshop/query", {"key": "nope", "image": "AAAA"}, REMOTE_ADDR=ip)


def test_api_over_the_limit_answers_juhe_10011_with_http_200() -> None:
    client = Client()
    for _ in range(2):
        assert post_api(client).json()["error_code"] != 10011
    refused = post_api(client)
    assert refused.status_code == 200
    assert refused["Content-Type"].startswith("application/json")
    assert refused.json() == {"reason": "当前IP请求超过限制", "result": None, "error_code": 10011}
    assert post_api(client, ip="198.51.100.8").json()["error_code"] != 10011


def test_zero_disables_the_api_limit(settings) -> None:
    settings.SNAPSHOP_API_RATE_LIMIT_PER_MINUTE = 0
    client = Client()
    assert all(post_api(client).json()["error_code"] != 10011 for _ in range(6))


def test_refused_requests_are_not_searched_or_recorded() -> None:
    from search.models import Search

    client = Client()
    for _ in range(2):
        post_api(client)
    before = Search.objects.count()
    for _ in range(5):
        assert post_api(client).json()["error_code"] == 10011
    assert Search.objects.count() == before


def test_a_new_window_starts_a_new_count() -> None:
    now = 1_800_000_000.0 - (1_800_000_000.0 % 60) + 10
    assert hit("t", "a", 1, now=now) == (True, 50)
    assert hit("t", "a", 1, now=now + 1)[0] is False
    assert hit("t", "a", 1, now=now + 60)[0] is True


def test_forwarded_for_is_trusted_only_when_configured(settings, rf) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8")
    settings.SNAPSHOP_TRUST_X_FORWARDED_FOR = False
    assert client_ip(request) == "10.0.0.1"
    settings.SNAPSHOP_TRUST_X_FORWARDED_FOR = True
    assert client_ip(request) == "5.6.7.8"


def test_filtering_a_saved_search_counts_as_a_search_but_sorting_does_not() -> None:
    """A filter searches the photo again within it: each new price was a full engine search, never limited."""
    client = Client()
    for sort in ("price_asc", "price_desc", "price_asc"):
        assert client.get("/s/999/", {"sort": sort}, REMOTE_ADDR="203.0.113.9").status_code == 404
    answers = [client.get("/s/999/", {"min": n}, REMOTE_ADDR="203.0.113.9", headers=HTMX) for n in (1, 2, 3)]
    assert [r.status_code for r in answers] == [410, 410, 429]  # 410: no such search, told after the limit
    assert 'data-error-code="rate_limited"' in answers[2].content.decode()


@pytest.mark.parametrize(
    ("into_the_window", "wait"),
    [(59.5, "Please wait 1 second and try again."), (30.0, "Please wait 30 seconds and try again.")],
)
def test_the_wait_is_told_in_the_right_number(monkeypatch, into_the_window: float, wait: str) -> None:
    """Half a second before the window ends the shopper was told to "wait 1 seconds"."""
    import types

    start = 1_800_000_000.0 - (1_800_000_000.0 % 60)
    monkeypatch.setattr("search.ratelimit.time", types.SimpleNamespace(time=lambda: start + into_the_window))
    client = Client()
    for _ in range(2):
        post_search(client, headers=HTMX)
    refused = post_search(client, headers=HTMX)
    assert refused.status_code == 429
    assert wait in refused.content.decode()


def test_the_wait_reads_in_chinese_too(rf) -> None:
    """Chinese has one plural form: the singular English message must not leave it untranslated."""
    from django.utils import translation

    from search.ratelimit import RateLimitMiddleware

    request = rf.post("/search/", headers=HTMX)
    with translation.override("zh-hans"):
        body = RateLimitMiddleware(HttpResponse).web_refusal(request, 1).content.decode()
    assert "请等待 1 秒后再试" in body
