"""A POST with a stale CSRF token (the shopper logged in elsewhere, or cleared cookies) says the page expired."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.django_db

EXPIRED = (
    "Your browser sent a form that is out of date (after signing in or out in another tab, or clearing "
    "cookies). Reload the page and try again."
)


@pytest.fixture
def stale() -> Client:
    """A browser whose page holds a token the server no longer accepts: the cookie is another one."""
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    return client


def test_an_htmx_search_gets_the_message_in_the_results_area_with_a_link_to_reload_its_page(stale: Client) -> None:
    headers = {**HTMX, "HX-Current-URL": "http://testserver/s/7/?sort=price", "X-CSRFToken": "x" * 32}
    response = stale.post("/search/", headers=headers)
    html = response.content.decode()
    assert response.status_code == 403
    assert "<html" not in html and 'class="error-box"' in html and 'data-error-code="page_expired"' in html
    assert "This page has expired</h2>" in html and EXPIRED in html
    assert '<a href="/s/7/?sort=price">Reload the page</a>' in html


def test_a_plain_form_gets_a_page_of_the_site_with_a_link_back(stale: Client) -> None:
    """The language switch is a plain form: Django's bare "CSRF verification failed" page showed."""
    response = stale.post(
        "/i18n/setlang/", {"language": "zh-hans", "next": "/"}, headers={"Referer": "http://testserver/s/7/"}
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert 'class="site-header"' in html and "<h1>This page has expired</h1>" in html and EXPIRED in html
    assert 'href="/s/7/">Reload the page</a>' in html
    assert "CSRF verification failed" not in html


def test_a_plain_search_without_a_token_gets_the_page_too(stale: Client) -> None:
    response = stale.post("/search/")
    html = response.content.decode()
    assert response.status_code == 403 and 'class="site-header"' in html and EXPIRED in html
    assert 'href="/">Search with a photo</a>' in html  # no Referer: back to the start


def test_the_page_is_in_the_shoppers_language(stale: Client) -> None:
    response = stale.post("/search/", headers={**HTMX, "Accept-Language": "zh-CN"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "页面已过期</h2>" in html and "刷新页面" in html and "This page" not in html


@pytest.mark.parametrize(
    ("sent", "linked"),
    [
        ("https://evil.example/phish", "/"),  # another site: not linked to
        ("http://testserver//evil.example/", "/evil.example/"),  # never a protocol-relative link
    ],
)
def test_the_reload_link_stays_on_this_site(stale: Client, sent: str, linked: str) -> None:
    html = stale.post("/search/", headers={**HTMX, "HX-Current-URL": sent}).content.decode()
    (href,) = re.findall(r'<a href="([^"]*)">Reload the page</a>', html)
    assert href == linked


def test_the_reloaded_page_searches_again(stale: Client) -> None:
    """What the message promises: the page loaded again carries a token that is accepted."""
    html = stale.get("/").content.decode()
    token = json.loads(re.search(r"<body hx-headers='([^']+)'", html).group(1))["X-CSRFToken"]  # type: ignore[union-attr]
    response = stale.post("/search/", headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 422 and 'data-error-code="required"' in response.content.decode()


def test_htmx_is_told_to_swap_403_bodies(client: Client) -> None:
    """htmx uses the first rule whose code matches (a regular expression, unanchored) the status."""
    html = client.get("/").content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'", html).group(1))  # type: ignore[union-attr]
    rule = next(rule for rule in config["responseHandling"] if re.search(rule["code"], "403"))
    assert rule["swap"] is True and not rule.get("error")
