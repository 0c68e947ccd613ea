"""POST /search/ — a photo in, product cards (or a message in their place) out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from search.backends.base import BackendAnswer
from search.hits import ProductHit
from search.models import Search
from tests.conftest import CatalogItem
from tests.images import encode, jpeg, textured
from tests.ui_fixtures import ANDROID, DESKTOP, HTMX, IPHONE, english_afterwards, upload  # noqa: F401 (autouse fixture)

URL = "/search/"


def post(
    client,
    data: bytes,
    *,
    htmx: bool = True,
    user_agent: str = DESKTOP,
    name: str = "photo.jpg",
    headers: dict[str, str] | None = None,
    follow: bool = False,
):
    extra = {"user-agent": user_agent, **(HTMX if htmx else {}), **(headers or {})}
    return client.post(URL, {"photo": upload(data, name)}, headers=extra, follow=follow)


def picture_of(item: CatalogItem) -> bytes:
    return Path(item.picture).read_bytes()


def cards(html: str) -> list[str]:
    return re.findall(r'<li class="card">.*?</li>', html, re.S)


# --- answers -----------------------------------------------------------------------------------


def test_url_name():
    assert reverse("search") == URL


def test_htmx_post_returns_the_results_fragment(client, small_catalog):
    response = post(client, picture_of(small_catalog[1]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and len(cards(html)) >= 1
    # The results are a region named by their heading ("3 matching products"), and so is an error.
    assert html.count('<section class="results-layout" aria-labelledby="results-title">') == 1
    assert html.count('id="results-title"') == 1
    error = post(client, b"not a picture").content.decode()
    assert '<section class="results-layout" aria-labelledby="results-title">' in error and 'id="results-title"' in error


def test_best_match_is_the_first_card(client, small_catalog):
    item = small_catalog[4]
    first = cards(post(client, picture_of(item)).content.decode())[0]
    assert f">{item.product.name}</h3>" in first


def test_htmx_post_pushes_the_saved_search_url(client, small_catalog):
    response = post(client, picture_of(small_catalog[1]))
    assert response.headers["HX-Push-Url"] == reverse("search_detail", args=[Search.objects.get().pk])


def test_plain_post_redirects_to_the_saved_search(client, small_catalog):
    """Without JS the results are the search's permalink (POST/redirect/GET): a reload does not upload the photo
    again, and the address can be bookmarked."""
    response = post(client, picture_of(small_catalog[1]), htmx=False)
    saved = Search.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("search_detail", args=[saved.pk])
    page = client.get(response["Location"])  # with the session cookie the POST set: the search is this session's
    html = page.content.decode()
    assert page.status_code == 200
    assert html.startswith("<!doctype html>") and 'id="photo-form"' in html
    assert f">{small_catalog[1].product.name}</h3>" in cards(html)[0]
    client.get(response["Location"])  # a reload is a GET of the permalink: no second search
    assert Search.objects.count() == 1


def test_plain_post_of_a_refused_photo_answers_in_place(client, db):
    """A refused photo is not redirected: the page answering the POST has the message, its status and the form."""
    response = post(client, jpeg(40, 300), htmx=False)
    html = response.content.decode()
    assert response.status_code == 422 and error_box(response) == "too_small"
    assert html.startswith("<!doctype html>") and 'id="photo-form"' in html
    assert "The picture is too small (40×300 pixels); its shorter side must be at least 48 pixels." in html


def test_desktop_gets_the_pc_link(client, small_catalog):
    item = small_catalog[1]
    first = cards(post(client, picture_of(item), user_agent=DESKTOP).content.decode())[0]
    assert f'href="{item.product.detail_url}" target="_blank" rel="noopener"' in first


@pytest.mark.parametrize("phone", [IPHONE, ANDROID])
def test_phone_gets_the_mobile_link(client, small_catalog, phone):
    item = small_catalog[1]
    first = cards(post(client, picture_of(item), user_agent=phone).content.decode())[0]
    assert f'href="{item.product.detail_app_url}" target="_blank" rel="noopener"' in first


def test_card_shows_picture_with_alt_and_lazy_loading(client, small_catalog):
    item = small_catalog[1]
    first = cards(post(client, picture_of(item)).content.decode())[0]
    assert re.search(rf'<img src="/media/catalog/[^"]+" alt="{re.escape(item.product.name)}" loading="lazy"', first)


def test_card_shows_price_as_money(client, small_catalog):
    item = small_catalog[1]  # priced in the fixture
    first = cards(post(client, picture_of(item)).content.decode())[0]
    assert f"¥{item.product.price:,.2f}" in first


def test_card_without_price_says_price_on_request(client, small_catalog):
    item = small_catalog[0]  # every fourth product has no price
    assert item.product.price is None
    first = cards(post(client, picture_of(item)).content.decode())[0]
    assert "Price on request" in first


def test_card_shows_the_self_operated_label(client, small_catalog):
    item = small_catalog[3]  # 自营
    first = cards(post(client, picture_of(item)).content.decode())[0]
    assert "Self-operated" in first


def test_card_shows_similarity_as_percent(client, small_catalog):
    first = cards(post(client, picture_of(small_catalog[1])).content.decode())[0]
    assert re.search(r">\d{1,3}% match<", first)


def test_card_shows_the_category_breadcrumb(client, small_catalog):
    product = small_catalog[1].product
    first = cards(post(client, picture_of(small_catalog[1])).content.decode())[0]
    assert " › ".join([product.cid1, product.cid2, product.cid3]) in first


def test_query_photo_thumbnail_is_shown(client, small_catalog):
    html = post(client, picture_of(small_catalog[1])).content.decode()
    thumbnail = Search.objects.get().thumbnail.url
    assert f'<img src="{thumbnail}" alt="Your photo"' in html


def test_uncertain_matches_say_so(client, small_catalog, settings):
    settings.SNAPSHOP_SIMILARITY_FLOOR = 1.5
    html = post(client, picture_of(small_catalog[1])).content.decode()
    assert "We are not sure about these matches" in html
    assert "12 products, none a close match" in html and "matching products" not in html  # the heading too
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    assert "12 matching products" in post(client, picture_of(small_catalog[1])).content.decode()


def test_backend_notice_is_shown_above_the_grid(client, db, monkeypatch):
    hit = ProductHit(sku_id="1", sku_name="Tea", similarity=0.9, detail_url="https://shop.example.com/1")
    monkeypatch.setattr(
        "search.services.dispatch",
        lambda *args: BackendAnswer(hits=[hit], answered_by="local", notice="Juhe is unavailable; local results."),
    )
    html = post(client, jpeg()).content.decode()
    assert html.index("Juhe is unavailable; local results.") < html.index('<ol class="grid"')


def test_results_update_the_recent_list_out_of_band(client, small_catalog):
    html = post(client, picture_of(small_catalog[1])).content.decode()
    assert '<section id="recent" class="recent" aria-labelledby="recent-title" hx-swap-oob="true">' in html


def test_ui_text_follows_the_browser_language(client, small_catalog):
    html = post(client, picture_of(small_catalog[1]), headers={"accept-language": "zh-CN"}).content.decode()
    assert "件匹配商品" in html and "去购买" in html


# --- history -------------------------------------------------------------------------------------


def test_search_is_saved_with_hits_in_rank_order(client, small_catalog):
    html = post(client, picture_of(small_catalog[1])).content.decode()
    search = Search.objects.get()
    names = [hit.name for hit in search.hits.order_by("rank")]
    shown = re.findall(r'<h3 class="card-name" id="card-\d+-name">([^<]+)</h3>', html)
    assert names == shown and search.result_count == len(names)


def test_search_is_saved_with_the_session_and_device(client, small_catalog):
    post(client, picture_of(small_catalog[1]), user_agent=IPHONE)
    search = Search.objects.get()
    assert search.session_key == client.session.session_key and search.device == "mobile"


def test_first_search_starts_a_session_cookie(client, small_catalog):
    response = post(client, picture_of(small_catalog[1]))
    assert response.cookies["sessionid"].value == Search.objects.get().session_key


# --- errors: a message where the results go, never a 500 ------------------------------------------


def error_box(response) -> str:
    html = response.content.decode()
    match = re.search(r'<div class="error-box" role="alert" data-error-code="([a-z_]+)"', html)
    assert match, html[:500]
    return match.group(1)


def test_missing_file_is_422(client, db):
    response = client.post(URL, {}, headers=HTMX)
    assert response.status_code == 422 and error_box(response) == "required"
    assert "Choose a photo first." in response.content.decode()
    assert Search.objects.get().error_code == "required"  # kept in history like every refusal


def test_empty_file_is_422(client, db):
    response = post(client, b"")
    assert response.status_code == 422 and error_box(response) == "empty"
    refused = Search.objects.get()
    assert (refused.error_code, refused.photo.name or "") == ("empty", "")


def test_not_an_image_is_422(client, db):
    response = post(client, b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", name="doc.pdf")
    assert response.status_code == 422 and error_box(response) == "not_image"


def test_unsupported_format_is_422(client, db):
    response = post(client, encode(textured(100, 100), "ICO"), name="icon.ico")
    assert response.status_code == 422 and error_box(response) == "unsupported_format"


def test_too_small_is_422(client, db):
    response = post(client, jpeg(40, 300))
    assert response.status_code == 422 and error_box(response) == "too_small"


def test_too_large_is_refused_before_reading(client, db, settings, monkeypatch):
    settings.SNAPSHOP_MAX_UPLOAD_BYTES = 10_000
    monkeypatch.setattr("search.views.run_search", lambda data: pytest.fail("the file was searched"))
    response = post(client, jpeg(800, 600))
    assert response.status_code == 422 and error_box(response) == "too_large"
    assert "The file is larger than the 9.8\xa0KB limit." in response.content.decode()
    refused = Search.objects.get()
    assert refused.error_code == "too_large" and "9.8\xa0KB limit" in refused.error_message


def test_too_many_pixels_is_422(client, db, settings):
    settings.SNAPSHOP_MAX_IMAGE_PIXELS = 1_000_000
    response = post(client, encode(Image.new("RGB", (2000, 1000), "white"), "PNG"), name="big.png")
    assert response.status_code == 422 and error_box(response) == "too_large"


def test_corrupt_file_is_422(client, db):
    response = post(client, jpeg(400, 300)[:600])
    assert response.status_code == 422 and error_box(response) == "corrupt"


def test_no_results_is_a_200_answer(client, db):
    response = post(client, jpeg())
    assert response.status_code == 200 and error_box(response) == "no_results"


def test_engine_unavailable_is_503(client, db, settings, tmp_path, monkeypatch):
    import vision.engine

    monkeypatch.setattr(vision.engine, "_engine", None)
    settings.SNAPSHOP_MODEL_PATH = tmp_path / "missing.onnx"
    response = post(client, jpeg())
    assert response.status_code == 503 and error_box(response) == "engine_unavailable"


def test_error_without_htmx_is_the_whole_page(client, db):
    response = post(client, b"not a picture", htmx=False)
    html = response.content.decode()
    assert response.status_code == 422 and html.startswith("<!doctype html>") and 'id="photo-form"' in html
    assert error_box(response) == "not_image"


def test_error_message_in_chinese(client, db):
    response = post(client, b"not a picture", headers={"accept-language": "zh-CN"})
    assert "这个文件不是图片" in response.content.decode()


def test_a_chinese_page_gives_the_sizes_the_english_one_gives(client, db, settings):
    """The engine's refusal names the photo's size and the limit; the Chinese page said only "图片太小。"."""
    html = post(client, jpeg(30, 30), headers={"accept-language": "zh-CN"}).content.decode()
    assert "图片太小（30×30 像素）；短边至少需要 48 像素。" in html
    settings.SNAPSHOP_MAX_IMAGE_PIXELS = 1_000_000
    big = encode(Image.new("RGB", (2000, 1000), "white"), "PNG")
    html = post(client, big, name="big.png", headers={"accept-language": "zh-CN"}).content.decode()
    assert "图片太大（2000×1000 像素）；上限为 1 百万像素。" in html


def test_failed_search_is_still_saved(client, db):
    post(client, jpeg(40, 300))
    assert Search.objects.get().error_code == "too_small"


# --- photos from phones --------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "photo.png"), ("WEBP", "photo.webp"), ("HEIF", "photo.heic")])
def test_phone_formats_are_accepted(client, small_catalog, fmt, name):
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif")
    data = encode(Image.open(small_catalog[1].picture).convert("RGB"), fmt)
    response = post(client, data, name=name)
    assert response.status_code == 200 and cards(response.content.decode())


# --- method and CSRF -----------------------------------------------------------------------------


def test_get_goes_to_the_form(client, db):
    """Reloading or bookmarking the page a plain (no-JS) search posted to shows the form, not an empty 405."""
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"] == "/"


def test_other_methods_are_not_allowed(client):
    assert client.put(URL).status_code == 405


def test_post_without_csrf_token_is_refused(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(URL, {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 403


def test_language_switcher_returns_to_the_saved_search(client, small_catalog):
    html = post(client, picture_of(small_catalog[1])).content.decode()
    pk = Search.objects.get().pk
    assert f'<input type="hidden" name="next" id="language-next" value="/s/{pk}/" hx-swap-oob="true">' in html


def test_language_switcher_of_a_plain_form_search_returns_to_it(client, small_catalog):
    """Without JS the POST is redirected to the results' permalink: switching language there keeps them."""
    html = post(client, picture_of(small_catalog[1]), htmx=False, follow=True).content.decode()
    pk = Search.objects.get().pk
    assert f'<input type="hidden" name="next" id="language-next" value="/s/{pk}/">' in html
