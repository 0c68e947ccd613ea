"""GET /p/<skuId>/ — a product page: pictures, price, label, breadcrumb, description, buy link."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from catalog.models import Product, ProductImage
from tests.ui_fixtures import ANDROID, DESKTOP, english_afterwards  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def product() -> Product:
    product = Product.objects.create(
        sku_id="100042",
        name="Oat Milk 1 L",
        price="12345.5",
        ware_label="自营",
        cid1="Food",
        cid2="Dairy",
        cid3="Oat milk",
        detail_url="https://shop.example.com/item/100042.html",
        detail_app_url="https://m.shop.example.com/product/100042.html",
        description="Creamy oat drink.\nKeep cold.",
    )
    for position in range(2):
        ProductImage.objects.create(
            product=product, position=position, source_url=f"https://img.example.com/100042-{position}.jpg"
        )
    return product


def page(client, product: Product, **headers) -> str:
    response = client.get(reverse("product", args=[product.sku_id]), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_url_shape(product):
    assert product.get_absolute_url() == "/p/100042/"


def test_a_sku_id_with_a_slash_has_a_page(client):
    """Shop SKUs like "AB/12" import fine; their page and the admin's "view on site" must work too."""
    slashed = Product.objects.create(sku_id="AB/12", name="Slashed")
    assert slashed.get_absolute_url() == "/p/AB%2F12/"
    assert '<h1 id="product-name">Slashed</h1>' in page(client, slashed)
    assert client.get("/p/AB/12/").status_code == 200  # links written before keep working


@pytest.mark.parametrize("sku", ["x/../y", "./z", "a/./b", "../..", "q/."])
def test_a_sku_id_with_dot_segments_has_a_link_browsers_keep(client, sku):
    """Browsers remove "." and ".." segments: the link of "x/../y" opened /p/y/, a 404."""
    product = Product.objects.create(sku_id=sku, name="Dotted")
    link = product.get_absolute_url()
    assert "/./" not in link and "/../" not in link and not link.endswith(("/../", "/./"))
    assert '<h1 id="product-name">Dotted</h1>' in client.get(link).content.decode()


def test_shows_the_name_as_heading(client, product):
    assert '<h1 id="product-name">Oat Milk 1 L</h1>' in page(client, product)


def test_shows_price_as_money(client, product):
    assert "¥12,345.50" in page(client, product)


def test_shows_price_on_request_without_price(client, product):
    Product.objects.filter(pk=product.pk).update(price=None)
    assert "Price on request" in page(client, product)


def test_shows_the_label(client, product):
    assert '<span class="label label-self">Self-operated</span>' in page(client, product)


def test_shows_the_breadcrumb(client, product):
    assert "Food › Dairy › Oat milk" in page(client, product)


def test_shows_the_description(client, product):
    assert "Creamy oat drink.<br>Keep cold." in page(client, product)


def test_gallery_has_every_picture_with_alt_text(client, product):
    alts = re.findall(r'<img src="https://img\.example\.com/100042-\d\.jpg" alt="([^"]+)"', page(client, product))
    assert alts == ["Oat Milk 1 L", "Oat Milk 1 L, picture 2"]


def test_desktop_buy_link_is_the_pc_link(client, product):
    html = page(client, product, **{"user-agent": DESKTOP})
    assert f'href="{product.detail_url}" target="_blank" rel="noopener"' in html


def test_phone_buy_link_is_the_mobile_link(client, product):
    html = page(client, product, **{"user-agent": ANDROID})
    assert f'href="{product.detail_app_url}" target="_blank" rel="noopener"' in html


def test_the_page_varies_on_the_user_agent(client, product):
    """A cache must not give one device's buy link to the other."""
    response = client.get(reverse("product", args=[product.sku_id]), headers={"user-agent": ANDROID})
    assert "User-Agent" in response["Vary"]


def test_no_buy_button_when_the_link_is_this_page(client, product):
    Product.objects.filter(pk=product.pk).update(detail_url="/p/100042/", detail_app_url="/p/100042/?view=app")
    assert 'class="button button-primary buy"' not in page(client, product)


def test_chinese_page(client, product):
    html = page(client, product, **{"accept-language": "zh-CN"})
    assert '<span class="label label-self">自营</span>' in html and "去购买" in html


def test_unknown_product_is_404_in_the_site_layout(client):
    response = client.get("/p/nope/")
    assert response.status_code == 404 and b'class="site-header"' in response.content


def test_a_product_no_longer_in_the_catalog_says_so(client, product):
    """Products are not per session: the generic "...or it belongs to someone else's session" misled."""
    sku = product.sku_id
    product.delete()  # deleted since the card linking to it was shown
    response = client.get(f"/p/{sku}/")
    html = response.content.decode()
    assert response.status_code == 404 and 'class="site-header"' in html
    assert "This product is no longer in the catalog. Search with a photo or by name." in html
    assert "someone else's session" not in html
    chinese = client.get(f"/p/{sku}/", headers={"accept-language": "zh-CN"}).content.decode()
    assert "该商品已不在目录中。请用照片或按名称搜索。" in chinese


def test_any_other_missing_page_keeps_the_generic_words(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "This page does not exist, or it belongs to someone else's session." in response.content.decode()
