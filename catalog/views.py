from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.index import product_hit
from catalog.models import Product
from catalog.similar import similar_products
from search.devices import device_of
from search.forms import ERROR_MESSAGES


def product_detail(request: HttpRequest, sku_id: str) -> HttpResponse:
    from search.results import cards_for

    try:
        product = Product.objects.get(sku_id=sku_id)
    except Product.DoesNotExist:
        # Products are not per session: the generic 404 ("...or it belongs to someone else's session") misled the
        # shopper who followed an old card or a deleted product's link. Say what happened instead.
        return render(request, "404.html", {"message": ERROR_MESSAGES["product_gone"]}, status=404)
    hit = product_hit(product, [image.url for image in product.images.all() if image.url])
    device = device_of(request)
    similar = cards_for(similar_products(product), device, start=101)  # ranks apart from any other cards
    return render(
        request,
        "catalog/product.html",
        {"product": product, "hit": hit, "buy_link": hit.buy_link(device), "similar": similar},
    )
