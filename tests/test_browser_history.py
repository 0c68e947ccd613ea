"""/history/ in headless Debian Chromium: deleting the searches one by one ends on the list's empty state.

Skipped with the reason printed when /usr/bin/chromium is absent (like tests/test_browser.py).
"""

from __future__ import annotations

import pytest

from search.models import Search
from tests import test_browser_results
from tests.conftest import CatalogItem
from tests.test_browser import CHROMIUM, SKIP_REASON
from tests.test_browser_results import TIMEOUT, history_of_two_searches

# The result-page tests' Chromium and phone-sized page, as fixtures of this module too.
browser = test_browser_results.browser
page = test_browser_results.page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def test_deleting_the_last_search_shows_the_empty_state(live_server, small_catalog: list[CatalogItem], page):
    """It left "Delete all" over an empty list, with no word that nothing was left."""
    newer, older = history_of_two_searches(page, live_server.url, small_catalog)
    page.locator(f"#history-{newer.pk} [data-delete]").click()
    page.wait_for_selector(f"#history-{newer.pk}", state="detached", timeout=TIMEOUT)
    assert page.locator("[data-delete-all]").count() == 1  # one left: the list stays as it was
    page.locator(f"#history-{older.pk} [data-delete]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#history-list .empty", timeout=TIMEOUT)
    assert "No recent searches on this device." in page.locator("#history-list .empty").inner_text()
    assert page.locator("[data-delete-all]").count() == 0 and page.locator(".history-item").count() == 0
    assert page.locator("#history-list").count() == 1  # swapped for the list, not nested in it
    page.wait_for_function("document.activeElement && document.activeElement.id === 'history-title'")
    assert not Search.objects.exists() and page.troubles == []
