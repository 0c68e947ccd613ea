from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from search.admin import csv_cell
from search.hits import ProductHit
from search.models import Search
from search.services import SearchOutcome, record_search
from tests.conftest import CatalogItem
from tests.images import jpeg
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


@pytest.mark.parametrize("value", ["=1+2", "+cmd", "-2", "@SUM(A1)"])
def test_csv_cell_prefixes_formula_starts(value: str) -> None:
    assert csv_cell(value) == "'" + value


def test_catalog_admin_lists_products(admin_client_logged_in: Client, small_catalog: list[CatalogItem]) -> None:
    response = admin_client_logged_in.get(reverse("admin:catalog_product_changelist"))
    assert response.status_code == 200
    assert small_catalog[0].product.name in response.content.decode()
    change = admin_client_logged_in.get(reverse("admin:catalog_product_change", args=[small_catalog[0].product.pk]))
    assert change.status_code == 200
