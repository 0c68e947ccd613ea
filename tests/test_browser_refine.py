"""Refining a result page in headless Chromium at phone width: typing both prices, where the page stays, and the
back button's copy of the page within the CSP (QA19 #1, #2 and #7).

Skipped with the reason printed when /usr/bin/chromium is absent (like tests/test_browser.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import CatalogItem
from tests.test_browser import CHROMIUM, SKIP_REASON
from tests.test_browser_results import (
    TIMEOUT,
    browser,
    page,
    search_with,
    two_products,
)
from tests.test_csp_browser import RECORD_VIOLATIONS

__all__ = ["browser", "page"]  # the fixtures, shared with the result page's other browser tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def settled(page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # htmx's settle and the focus set after it


def watch_refines(page) -> list[str]:
    """The URLs of the result-page searches from now on, filled as they go."""
    refines: list[str] = []
    page.on("request", lambda request: refines.extend([request.url] if "/s/" in request.url else []))
    return refines


def refines_after_lowest_price(page, url: str, photo: Path, price: str) -> list[str]:
    """A search with the photo, then `price` typed into the lowest price box (focus left in it): the URLs of the
    result-page searches from then on, filled as they go."""
    search_with(page, url, photo)
    refines = watch_refines(page)
    page.locator(".facets summary").click()
    page.click("input[name=min]")
    page.keyboard.type(price)
    return refines


def test_both_prices_typed_in_turn_are_applied(live_server, small_catalog: list[CatalogItem], page, settings):
    """Tabbing from the lowest price to the highest searched at once, and its answer replaced the form while the
    highest was being typed: it was lost, and the keyboard with it."""
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    refines = refines_after_lowest_price(page, live_server.url, small_catalog[4].picture, "1")
    page.keyboard.press("Tab")
    page.keyboard.type("1000", delay=80)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"min=1&max=1000"), timeout=TIMEOUT)
    settled(page)

    assert refines and all("max=1000" in url for url in refines), refines  # no search with the highest price half-typed
    assert page.input_value("input[name=min]") == "1" and page.input_value("input[name=max]") == "1000"
    assert page.evaluate("document.activeElement.name") == "max"


def test_a_price_then_a_category_applies_both_in_one_search(
    live_server, small_catalog: list[CatalogItem], page, settings
):
    """Leaving a price box for a category link searched twice, and the later answer (the price alone) won."""
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    refines = refines_after_lowest_price(page, live_server.url, small_catalog[4].picture, "1")
    facet = page.locator("a.facet").first
    category = facet.get_attribute("data-facet")
    facet.click()
    page.wait_for_url(re.compile(r"cid1="), timeout=TIMEOUT)
    settled(page)

    assert len(refines) == 1 and "min=1" in refines[0] and "cid1=" in refines[0], refines
    assert "min=1" in page.url and page.input_value("input[name=min]") == "1"
    assert all(category in text for text in page.locator("#grid .crumbs").all_inner_texts())


def test_a_price_then_a_checkbox_is_one_search(live_server, small_catalog: list[CatalogItem], page, settings):
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    refines = refines_after_lowest_price(page, live_server.url, small_catalog[4].picture, "1")
    page.locator("[data-self]").click()
    page.wait_for_url(re.compile(r"self=1"), timeout=TIMEOUT)
    settled(page)
    page.wait_for_timeout(500)  # past the grace a second search would have waited for

    assert len(refines) == 1 and "min=1" in refines[0], refines
    assert page.input_value("input[name=min]") == "1" and page.is_checked("[data-self]")


def test_words_search_when_the_keyboard_moves_on(live_server, small_catalog: list[CatalogItem], page):
    search_with(page, live_server.url, small_catalog[4].picture)
    page.click("#refine input[name=q]")
    page.keyboard.type(small_catalog[4].product.name.split()[0])
    page.keyboard.press("Tab")
    page.wait_for_url(re.compile(r"q=\w+"), timeout=TIMEOUT)
    settled(page)
    assert page.evaluate("document.activeElement.name") == "sort"  # where the Tab key took it


def test_a_sort_keeps_the_results_in_view(live_server, small_catalog: list[CatalogItem], page):
    """The browser's scroll anchoring held on to a node the swap removed and threw the page to its footer."""
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    where = "document.querySelector('[data-sort]').getBoundingClientRect().top"
    before = page.evaluate(where)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    after = page.evaluate(where)
    assert 0 <= after < page.viewport_size["height"], f"the sort control went from {before} to {after} px"
    assert abs(after - before) < 100, f"the sort control went from {before} to {after} px"


def test_back_and_forward_raise_no_csp_violation(live_server, small_catalog: list[CatalogItem], page, tmp_path):
    """htmx's copy of the page for the back button held the inline styles that the box (Cropper.js) and the chips
    set through the CSSOM; brought back, each was refused by the CSP with a console error."""
    page.context.add_init_script(RECORD_VIOLATIONS)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.extend([message.text] if "Content Security Policy" in message.text else []),
    )
    photo = two_products(small_catalog[2].picture, small_catalog[7].picture, tmp_path)
    search_with(page, live_server.url, photo)
    assert page.locator(".chip-thumb img").count() > 0  # the chips whose thumbnails are placed by script
    page.select_option("[data-sort]", "price_asc")
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    page.go_back()
    page.wait_for_url(lambda url: "sort=" not in url, timeout=TIMEOUT)
    settled(page)
    page.go_forward()
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    violations += page.evaluate("window.__csp || []")
    assert not violations, violations


