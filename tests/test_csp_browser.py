"""The Content-Security-Policy is sent, and the pages really satisfy it in Chromium (no violation at all)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import CatalogItem
from tests.images import jpeg

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SKIP_REASON = f"browser test skipped: {CHROMIUM} not found (apt-get install -y chromium)"
if not CHROMIUM.exists():
    warnings.warn(SKIP_REASON, stacklevel=1)

# Collect violations inside the page; an init script is injected by the browser, not subject to the CSP.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " "
                    + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@pytest.mark.django_db
def test_every_page_sends_the_policy() -> None:
    response = Client().get("/")
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert set(directives["img-src"].split()) >= {"'self'", "data:", "https:"}


@pytest.mark.parametrize(("backend", "http_pictures"), [("local", False), ("juhe", True), ("both", True)])
def test_http_pictures_are_allowed_only_with_a_juhe_backend(backend: str, http_pictures: bool) -> None:
    """Juhe's cards link the upstream's pictures, some of them http: (JD's CDN, another SnapShop)."""
    code = "from django.conf import settings; print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'])"
    environment = {**os.environ, "SNAPSHOP_BACKEND": backend, "DJANGO_SETTINGS_MODULE": "snapshop_site.settings"}
    shown = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "'https:'" in shown and ("'http:'" in shown) is http_pictures


@pytest.mark.django_db
def test_templates_have_no_inline_scripts_or_styles() -> None:
    """What the browser test cannot reach: every template, read as text."""
    root = Path(__file__).resolve().parent.parent / "templates"
    for template in root.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline <script> in {template}"
        assert not re.search(r"<style\b", text), f"<style> block in {template}"
        assert not re.search(r"\sstyle=", text), f"style attribute in {template}"
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {template}"
        assert "javascript:" not in text, template


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON)
def test_pages_raise_no_csp_violation_in_chromium(
    live_server, small_catalog: list[CatalogItem], tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    console: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-US")
        context.add_init_script(RECORD_VIOLATIONS)
        context.route(re.compile(r"https?://(?!127\.0\.0\.1|localhost).*"), lambda route: route.abort())
        page = context.new_page()
        page.on("console", lambda message: console.append(message.text))
        violations: list[str] = []

        def visit(path: str | None = None) -> None:
            if path:
                page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            violations.extend(f"{page.url}: {v}" for v in page.evaluate("window.__csp || []"))

        visit("/")
        item = small_catalog[2]
        page.set_input_files("#id_photo", str(item.picture))  # preview (blob:) and htmx search
        page.wait_for_selector(".card", timeout=30_000)
        visit()
        result_path = page.evaluate("location.pathname")
        assert re.fullmatch(r"/s/\d+/", result_path)
        visit(result_path)  # the saved result page, loaded whole
        assert page.locator(".card").count() > 0
        visit(f"/p/{item.product.sku_id}/")
        bad = tmp_path / "not-a-photo.jpg"
        bad.write_bytes(b"<html>not a photo</html>")
        visit("/")
        page.set_input_files("#id_photo", str(bad))
        page.wait_for_selector(".error-box", timeout=30_000)
        visit()
        small = tmp_path / "small.jpg"
        small.write_bytes(jpeg(40, 40))
        page.set_input_files("#id_photo", str(small))
        page.wait_for_selector("[data-error-code='too_small']", timeout=30_000)
        visit()
        visit("/no-such-page/")
        context.close()
        browser.close()
    csp_console = [text for text in console if "Content Security Policy" in text or "Content-Security-Policy" in text]
    assert not violations, violations
    assert not csp_console, csp_console
