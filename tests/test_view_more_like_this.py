"""POST /search/ with a product's skuId: "more like this" searches with the product's own picture."""

from __future__ import annotations

from search.models import Search
from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)


def test_the_product_comes_first(client, small_catalog):
    product = small_catalog[3].product
    client.post("/search/", {"sku": product.sku_id}, headers=HTMX)
    assert Search.objects.get().hits.get(rank=1).sku_id == product.sku_id


def test_it_is_recorded_with_a_photo_and_pushed(client, small_catalog):
    response = client.post("/search/", {"sku": small_catalog[3].product.sku_id}, headers=HTMX)
    saved = Search.objects.get()
    assert saved.photo and response["HX-Push-Url"] == f"/s/{saved.pk}/"


def test_every_card_has_the_button(client, small_catalog):
    html = client.post("/search/", {"sku": small_catalog[3].product.sku_id}, headers=HTMX).content.decode()
    assert html.count("data-like") == html.count('class="card"') > 0


def test_unknown_product_is_a_message(client, db):
    response = client.post("/search/", {"sku": "nope"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422 and 'data-error-code="product_gone"' in html
    assert "No longer in the catalog" in html and "no longer in the catalog. Search with a photo or by name." in html
