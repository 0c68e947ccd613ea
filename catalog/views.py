from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog.index import product_hit
from catalog.models import Product
from search.devices import device_kind


def product_detail(request: HttpRequest, sku_id: str) -> HttpResponse:
    product = get_object_or_404(Product, sku_id=sku_id)
    hit = product_hit(product, [image.url for image in product.images.all() if image.url])
    device = device_kind(request.headers.get("user-agent", ""))
    return render(request, "catalog/product.html", {"product": product, "hit": hit, "buy_link": hit.buy_link(device)})
