"""Screenshots of the shopper pages at phone (360 px) and desktop (1280 px) width, for the README.

Usage (against a running server, e.g. `make run` in another terminal):

    .venv/bin/python scripts/screenshots.py --base-url http://127.0.0.1:8000 --photo demo/images/some.jpg

Writes docs/screenshot-{home,results,product}-{360,1280}.png (and -zh variants of the results), and the
result-page states of issue 5: docs/screenshot-{chips,filters,history}-{360,1280}.png (two products in one
photo with their chips, the filters open and sorted by price, the recent-searches page).
The photo is cropped and turned a little first, like a shopper's own picture of the product.
Needs Debian Chromium at /usr/bin/chromium, the playwright Python package and a Chinese font (Debian's
fonts-wqy-microhei, for the zh-Hans shots and the brand; without one they show empty boxes).
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"
)
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"


def shopper_photo(path: Path) -> Path:
    """A crop of the picture, turned 8 degrees, as JPEG in a temporary file."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    image = image.crop((width // 10, height // 12, width - width // 12, height - height // 10))
    image = image.rotate(8, expand=True, fillcolor=(236, 232, 226))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    target = Path(tempfile.mkdtemp()) / "shopper-photo.jpg"
    target.write_bytes(out.getvalue())
    return target


def two_products(first: Path, second: Path) -> Path:
    """Two product pictures side by side on a table-coloured background, as one photo."""
    table = Image.new("RGB", (1000, 500), (214, 206, 196))
    for number, path in enumerate((first, second)):
        picture = Image.open(path).convert("RGB")
        picture.thumbnail((420, 420))
        table.paste(picture, (40 + number * 500 + (420 - picture.width) // 2, 40 + (420 - picture.height) // 2))
    target = Path(tempfile.mkdtemp()) / "two-products.jpg"
    table.save(target, "JPEG", quality=88)
    return target


def result_states(page: Page, base: str, pair: Path, out: Path, width: int) -> None:
    """Chips for two products, then the second one's chip, filters and a price sort, then the history page."""
    search(page, base, pair)
    page.wait_for_selector(".query[data-box-ready]", timeout=30_000)
    shoot(page, out / f"screenshot-chips-{width}.png")
    chips = page.locator("button.chip")
    if chips.count() > 1:
        chips.nth(1).click()
        page.wait_for_selector("button.chip[aria-pressed=true]", timeout=30_000)
    page.locator(".facets summary").click()
    page.select_option("[data-sort]", "price_asc")
    page.wait_for_url(lambda url: "sort=price_asc" in url, timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.locator("#refine").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / f"screenshot-filters-{width}.png"))
    print("wrote", out / f"screenshot-filters-{width}.png")
    page.goto(base + "/history/")
    shoot(page, out / f"screenshot-history-{width}.png")


def search(page: Page, base_url: str, photo: Path) -> None:
    page.goto(base_url + "/")
    # As a shopper with a mouse or a finger: the results' heading then takes focus without the keyboard's ring.
    page.mouse.click(2, 300)
    page.set_input_files("#id_photo", str(photo))
    page.wait_for_selector("#results .card, #results .error-box", timeout=60_000)
    page.wait_for_load_state("networkidle")


def shoot(page: Page, path: Path) -> None:
    """The first screen of the page, as a shopper sees it on arrival."""
    page.evaluate("window.scrollTo(0, 0)")
    page.evaluate("document.fonts && document.fonts.ready")
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=False)
    print("wrote", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--photo", type=Path, required=True, help="a product picture to search with")
    parser.add_argument("--second", type=Path, help="another product picture, for the two-products photo")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    base = options.base_url.rstrip("/")
    photo = shopper_photo(options.photo)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width, height, agent, mobile in ((360, 800, PHONE_UA, True), (1280, 900, DESKTOP_UA, False)):
            for language in ("en", "zh-CN"):
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    user_agent=agent,
                    is_mobile=mobile,
                    has_touch=mobile,
                    device_scale_factor=1,
                    locale=language,
                    extra_http_headers={"Accept-Language": language},
                )
                page = context.new_page()
                suffix = f"{width}" if language == "en" else f"{width}-zh"
                if language == "en":
                    page.goto(base + "/")
                    shoot(page, options.out / f"screenshot-home-{suffix}.png")
                search(page, base, photo)
                shoot(page, options.out / f"screenshot-results-{suffix}.png")
                if language == "en":
                    first = page.locator("#results .card a.buy").first
                    href = first.get_attribute("href") if first.count() else None
                    if href and href.startswith("/"):
                        page.goto(base + href)
                        shoot(page, options.out / f"screenshot-product-{suffix}.png")
                    if options.second:
                        result_states(page, base, two_products(options.photo, options.second), options.out, width)
                context.close()
        browser.close()


if __name__ == "__main__":
    main()
