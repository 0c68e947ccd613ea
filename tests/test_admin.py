from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from catalog.models import Product
from search.admin import csv_cell
from search.hits import ProductHit
from search.models import Search
from search.services import SearchOutcome, record_search
from tests.conftest import CatalogItem
from tests.images import encode, jpeg, textured
from vision.prepare import prepare_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client: Client) -> Client:
    user = User.objects.create_superuser("admin", "admin@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def saved_search(name: str = "Red Mug") -> Search:
    outcome = SearchOutcome(
        backend="local",
        answered_by="local",
        hits=[
            ProductHit(sku_id="1", sku_name=name, similarity=0.9, cid1="Home", cid2="Kitchen", cid3="Mugs"),
            ProductHit(sku_id="2", sku_name="Blue Mug", similarity=0.8),
        ],
        latency_ms=42,
    )
    data = jpeg()
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


def picture_upload(client: Client, product: Product, name: str, data: bytes):
    """The product's change form as the admin posts it, with one picture added in the inline."""
    names = ("sku_id", "name", "ware_label", "cid1", "cid2", "cid3", "detail_url", "detail_app_url", "description")
    fields = {f: getattr(product, f) or "" for f in (*names, "source")}
    existing = list(product.images.all())
    form = {**fields, "price": product.price or "", "images-TOTAL_FORMS": len(existing) + 1,
            "images-INITIAL_FORMS": len(existing), "images-MIN_NUM_FORMS": 0, "images-MAX_NUM_FORMS": 1000}  # fmt: skip
    for i, picture in enumerate(existing):
        form |= {
            f"images-{i}-id": picture.pk,
            f"images-{i}-product": product.pk,
            f"images-{i}-position": picture.position,
        }
    n = len(existing)
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
