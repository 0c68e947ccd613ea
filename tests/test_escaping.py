"""Hostile strings from a catalog CSV or from Juhe never reach HTML unescaped, and only http(s) links are made."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from catalog.models import Product, ProductImage
from search.backends.base import BackendAnswer
from search.hits import ProductHit, safe_link
from tests.images import jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

NAME = '"><script>alert("name")</script><img src=x onerror=alert(1)>'
CATEGORY = "' onmouseover='alert(2)' x='"
DESCRIPTION = '</p><script>alert(3)</script><a href="javascript:alert(4)">click</a>'
HOSTILE_URLS = [
    "javascript:alert(5)",
    " JaVaScRiPt:alert(6)",
    "\tjavascript:alert(7)",
    "java\nscript:alert(8)",
    "data:text/html,<script>alert(9)</script>",
    "vbscript:msgbox(10)",
    "//evil.example/phish",
    "/\\evil.example/phish",  # browsers read "/\" as "//": another site
    "/\t/evil.example/phish",  # browsers drop tabs inside URLs: "//evil.example"
    '"><script>alert(11)</script>',
]
SCRIPT_SRC = re.compile(r"^/static/")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "poster", "data", "hx-get", "hx-post"}


class Page(HTMLParser):
    """Every element and attribute the browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def browser_url(value: str) -> str:
    """What a browser makes of an attribute URL: outer spaces trimmed, tabs/newlines dropped, \\ as /."""
    return re.sub(r"[\t\n\r]", "", value.strip()).replace("\\", "/").lower()


def assert_safe(html: str, *, pictures: bool = False) -> None:
    """No event handlers, scripts or script URLs; no off-site links smuggled past safe_link.
    With pictures=True, also no picture from anything but http(s) or our own site."""
    page = parsed(html)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            if name in URL_ATTRIBUTES and (tag != "img" or pictures):
                url = browser_url(value)
                assert not url.startswith(("javascript:", "vbscript:", "data:text")), (tag, name, value)
                if tag == "a":
                    assert not url.startswith("//"), f"off-site link from data: {value!r}"
        if tag == "script":
            assert SCRIPT_SRC.match(attrs.get("src", "")), attrs  # only our own static scripts
        assert tag != "iframe" and tag != "object"
    assert "<script>alert" not in html


def hostile_product(sku: str, url: str) -> Product:
    product = Product.objects.create(
        sku_id=sku,
        name=NAME,
        cid1=CATEGORY,
        cid2="<b>bold</b>",
        cid3="&amp;",
        detail_url=url,
        detail_app_url=url,
        description=DESCRIPTION,
        ware_label="<i>自营</i>",
    )
    ProductImage.objects.create(product=product, source_url=url)
    return product


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize(
    "agent", ["Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"]
)
def test_product_page(url: str, agent: str) -> None:
    hostile_product("sku-1", url)
    response = Client().get("/p/sku-1/", HTTP_USER_AGENT=agent)
    assert response.status_code == 200
    html = response.content.decode()
    assert_safe(html)
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in html  # shown, as text
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "&amp;amp;" in html
    assert 'class="button button-primary buy"' not in html  # no buy link at all


def juhe_item(url: str) -> dict[str, object]:
    return {
        "skuId": '1"><script>alert(12)</script>',
        "skuName": NAME,
        "skuPrice": "<b>9.90</b>",
        "wareLabel": "<i>",
        "similarity": '0.9"><script>',
        "imageUrl": url,
        "detailUrl": url,
        "detailAppUrl": url,
        "cid1Name": CATEGORY,
        "cid2Name": "</li></ol><script>alert(13)</script>",
        "cid3Name": "",
        "allImageUrls": [url, "javascript:alert(14)"],
    }


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_result_page_with_juhe_shaped_hits(url: str, monkeypatch) -> None:
    def fake_dispatch(photo, backend, limit, region, flt):
        hits = [ProductHit.from_juhe(juhe_item(url)), ProductHit.from_juhe(juhe_item(url), source="local")]
        return BackendAnswer(hits=hits, answered_by="juhe", notice="<script>alert(15)</script>")

    monkeypatch.setattr("search.services.dispatch", fake_dispatch)
    client = Client()
    from django.core.files.uploadedfile import SimpleUploadedFile

    for headers in ({}, {"HX-Request": "true"}):
        photo = SimpleUploadedFile("p.jpg", jpeg(160, 120), content_type="image/jpeg")
        # Without htmx the POST is redirected to the saved search's page: that page is the one to check.
        response = client.post("/search/", {"photo": photo}, headers=headers, follow=True)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'class="card"' in html
        assert_safe(html)
        assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in html
        assert "buy" not in re.findall(r'class="([^"]*)"', html)  # no buy button
    # The saved search, re-opened from history, is just as safe.
    from search.models import Search

    saved = Search.objects.first()
    assert saved is not None
    html = client.get(f"/s/{saved.pk}/").content.decode()
    assert_safe(html)
    recent = client.get("/").content.decode()
    assert_safe(recent)


@pytest.mark.parametrize("url", HOSTILE_URLS[:6])
def test_juhe_picture_urls_are_http_only(url: str, monkeypatch) -> None:
    """A javascript:/data: imageUrl from upstream is not rendered as <img src> either (defence in depth:
    browsers do not run it, and the CSP blocks it, but it should never reach the page)."""
    monkeypatch.setattr(
        "search.services.dispatch",
        lambda *args: BackendAnswer(hits=[ProductHit.from_juhe(juhe_item(url))], answered_by="juhe"),
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("p.jpg", jpeg(160, 120), content_type="image/jpeg")
    html = Client().post("/search/", {"photo": photo}, follow=True).content.decode()  # to the saved search's page
    assert 'class="card"' in html
    assert_safe(html, pictures=True)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_safe_link_refuses_hostile_urls(url: str) -> None:
    assert safe_link(url) == ""


@pytest.mark.parametrize(
    "url", ["https://shop.example.com/item/1.html", "http://item.jd.com/1.html", "/p/1/", "HTTPS://EXAMPLE.COM/x"]
)
def test_safe_link_keeps_real_links(url: str) -> None:
    assert safe_link(url) == url
