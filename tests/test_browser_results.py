"""The result page in headless Debian Chromium at phone width: the box, chips, filters, sort,
"show more", back button, "more like this" and deleting history.

Skipped with the reason printed when /usr/bin/chromium is absent (like tests/test_browser.py).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from search import views_results
from search.models import Search
from tests.conftest import CatalogItem
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SKIP_REASON
from tests.ui_fixtures import ANDROID

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]
TIMEOUT = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium for the module; each test gets its own context (cookies, session).
    Playwright's sync API keeps an event loop in this thread: let the tests' ORM calls through."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    monkeypatch.undo()


@pytest.fixture
def page(browser, settings):
    settings.SNAPSHOP_RESULTS_PER_PAGE = 4  # the 12-product catalog then has three pages
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        user_agent=ANDROID,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
    )
    context.route(re.compile(r"https://(m\.)?shop\.example\.com/.*"), lambda route: route.fulfill(body="shop"))
    page = context.new_page()
    page.troubles = []  # what the browser reported, for a failure's message (wait_for_cropper)
    page.on("pageerror", lambda error: page.troubles.append(f"script error: {error}"))
    page.on("console", lambda message: message.type == "error" and page.troubles.append(f"console: {message.text}"))
    page.on("requestfailed", lambda request: page.troubles.append(f"failed: {request.url} {request.failure}"))
    yield page
    context.close()


def two_products(a: Path, b: Path, tmp_path: Path) -> Path:
    """Two product pictures side by side on a grey table, as a shopper photographs them."""
    table = Image.new("RGB", (900, 450), (200, 196, 190))
    for number, path in enumerate((a, b)):
        picture = Image.open(path).convert("RGB").resize((360, 360))
        table.paste(picture, (45 + number * 450, 45))
    out = tmp_path / "two.jpg"
    buffer = io.BytesIO()
    table.save(buffer, "JPEG", quality=90)
    out.write_bytes(buffer.getvalue())
    return out


def search_with(page, url: str, photo: Path) -> int:
    page.goto(url + "/")
    page.set_input_files("#id_photo", str(photo))
    page.wait_for_selector("#grid .card", timeout=TIMEOUT)
    wait_for_cropper(page)
    return current_search(page)


def wait_for_cropper(page) -> None:
    """Wait for the box on the photo; if it does not come, fail saying what the page holds."""
    try:
        page.wait_for_selector(".query[data-box-ready]", timeout=TIMEOUT)
    except Exception as exc:
        raise AssertionError(f"no box on the photo: {page_state(page)}; browser: {page.troubles}") from exc


def wait_for_search_after(page, previous: int) -> int:
    """Wait for the page to show a search other than `previous`; else fail saying what the page holds."""
    try:
        page.wait_for_url(lambda url: f"/s/{previous}/" not in url, timeout=TIMEOUT)
    except Exception as exc:
        raise AssertionError(f"no search after #{previous}: {page_state(page)}; browser: {page.troubles}") from exc
    wait_for_cropper(page)
    return current_search(page)


def page_state(page) -> dict:
    return page.evaluate(
        """() => {
              const figure = document.querySelector(".query");
              const img = figure && figure.querySelector("img[data-cropper]");
              const region = document.querySelector("[data-region-input]");
              return {
                url: location.href,
                figure: figure ? {classes: figure.className, ready: figure.dataset.boxReady || null} : null,
                img: img ? {src: img.src, complete: img.complete, width: img.naturalWidth,
                            cropper: Boolean(img.cropper), ready: Boolean(img.cropper && img.cropper.ready),
                            pending: img.dataset.cropperPending || null} : null,
                region: region ? region.value : null,
                focus: document.activeElement && (document.activeElement.className || document.activeElement.tagName),
                cropperLoaded: Boolean(window.Cropper),
                results: (document.querySelector("#results") || document.body).innerText.slice(0, 400),
              };
            }"""
    )


def history_of_two_searches(page, url: str, catalog: list[CatalogItem]) -> tuple[Search, Search]:
    """Two searches made in the browser, then its history page open: (newer, older)."""
    search_with(page, url, catalog[4].picture)
    search_with(page, url, catalog[7].picture)
    newer, older = Search.objects.order_by("-pk")
    page.goto(url + "/history/")
    return newer, older


def current_search(page) -> int:
    match = re.search(r"/s/(\d+)/", page.url)
    assert match, page.url
    return int(match.group(1))


def card_names(page) -> list[str]:
    return page.locator("#grid .card-name").all_inner_texts()


def test_adjusting_the_box_searches_that_region(live_server, small_catalog: list[CatalogItem], page, tmp_path):
    photo = two_products(small_catalog[2].picture, small_catalog[7].picture, tmp_path)
    first = search_with(page, live_server.url, photo)
    before = card_names(page)
    box = page.locator(".cropper-crop-box").bounding_box()
    holder = page.locator(".query-photo").bounding_box()
    assert box and holder
    # Drag the box (from its middle) to the right half of the photo, where the other product is.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + holder["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    second = Search.objects.get(pk=wait_for_search_after(page, first))
    assert second.region is not None
    assert second.region["x0"] > 0.3  # the region searched is the one drawn
    assert card_names(page) != before
    assert card_names(page)[0] == small_catalog[7].product.name


def test_a_chip_searches_its_region(live_server, small_catalog: list[CatalogItem], page, tmp_path):
    photo = two_products(small_catalog[2].picture, small_catalog[7].picture, tmp_path)
    first = search_with(page, live_server.url, photo)
    chips = page.locator("button.chip")
    assert chips.count() >= 2
    chips.nth(1).click()
    page.wait_for_url(lambda url: f"/s/{first}/" not in url, timeout=TIMEOUT)
    page.wait_for_selector("button.chip[aria-pressed=true]", timeout=TIMEOUT)
    chosen = Search.objects.get(pk=current_search(page))
    assert chosen.region and chosen.photo and chosen.photo.name != Search.objects.get(pk=first).photo.name


def test_a_filter_and_a_sort_change_the_grid_and_back_restores(
    live_server, small_catalog: list[CatalogItem], page, settings
):
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0  # every hit credible: the price sort is one plain order
    search_with(page, live_server.url, small_catalog[4].picture)
    everything = page.locator(".shown").inner_text()
    page.locator(".facets summary").click()
    facet = page.locator("a.facet").first
    category = facet.get_attribute("data-facet")
    facet.click()
    page.wait_for_url(re.compile(r"cid1="), timeout=TIMEOUT)
    page.wait_for_selector("#grid .card")
    assert all(category in text for text in page.locator("#grid .crumbs").all_inner_texts())

    page.select_option("[data-sort]", "price_asc")
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    page.wait_for_selector("#grid .card")
    prices = [float(v) for v in page.locator("#grid .card-price data").evaluate_all("els => els.map(e => e.value)")]
    assert prices == sorted(prices) and prices

    page.go_back()
    page.wait_for_url(lambda url: "sort=" not in url, timeout=TIMEOUT)
    page.go_back()
    page.wait_for_url(lambda url: "cid1=" not in url, timeout=TIMEOUT)
    page.wait_for_selector("#grid .card")
    assert page.locator(".shown").inner_text() == everything


def test_refining_a_search_deleted_in_another_tab_says_so(live_server, small_catalog: list[CatalogItem], page):
    """A bare 404 is not swapped: the page said "The search could not be completed. Please try again.", and
    trying again could never work."""
    search_with(page, live_server.url, small_catalog[4].picture)
    Search.objects.all().delete()  # as the history page in another tab does
    page.select_option("[data-sort]", "price_asc")
    page.wait_for_selector("[data-error-code='search_gone']", timeout=TIMEOUT)
    assert "No longer in your recent searches" in page.locator("#results").inner_text()


def test_show_more_appends_the_next_page(live_server, small_catalog: list[CatalogItem], page):
    search_with(page, live_server.url, small_catalog[4].picture)
    first_page = card_names(page)
    assert len(first_page) == 4
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    scrolled = page.evaluate("window.scrollY")
    page.locator("[data-more]").click()
    page.locator("#grid .card").nth(7).wait_for(timeout=TIMEOUT)
    assert card_names(page)[:4] == first_page  # appended, not replaced
    assert "page=2" in page.url
    assert abs(page.evaluate("window.scrollY") - scrolled) < 200  # the shopper stays where they were


def test_more_like_this_from_a_text_search_searches_with_the_product_picture(
    live_server, small_catalog: list[CatalogItem], page
):
    product = small_catalog[4].product
    page.goto(live_server.url + "/")
    page.fill("#text-q", product.name)
    page.locator("#text-q").press("Enter")
    card = page.locator("#grid .card", has_text=product.name).first
    card.wait_for(timeout=TIMEOUT)
    card.locator("[data-like]").click()
    page.wait_for_url(lambda url: "/s/" in url, timeout=TIMEOUT)
    page.wait_for_selector("#query img[data-cropper]")
    page.wait_for_selector("#grid .card")
    assert page.locator("#query img[data-cropper]").get_attribute("alt") == product.name
    assert product.name not in card_names(page) and len(card_names(page)) > 0  # the others like it
    assert page.input_value("#text-q") == ""  # the words belonged to the text search, no longer shown
    assert Search.objects.get().like_sku == product.sku_id


def test_deleting_a_search_deletes_its_photo(live_server, small_catalog: list[CatalogItem], page, settings):
    search_with(page, live_server.url, small_catalog[4].picture)
    saved = Search.objects.get()
    assert saved.photo.name is not None
    photo = Path(settings.MEDIA_ROOT) / saved.photo.name
    assert photo.exists()
    page.goto(live_server.url + "/history/")
    page.locator("[data-delete]").first.click()
    page.wait_for_selector(f"#history-{saved.pk}", state="detached", timeout=TIMEOUT)
    assert not Search.objects.exists() and not photo.exists()


def test_deleting_from_history_keeps_the_keyboard_in_the_list(live_server, small_catalog: list[CatalogItem], page):
    """Focus goes to the next entry, then (the list empty) to the heading: never back to <body>."""
    newer, older = history_of_two_searches(page, live_server.url, small_catalog)
    page.locator(f"#history-{newer.pk} [data-delete]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#history-{newer.pk}", state="detached", timeout=TIMEOUT)
    page.wait_for_function(f"document.activeElement && document.activeElement.id === 'history-top-{older.pk}'")
    page.locator(f"#history-{older.pk} [data-delete]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#history-{older.pk}", state="detached", timeout=TIMEOUT)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'history-title'")


def test_the_last_of_two_quick_sort_changes_wins(
    live_server, small_catalog: list[CatalogItem], page, settings, monkeypatch
):
    """Two arrow keys on the closed sort select are two refines; the second, sent while the first is on its way,
    was dropped with the form the first answer replaced, leaving "low to high" for a shopper who chose "high"."""
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0  # one price order
    search_with(page, live_server.url, small_catalog[4].picture)
    refine = views_results.refined_results

    def slow_refine(*args, **kwargs):  # a busy server: the second key comes while the first answer is on its way
        time.sleep(0.6)
        return refine(*args, **kwargs)

    monkeypatch.setattr(views_results, "refined_results", slow_refine)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(100)
    page.keyboard.press("ArrowDown")
    page.wait_for_url(re.compile(r"sort=price_desc"), timeout=TIMEOUT)
    page.wait_for_selector("#grid .card")
    prices = [float(v) for v in page.locator("#grid .card-price data").evaluate_all("els => els.map(e => e.value)")]
    assert prices == sorted(prices, reverse=True) and prices
    assert page.input_value("[data-sort]") == "price_desc"


def test_a_region_searched_from_the_keyboard_keeps_the_keyboard_on_the_box(
    live_server, small_catalog: list[CatalogItem], page, tmp_path
):
    """After the box's own search the next arrow key must move the box again, not scroll the page."""
    photo = two_products(small_catalog[2].picture, small_catalog[7].picture, tmp_path)
    first = search_with(page, live_server.url, photo)
    page.focus(".query-photo")
    page.keyboard.press("ArrowRight")
    second = wait_for_search_after(page, first)
    page.wait_for_function("document.activeElement && document.activeElement.matches('.query-photo')")
    page.keyboard.press("ArrowLeft")
    wait_for_search_after(page, second)
    assert Search.objects.count() == 3
