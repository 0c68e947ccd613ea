"""What a keyboard, a screen reader or a finger meets on the result page, in headless Chromium at phone width
(QA20's accessibility audit: findings 1-5, 7 and 8).

Skipped with the reason printed when /usr/bin/chromium is absent (like tests/test_browser.py).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import CatalogItem
from tests.test_browser import CHROMIUM, SKIP_REASON
from tests.test_browser_refine import settled
from tests.test_browser_results import TIMEOUT, browser, page, search_with, two_products, wait_for_cropper

__all__ = ["browser", "page"]  # the fixtures, shared with the result page's other browser tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def test_a_refine_that_keeps_focus_on_its_control_says_the_new_count(
    live_server, small_catalog: list[CatalogItem], page, settings
):
    """Focus stays on the checkbox, and the status inside the results is a new node each time (seldom read): the
    page's own status line, outside the results, says the new heading."""
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    search_with(page, live_server.url, small_catalog[4].picture)
    assert page.text_content("#results-status") == ""
    page.locator(".facets summary").click()
    page.focus("input[name=self]")
    page.keyboard.press("Space")
    page.wait_for_url(re.compile(r"self=1"), timeout=TIMEOUT)
    settled(page)
    page.wait_for_function("document.getElementById('results-status').textContent !== ''", timeout=TIMEOUT)

    assert page.evaluate("document.activeElement.name") == "self"
    heading = page.text_content("#results-title").strip()
    assert heading and page.text_content("#results-status") == heading


def test_a_category_brings_the_focused_heading_into_view(live_server, small_catalog: list[CatalogItem], page, settings):
    """Focus went to the results' heading while the page stayed where the category was chosen: the heading was
    140-180 px above the window, and no focus was to be seen."""
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    search_with(page, live_server.url, small_catalog[4].picture)
    page.locator(".facets summary").click()
    page.locator("a.facet").first.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 200)")  # the heading well above the window, as on a phone
    page.locator("a.facet").first.press("Enter")
    page.wait_for_url(re.compile(r"cid1="), timeout=TIMEOUT)
    settled(page)

    focused = page.evaluate(
        """() => { const r = document.activeElement.getBoundingClientRect();
                   return {id: document.activeElement.id, top: r.top, bottom: r.bottom, height: innerHeight,
                           outline: getComputedStyle(document.activeElement).outlineStyle}; }"""
    )
    assert focused["id"] == "results-title"
    assert focused["top"] >= 0 and focused["bottom"] <= focused["height"], focused
    assert focused["outline"] == "solid", focused  # reached by the keyboard: its ring shows


def test_the_box_on_the_photo_fits_a_finger_and_names_the_photo_once(
    live_server, small_catalog: list[CatalogItem], page, tmp_path
):
    search_with(page, live_server.url, two_products(small_catalog[2].picture, small_catalog[7].picture, tmp_path))
    wait_for_cropper(page)
    handles = page.evaluate(
        """() => Array.from(document.querySelectorAll('.query-photo .cropper-point'), point => {
                   const r = point.getBoundingClientRect(); return [r.width, r.height]; })"""
    )
    assert len(handles) == 8 and all(round(w) >= 24 and round(h) >= 24 for w, h in handles), handles  # touch
    alts = page.evaluate("Array.from(document.querySelectorAll('.query-photo img'), img => img.alt)")
    assert len(alts) == 3 and alts.count("") == 2 and alts[0], alts  # Cropper's two copies say nothing
    settled(page)  # no request of this page outlives the test


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_header_at_320_px_keeps_the_brand_and_the_switch_whole(live_server, browser, language):
    context = browser.new_context(viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_extra_http_headers({"Accept-Language": language})
        page.goto(live_server.url + "/")
        layout = page.evaluate(
            """() => { const box = s => document.querySelector(s).getBoundingClientRect();
                       const text = document.createRange();
                       text.selectNodeContents(document.querySelector('.brand > span'));
                       const brand = text.getBoundingClientRect(), select = box('#language');
                       const button = box('.lang-switch button');
                       return {overlap: brand.right > select.left && brand.bottom > select.top,
                               buttonHeight: button.height, selectHeight: select.height,
                               overflow: document.documentElement.scrollWidth > innerWidth}; }"""
        )
    finally:
        context.close()
    assert not layout["overlap"] and not layout["overflow"], layout
    assert layout["buttonHeight"] <= layout["selectHeight"] + 2, layout  # "切换" on one line


def test_the_filters_box_shows_that_it_opens(live_server, small_catalog: list[CatalogItem], page, settings):
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    search_with(page, live_server.url, small_catalog[4].picture)
    chevron = "getComputedStyle(document.querySelector('.facets summary'), '::after').transform"
    closed = page.evaluate(chevron)
    page.locator(".facets summary").click()
    assert closed not in ("", "none") and page.evaluate(chevron) != closed
    settled(page)