def test_the_back_button_copies_no_style_attribute(live_server, small_catalog: list[CatalogItem], page):
    """htmx's settle copied each element's style attribute onto the element with its id in the page brought back
    (attributesToSettle). A page's scripts style elements through the CSSOM (the box, the chips; a region searched
    on a page brought back left style attributes on the photo form's inputs): copied as attributes, the CSP
    refused each, three console errors or more on a Forward."""
    page.context.add_init_script(RECORD_VIOLATIONS)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.extend([message.text] if "Content Security Policy" in message.text else []),
    )
    search_with(page, live_server.url, small_catalog[4].picture)
    page.select_option("[data-sort]", "price_asc")
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    page.evaluate("document.getElementById('id_photo').style.outlineWidth = '2px'")  # as a script may
    page.go_back()
    page.wait_for_url(lambda url: "sort=" not in url, timeout=TIMEOUT)
    settled(page)
    violations += page.evaluate("window.__csp || []")
    assert not violations, violations


def test_arrow_keys_through_the_sort_search_once_for_where_they_stop(
    live_server, small_catalog: list[CatalogItem], page
):
    """A closed select takes the next option on each arrow key: reaching "high to low" searched "low to high"
    first (QA20 a11y #6)."""
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    refines = watch_refines(page)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown", delay=200)
    page.wait_for_url(re.compile(r"sort=price_desc"), timeout=TIMEOUT)
    settled(page)
    assert len(refines) == 1 and "sort=price_desc" in refines[0], refines
    assert page.evaluate("document.activeElement.name") == "sort"

    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # at once, without waiting for the keys to rest
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    assert len(refines) == 2 and "sort=price_asc" in refines[1], refines


def test_a_checkbox_clicked_while_a_keyed_sort_waits_is_searched_with_it(
    live_server, small_catalog: list[CatalogItem], page
):
    """The checkbox's click was lost: the waiting sort searched as the focus left it, without the box (QA21 #2)."""
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    page.locator(".facets summary").click()
    refines = watch_refines(page)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(300)
    page.click("input[name=self]")
    page.wait_for_url(re.compile(r"sort=price_asc.*self=1"), timeout=TIMEOUT)
    settled(page)
    assert len(refines) == 1, refines
    assert page.is_checked("input[name=self]")
    assert page.evaluate("document.activeElement.name") == "self"


def test_words_then_a_keyed_sort_are_one_search_and_the_keyboard_stays_on_the_sort(
    live_server, small_catalog: list[CatalogItem], page
):
    """Two searches went, and the keyboard ended on <body>, sometimes with the second arrow key lost (QA21 #3)."""
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    refines = watch_refines(page)
    page.click("#refine input[name=q]")
    page.keyboard.type("e")
    page.keyboard.press("Tab")
    page.wait_for_timeout(150)
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(150)
    page.keyboard.press("ArrowDown")
    page.wait_for_url(re.compile(r"q=e&sort=price_desc"), timeout=TIMEOUT)
    settled(page)
    assert len(refines) == 1, refines
    assert page.evaluate("document.activeElement.name") == "sort"


def test_tab_from_a_keyed_sort_leaves_the_keyboard_where_tab_took_it(
    live_server, small_catalog: list[CatalogItem], page
):
    """The sort's search went as Tab left it, and its answer pulled the keyboard back to the heading (QA21 #4)."""
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    assert page.evaluate("document.activeElement.matches('#refine .facets summary')")


def test_typing_into_a_box_while_a_keyed_sort_waits_loses_no_letter(
    live_server, small_catalog: list[CatalogItem], page
):
    """The waiting sort searched in the middle of the typing: "organic" became "icorga" (QA21b #1, #2)."""
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    refines = watch_refines(page)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("organic", delay=200)  # 1.4 s: past the sort's wait for the keys to rest
    assert page.input_value("#refine input[name=q]") == "organic" and refines == []
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=organic&sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    assert len(refines) == 1, refines


def test_a_category_or_show_more_clicked_while_a_keyed_sort_waits_keeps_the_sort(
    live_server, small_catalog: list[CatalogItem], page, settings
):
    """The category's search went without the chosen sort; "Show more" added page 2 in the old order (QA21b #3, #4)."""
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    settings.SNAPSHOP_RESULTS_PER_PAGE = 4
    search_with(page, live_server.url, small_catalog[4].picture)
    settled(page)
    refines = watch_refines(page)
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.click("[data-more]")
    page.wait_for_url(re.compile(r"sort=price_asc"), timeout=TIMEOUT)
    settled(page)
    assert len(refines) == 1 and "page=" not in refines[0], refines
    assert page.locator("#grid .card").count() == 4  # the first page in the new order, not two pages in two

    page.locator(".facets summary").click()
    page.focus("[data-sort]")
    page.keyboard.press("ArrowDown")
    page.locator("a.facet").first.click()
    page.wait_for_url(re.compile(r"cid1="), timeout=TIMEOUT)
    settled(page)
    assert "sort=price_desc" in refines[-1] and "cid1=" in refines[-1], refines
    assert page.input_value("[data-sort]") == "price_desc"
