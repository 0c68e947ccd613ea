from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from catalog.index import get_local_index, get_searcher
from catalog.models import Product
from search.admin import csv_cell
from search.hits import ProductHit
from search.models import Search
from search.services import SearchOutcome, record_search
from tests.conftest import CatalogItem
from tests.images import encode, jpeg, textured
from tests.test_csp_browser import CHROMIUM, CHROMIUM_ARGS, SKIP_REASON
from vision.prepare import prepare_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client: Client) -> Client:
    user = User.objects.create_superuser("admin", "admin@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def saved_search(name: str = "Red Mug", data: bytes | None = None) -> Search:
    outcome = SearchOutcome(
        backend="local",
        answered_by="local",
        hits=[
            ProductHit(sku_id="1", sku_name=name, similarity=0.9, cid1="Home", cid2="Kitchen", cid3="Mugs"),
            ProductHit(sku_id="2", sku_name="Blue Mug", similarity=0.8),
        ],
        latency_ms=42,
    )
    data = jpeg() if data is None else data
    outcome.photo = prepare_image(data)
    return record_search(outcome, data)


def test_history_list_shows_thumbnail_and_figures(admin_client_logged_in: Client) -> None:
    search = saved_search()
    response = admin_client_logged_in.get(reverse("admin:search_search_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert search.thumbnail.url in html
    assert ">42<" in html


def test_history_is_searchable_by_product_name(admin_client_logged_in: Client) -> None:
    wanted = saved_search("Lemon Squeezer")
    other = saved_search("Bicycle Bell")
    url = reverse("admin:search_search_changelist")
    response = admin_client_logged_in.get(url, {"q": "squeezer"})
    assert list(response.context["cl"].result_list) == [wanted]
    assert other not in response.context["cl"].result_list


def test_history_filters_by_outcome(admin_client_logged_in: Client) -> None:
    ok = saved_search()
    failed = record_search(SearchOutcome(backend="local", error_code="corrupt", error_message="damaged"), b"x")
    url = reverse("admin:search_search_changelist")
    assert list(admin_client_logged_in.get(url, {"outcome": "error"}).context["cl"].result_list) == [failed]
    assert list(admin_client_logged_in.get(url, {"outcome": "ok"}).context["cl"].result_list) == [ok]


def test_detail_shows_photo_and_hits_in_rank_order(admin_client_logged_in: Client) -> None:
    search = saved_search()
    response = admin_client_logged_in.get(reverse("admin:search_search_change", args=[search.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert search.photo.url in html
    assert html.index("Red Mug") < html.index("Blue Mug")
    assert "Home › Kitchen › Mugs" in html


def drawn_sizes(live_server, path: str, selector: str) -> list[dict[str, float]]:
    """The boxes headless Chromium draws `selector`'s elements in on an admin page, as a superuser sees it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    client = Client()
    client.force_login(User.objects.create_superuser("browser", "browser@example.com", "pw-for-tests"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        boxes = [image.bounding_box() for image in page.locator(selector).all()]
        browser.close()
    assert boxes and all(boxes), f"nothing drawn for {selector} on {path}"
    return boxes


def test_a_search_is_a_record_no_field_of_it_can_be_edited(admin_client_logged_in: Client) -> None:
    """QA: "Subjects found" and "Photo hints" were textareas, and any JSON typed in them was saved."""
    search = saved_search()
    Search.objects.filter(pk=search.pk).update(subjects=[[0.1, 0.1, 0.9, 0.9]], hints=["blurry"])
    url = reverse("admin:search_search_change", args=[search.pk])
    html = admin_client_logged_in.get(url).content.decode()
    assert not re.search(r"<(textarea|input|select)\b[^>]*name=\"(?!csrfmiddlewaretoken|_|hits-)", html)
    assert "[[0.1, 0.1, 0.9, 0.9]]" in html and "[&quot;blurry&quot;]" in html  # still shown
    typed = {"subjects": "[[0, 0, 1, 1]]", "hints": '["edited"]', "like_sku": "x", "error_code": "edited"}
    inline = {"hits-TOTAL_FORMS": 2, "hits-INITIAL_FORMS": 2, "hits-MIN_NUM_FORMS": 0, "hits-MAX_NUM_FORMS": 1000}
    hits = {f"hits-{i}-id": hit.pk for i, hit in enumerate(search.hits.order_by("rank"))}
    hits |= {f"hits-{i}-search": search.pk for i in range(2)}
    response = admin_client_logged_in.post(url, {**typed, **inline, **hits, "_save": "Save"})
    assert response.status_code == 302
    search.refresh_from_db()
    assert search.subjects == [[0.1, 0.1, 0.9, 0.9]] and search.hints == ["blurry"]
    assert search.like_sku == "" and search.error_code == ""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON)
def test_the_search_page_draws_a_large_photo_at_most_360_px_wide_in_its_shape(live_server) -> None:
    """QA: the photo had style="max-width:360px", which the CSP drops: a 1600 px photo overflowed the page."""
    search = saved_search(data=jpeg(1600, 1200))
    (box,) = drawn_sizes(live_server, reverse("admin:search_search_change", args=[search.pk]), "img.search-photo")
    assert box["width"] == pytest.approx(360, abs=1)
    assert box["height"] == pytest.approx(270, abs=1)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON)
def test_the_search_list_draws_every_thumbnail_within_the_same_small_box(live_server) -> None:
    """QA: a panorama's 320x3 thumbnail, 48 px high, was drawn ~5,100 px wide and pushed the columns off screen."""
    saved_search("Panorama", data=jpeg(10000, 100))
    saved_search("Photo", data=jpeg(1600, 1200))
    url = reverse("admin:search_search_changelist")
    photo, panorama = drawn_sizes(live_server, url, "td.field-thumb img")  # newest first
    assert panorama == {**panorama, "width": 96, "height": 48}
    assert photo == {**photo, "width": 64, "height": 48}


def test_csv_export_neutralises_formulas(admin_client_logged_in: Client) -> None:
    search = saved_search('=HYPERLINK("http://evil")')
    response = admin_client_logged_in.post(
        reverse("admin:search_search_changelist"),
        {"action": "export_csv", "_selected_action": [search.pk]},
    )
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("text/csv")
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body
    assert body.startswith("\ufeff")  # Excel reads the file as UTF-8 only with a byte-order mark


@pytest.mark.parametrize("value", ["=1+2", "+cmd", "-2", "@SUM(A1)"])
def test_csv_cell_prefixes_formula_starts(value: str) -> None:
    assert csv_cell(value) == "'" + value


def test_catalog_admin_lists_products(admin_client_logged_in: Client, small_catalog: list[CatalogItem]) -> None:
    response = admin_client_logged_in.get(reverse("admin:catalog_product_changelist"))
    assert response.status_code == 200
    assert small_catalog[0].product.name in response.content.decode()
    change = admin_client_logged_in.get(reverse("admin:catalog_product_change", args=[small_catalog[0].product.pk]))
    assert change.status_code == 200


def change_form(product: Product, added: int = 0) -> dict[str, object]:
    """The product's change form as the admin posts it unchanged, with room for `added` new pictures."""
    names = ("sku_id", "name", "ware_label", "cid1", "cid2", "cid3", "detail_url", "detail_app_url", "description")
    fields = {f: getattr(product, f) or "" for f in (*names, "source")}
    existing = list(product.images.all())
    form = {**fields, "price": product.price or "", "images-TOTAL_FORMS": len(existing) + added,
            "images-INITIAL_FORMS": len(existing), "images-MIN_NUM_FORMS": 0, "images-MAX_NUM_FORMS": 1000}  # fmt: skip
    for i, picture in enumerate(existing):
        form |= {
            f"images-{i}-id": picture.pk,
            f"images-{i}-product": product.pk,
            f"images-{i}-position": picture.position,
        }
    return form


def picture_upload(client: Client, product: Product, name: str, data: bytes):
    """The product's change form as the admin posts it, with one picture added in the inline."""
    form = change_form(product, added=1)
    n = product.images.count()
    form |= {f"images-{n}-product": product.pk, f"images-{n}-position": 0,
             f"images-{n}-image": SimpleUploadedFile(name, data)}  # fmt: skip
    return client.post(f"/admin/catalog/product/{product.pk}/change/", form)


def test_an_admin_picture_is_kept_as_an_upright_jpeg_after_the_others(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem]
) -> None:
    product = small_catalog[0].product
    png = encode(textured(300, 200, 4), "PNG")
    response = picture_upload(admin_client_logged_in, product, "added.png", png)
    assert response.status_code == 302, response.content.decode()[:2000]
    added = product.images.order_by("-pk").first()
    assert added is not None and str(added.image.name).endswith(".jpg") and added.content_hash
    with added.image.open("rb") as handle:
        assert handle.read(3) == b"\xff\xd8\xff"
    assert added.position == 1 and added.vector  # after the imported picture, and searchable


def test_an_admin_picture_that_cannot_be_read_is_refused_on_its_row(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem]
) -> None:
    product = small_catalog[0].product
    before = product.images.count()
    for name, data, reason in [("dot.png", encode(textured(1, 1, 1), "PNG"), "too small"),
                               ("cut.jpg", jpeg(400, 300)[:2000], "damaged")]:  # fmt: skip
        response = picture_upload(admin_client_logged_in, product, name, data)
        assert response.status_code == 200  # the form again, with the row's error (Django's own check let it by)
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*><li>([^<]*)', response.content.decode())
        assert any(name in e and reason in e for e in errors), errors
    assert product.images.count() == before


def test_an_unreadable_admin_picture_is_refused_in_the_admins_language(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem]
) -> None:
    """The decoder's sentences are English: a Chinese admin page said "The picture is too small..." (QA20)."""
    product = small_catalog[0].product
    admin_client_logged_in.cookies["django_language"] = "zh-hans"
    for name, data, reason in [("dot.png", encode(textured(20, 20, 1), "PNG"), "图片太小（20×20 像素）"),
                               ("cut.jpg", jpeg(400, 300)[:2000], "图片已损坏或不完整")]:  # fmt: skip
        response = picture_upload(admin_client_logged_in, product, name, data)
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*><li>([^<]*)', response.content.decode())
        assert any(e.startswith(f"{name}: {reason}") for e in errors), errors


LABEL_REFUSED = "The label is 自营 (self-operated), 非自营 (marketplace) or empty."
LINK_REFUSED = "Enter a link starting with http://, https:// or / (a page of this site)."


@pytest.fixture
def product() -> Product:
    """A product as the import leaves one (its pictures play no part in the form's checks)."""
    return Product.objects.create(
        sku_id="7",
        name="Lemon",
        price=Decimal("12.50"),
        ware_label="自营",
        detail_url="https://shop.example.com/item/7.html",
        detail_app_url="https://m.shop.example.com/product/7.html",
    )


def stored(product: Product) -> Mapping[str, object]:
    return Product.objects.filter(pk=product.pk).values().get()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("price", "-3", "A price cannot be negative."),
        ("price", "10000000000", "A price can be at most 9999999999.99."),  # the columns hold 10 digits and cents
        ("ware_label", "bogus", LABEL_REFUSED),
        ("ware_label", "self", LABEL_REFUSED),  # the import reads it, but stores 自营: the only choices are as stored
        ("detail_url", "javascript:alert(1)", LINK_REFUSED),
        ("detail_app_url", "javascript:alert(1)", LINK_REFUSED),
        ("detail_url", "//evil.example/item", LINK_REFUSED),  # another site: safe_link renders no link for it
    ],
)  # fmt: skip
def test_the_product_form_refuses_what_the_import_refuses(
    admin_client_logged_in: Client, product: Product, field: str, value: str, message: str
) -> None:
    before = stored(product)
    form = change_form(product) | {field: value}
    response = admin_client_logged_in.post(reverse("admin:catalog_product_change", args=[product.pk]), form)
    assert response.status_code == 200  # the form again
    assert response.context["adminform"].form.errors == {field: [message]}
    assert stored(product) == before


def test_the_product_form_offers_the_stored_labels_and_saves_a_good_edit(
    admin_client_logged_in: Client, product: Product
) -> None:
    url = reverse("admin:catalog_product_change", args=[product.pk])
    select = re.search(r'<select name="ware_label".*?</select>', admin_client_logged_in.get(url).content.decode(), re.S)
    assert select is not None
    assert re.findall(r'<option value="([^"]*)"', select.group()) == ["", "自营", "非自营"]
    good = {"price": "0", "ware_label": "非自营", "detail_url": "/item/7.html",
            "detail_app_url": "https://m.shop.example.com/product/7.html"}  # fmt: skip
    response = admin_client_logged_in.post(url, change_form(product) | good)
    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert (product.price, product.ware_label, product.detail_url, product.detail_app_url) == (
        Decimal("0.00"),
        "非自营",
        "/item/7.html",
        "https://m.shop.example.com/product/7.html",
    )
    response = admin_client_logged_in.post(url, change_form(product) | {"price": "9999999999.99", "ware_label": ""})
    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert (product.price, product.ware_label) == (Decimal("9999999999.99"), "")


def found(item: CatalogItem) -> list[str]:
    """The skuIds a search with the product's own picture finds."""
    with Image.open(item.picture) as photo:
        return [hit.sku_id for hit in get_searcher().search(photo.convert("RGB"), limit=5).hits]


def picture_files(product: Product) -> tuple[set[int], list[Path]]:
    pictures = list(product.images.all())
    return {p.pk for p in pictures}, [Path(p.image.path) for p in pictures]


def test_deleting_a_product_deletes_its_picture_files_and_takes_them_out_of_the_index(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem], django_capture_on_commit_callbacks
) -> None:
    item = small_catalog[2]
    sku = item.product.sku_id
    keys, paths = picture_files(item.product)
    assert paths and all(p.is_file() for p in paths)
    assert keys <= get_local_index().store.keys()
    assert sku in found(item)
    url = reverse("admin:catalog_product_delete", args=[item.product.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged_in.post(url, {"post": "yes"})  # "Yes, I'm sure"
    assert response.status_code == 302
    assert not Product.objects.filter(sku_id=sku).exists()
    assert not any(p.exists() for p in paths)
    assert not keys & get_local_index().store.keys()
    assert sku not in found(item)


def test_deleting_selected_products_deletes_their_picture_files_and_takes_them_out_of_the_index(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem], django_capture_on_commit_callbacks
) -> None:
    doomed, kept = small_catalog[3:5], small_catalog[5]
    doomed_keys, doomed_paths = set(), []
    for item in doomed:
        keys, paths = picture_files(item.product)
        doomed_keys |= keys
        doomed_paths += paths
    kept_keys, kept_paths = picture_files(kept.product)
    assert doomed_paths and all(p.is_file() for p in doomed_paths)
    assert doomed_keys <= get_local_index().store.keys()
    form = {"action": "delete_selected", "_selected_action": [item.product.pk for item in doomed], "post": "yes"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged_in.post(reverse("admin:catalog_product_changelist"), form)
    assert response.status_code == 302
    assert not Product.objects.filter(pk__in=[item.product.pk for item in doomed]).exists()
    assert not any(p.exists() for p in doomed_paths)
    assert not doomed_keys & get_local_index().store.keys()
    assert not {item.product.sku_id for item in doomed} & set(found(doomed[0]) + found(doomed[1]))
    # The other products keep theirs.
    assert all(p.is_file() for p in kept_paths) and kept_keys <= get_local_index().store.keys()
    assert kept.product.sku_id in found(kept)


@pytest.mark.parametrize(("count", "told"), [(1, "1 key revoked."), (2, "2 keys revoked.")])
def test_revoking_keys_counts_them_in_the_right_number(admin_client_logged_in: Client, count: int, told: str) -> None:
    """Revoking one key said "1 keys revoked."."""
    from api.models import ApiKey

    keys = [ApiKey.issue(f"partner {i}")[0] for i in range(count)]
    response = admin_client_logged_in.post(
        reverse("admin:api_apikey_changelist"),
        {"action": "revoke", "_selected_action": [k.pk for k in keys]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [told]
    assert ApiKey.objects.filter(revoked=True).count() == count


def headers(html: str, pattern: str) -> dict[str, str]:
    """Column name → its header's words, for the <th> elements `pattern` finds (class column-NAME, words)."""
    return {name: " ".join(re.sub(r"<[^>]+>", " ", words).split()) for name, words in re.findall(pattern, html, re.S)}


def test_the_admin_in_chinese_names_the_apps_the_hits_and_the_search_in_chinese(
    admin_client_logged_in: Client,
) -> None:
    """The app names, the hits' columns and a few of the search's fields were English on the Chinese admin."""
    search = saved_search()
    zh = {"Accept-Language": "zh-CN"}
    url = reverse("admin:search_search_change", args=[search.pk])
    html = admin_client_logged_in.get(url, headers=zh).content.decode()
    assert '<a href="/admin/search/">搜索</a>' in html
    inline = headers(html, r'<th class="column-(\w+)">(.*?)</th>')
    assert inline == {
        "rank": "排名",
        "picture": "图片",
        "sku_id": "SKU 编号",
        "name": "名称",
        "price": "价格",
        "ware_label": "标签",
        "similarity": "相似度",
        "category_path": "类目路径",
        "detail_url": "PC 端链接",
        "detail_app_url": "移动端链接",
        "source": "来源",
    }
    for label in ("会话", "照片宽度", "照片高度"):
        assert f"<label>{label}:</label>" in html


def test_the_catalog_admin_in_chinese_names_its_columns_in_chinese(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem]
) -> None:
    admin_client_logged_in.cookies["django_language"] = "zh-hans"
    html = admin_client_logged_in.get(reverse("admin:catalog_product_changelist")).content.decode()
    assert '<a href="/admin/catalog/">商品目录</a>' in html
    columns = headers(html, r'<th scope="col" class="sortable column-(\w+)[^"]*">(.*?)</th>')
    assert columns["updated"] == "更新时间" and columns["sku_id"] == "SKU 编号"
    product = small_catalog[0].product
    change = admin_client_logged_in.get(reverse("admin:catalog_product_change", args=[product.pk])).content.decode()
    pictures = headers(change, r'<th class="column-(\w+)[^"]*">(.*?)</th>')
    assert (pictures["position"], pictures["features_version"]) == ("顺序", "特征版本")


def test_the_product_list_search_finds_words_in_any_case_of_any_alphabet(admin_client_logged_in: Client) -> None:
    Product.objects.create(sku_id="u-1", name="Ärmel CAFÉ", description="Grüße aus MÜNCHEN")
    Product.objects.create(sku_id="other-2", name="Plain")
    for term, found in (("ärmel café", True), ("münchen", True), ("U-1", True), ("plain", False)):
        html = admin_client_logged_in.get("/admin/catalog/product/", {"q": term}).content.decode()
        assert ('href="/admin/catalog/product/' in html and "Ärmel CAFÉ" in html) is found, term


def test_an_admin_picture_is_searchable_exactly_as_the_import_makes_the_same_file(
    admin_client_logged_in: Client, small_catalog: list[CatalogItem]
) -> None:
    """The upload is decoded once: the index gets that picture, as the importer gives it its own, not the stored
    JPEG decoded again (a second decode, and a copy that had lost a JPEG generation)."""
    product, imported = small_catalog[0].product, small_catalog[3]
    response = picture_upload(admin_client_logged_in, product, "same.jpg", imported.picture.read_bytes())
    assert response.status_code == 302, response.content.decode()[:2000]

    added = product.images.order_by("-pk").first()
    original = imported.product.images.get()
    assert added is not None and added.content_hash == original.content_hash
    uploaded_vector, imported_vector = added.vector_array(), original.vector_array()
    assert uploaded_vector is not None and imported_vector is not None
    assert np.allclose(uploaded_vector, imported_vector, atol=1e-6)
