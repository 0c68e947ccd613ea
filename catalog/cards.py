"""Card data of catalog pictures, read from the database for a search's ranked pictures
(`catalog.features.DatabaseSource.pictures`).

Read as plain rows in two queries rather than as model instances in three (without the vector and
re-rank blobs either way): a search asks for up to 300 pictures and every picture of
their products, and a model instance per row cost 6.2 ms of CPU a search with the demo catalog (plain
rows: ~2.5 ms). The equivalence is a test (tests/test_search_service.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.files.storage import Storage

from catalog.local_engine import PictureInfo
from catalog.models import ProductImage
from search.hits import ProductHit

PRODUCT_FIELDS = (
    "sku_id",
    "name",
    "price",
    "ware_label",
    "detail_url",
    "detail_app_url",
    "cid1",
    "cid2",
    "cid3",
    "description",
)


def picture_url(storage: Storage, name: str, source_url: str) -> str:
    """As `ProductImage.url`: the stored copy, else an http(s) source, else none."""
    if name:
        return str(storage.url(name))
    return source_url if source_url.startswith(("http://", "https://")) else ""


def picture_cards(keys: Sequence[int]) -> dict[int, PictureInfo]:
    """Each picture's product as a card (similarity unset) with all its pictures' URLs in their order."""
    # Two queries: the pictures with their products' fields, then every picture of those products.
    # No ordering on the first: the model's default (by product) would sort by the product's SKU for nothing.
    rows = (
        ProductImage.objects.filter(pk__in=keys)
        .order_by()
        .values_list("pk", "product_id", *(f"product__{name}" for name in PRODUCT_FIELDS))
    )
    products: dict[int, dict[str, Any]] = {}
    owners: dict[int, int] = {}
    for pk, product_id, *values in rows:
        owners[pk] = product_id
        products[product_id] = dict(zip(PRODUCT_FIELDS, values, strict=True))
    if not owners:
        return {}
    storage = ProductImage._meta.get_field("image").storage
    urls: dict[int, list[str]] = {}
    pictures = ProductImage.objects.filter(product__in=products).order_by("product_id", "position", "pk")
    for product_id, name, source_url in pictures.values_list("product_id", "image", "source_url"):
        url = picture_url(storage, name or "", source_url or "")
        if url:
            urls.setdefault(product_id, []).append(url)
    hits = {}
    for product_id, row in products.items():
        images = urls.get(product_id, [])
        hits[product_id] = ProductHit(
            sku_id=row["sku_id"],
            sku_name=row["name"],
            sku_price=row["price"],
            ware_label=row["ware_label"],
            image_url=images[0] if images else "",
            detail_url=row["detail_url"],
            detail_app_url=row["detail_app_url"],
            cid1=row["cid1"],
            cid2=row["cid2"],
            cid3=row["cid3"],
            all_image_urls=images,
            description=row["description"],
        )
    return {key: PictureInfo(product_key=owner, hit=hits[owner]) for key, owner in owners.items()}
