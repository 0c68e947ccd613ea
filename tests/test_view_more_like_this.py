"""POST /search/ with a product's skuId: "more like this" searches with the product's own picture."""

from __future__ import annotations

from search.models import Search
from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)


def test_the_product_itself_is_left_out(client, small_catalog):
    product = small_catalog[3].product
    html = client.post("/search/", {"sku": product.sku_id}, headers=HTMX).content.decode()
    saved = Search.objects.get()
    skus = list(saved.hits.order_by("rank").values_list("sku_id", flat=True))
    # Its own picture is its closest match: left in, it would fill the first card.
    assert saved.like_sku == product.sku_id and product.sku_id not in skus
    assert len(skus) == len(small_catalog) - 1 and saved.result_count == len(skus)
    assert f'value="{product.sku_id}"' not in html  # no card's "More like this" button names it


def test_the_picture_is_named_as_the_product_not_your_photo(client, small_catalog):
    product = small_catalog[3].product
    html = client.post("/search/", {"sku": product.sku_id}, headers=HTMX).content.decode()
    query = html[html.index('id="query"') : html.index("</figure>")]
    assert f'alt="{product.name}"' in query and "Your photo" not in query
    assert f"Other products that look like “{product.name}”" in query
    assert "data-hint" not in query  # tips on taking a photo are not about a catalog picture


def test_a_region_of_the_picture_still_leaves_the_product_out(client, small_catalog):
    product = small_catalog[3].product
    client.post("/search/", {"sku": product.sku_id}, headers=HTMX)
    first = Search.objects.get()
    html = client.post("/search/", {"search": first.pk, "region": "0.1,0.1,0.9,0.9"}, headers=HTMX).content.decode()
    child = Search.objects.exclude(pk=first.pk).get()
    assert child.like_sku == product.sku_id
    assert product.sku_id not in set(child.hits.values_list("sku_id", flat=True)) and child.result_count > 0
    assert f"The part of the picture of “{product.name}” searched" in html


def test_a_filter_on_the_results_still_leaves_the_product_out(client, small_catalog):
    product = small_catalog[3].product
    client.post("/search/", {"sku": product.sku_id}, headers=HTMX)
    saved = Search.objects.get()
    # A category filter runs the engine again on the picture (search.sources.hits_of_search).
    html = client.get(f"/s/{saved.pk}/", {"cid1": product.cid1}, headers=HTMX).content.decode()
    assert 'class="card"' in html and f'value="{product.sku_id}"' not in html


def test_a_removed_product_is_named_by_its_sku(client, small_catalog):
    product = small_catalog[3].product
    client.post("/search/", {"sku": product.sku_id}, headers=HTMX)
    saved = Search.objects.get()
    product.delete()
    html = client.get(f"/s/{saved.pk}/").content.decode()
    assert f"Other products that look like “{product.sku_id}”" in html


def test_history_calls_the_thumbnail_a_product_picture(client, small_catalog):
    client.post("/search/", {"sku": small_catalog[3].product.sku_id}, headers=HTMX)
    html = client.get("/history/").content.decode()
    assert 'alt="Product picture"' in html and 'alt="Your photo"' not in html


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


def test_the_caption_is_translated(client, small_catalog):
    product = small_catalog[3].product
    headers = {**HTMX, "accept-language": "zh-CN,zh;q=0.9"}
    html = client.post("/search/", {"sku": product.sku_id}, headers=headers).content.decode()
    assert f"与“{product.name}”相似的其他商品" in html


def test_a_product_without_a_picture_has_no_button_and_says_why(client, small_catalog):
    product = small_catalog[3].product
    product.images.all().delete()
    html = client.get("/find/", {"q": product.name}, headers=HTMX).content.decode()
    assert product.name in html and f'name="sku" value="{product.sku_id}"' not in html
    response = client.post("/search/", {"sku": product.sku_id}, headers=HTMX)  # a page from before the deletion
    assert response.status_code == 422 and 'data-error-code="no_picture"' in response.content.decode()
    assert "This product has no picture to compare with" in response.content.decode()
