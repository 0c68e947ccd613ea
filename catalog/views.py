from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog.index import product_hit
from catalog.models import Product
from catalog.similar import similar_products
from search.devices import device_kind


def product_detail(request: HttpRequest, sku_id: str) -> HttpResponse:
    from search.views import cards_for

    product = get_object_or_404(Product, sku_id=sku_id)
    hit = product_hit(product, [image.url for image in product.images.all() if image.url])
    device = device_kind(request.headers.get("user-agent", ""))
    similar = cards_for(similar_products(product), device, start=101)  # ranks apart from any other cards
    return render(
        request,
        "catalog/product.html",
        {"product": product, "hit": hit, "buy_link": hit.buy_link(device), "similar": similar},
    )
