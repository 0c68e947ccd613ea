"""Card data of catalog pictures, read from the database for a search's ranked pictures.

The same `PictureInfo` as `catalog.index.DatabaseSource.pictures` built from model instances, read as
plain rows instead: a search asks for up to 300 pictures and every picture of their products, and
building a model instance per row (and asking the storage for each picture's URL) cost ~8 ms of CPU
a search, a sixth of all of it. The equivalence is a test (tests/test_search_service.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from catalog.local_engine import PictureInfo
from catalog.models import Product, ProductImage
from search.hits import ProductHit

PRODUCT_FIELDS = (
    "pk",
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


def picture_url(name: str, source_url: str) -> str:
    """As `ProductImage.url`: the stored copy, else an http(s) source, else none."""
    if name:
        return str(ProductImage._meta.get_field("image").storage.url(name))  # type: ignore[attr-defined]
    return source_url if source_url.startswith(("http://", "https://")) else ""


def picture_cards(keys: Sequence[int]) -> dict[int, PictureInfo]:
    """Each picture's product as a card (similarity unset) with all its pictures' URLs in their order."""
    # No ordering: the model's default (by product) would join the product table for nothing.
    owners = dict(ProductImage.objects.filter(pk__in=keys).order_by().values_list("pk", "product_id"))
    if not owners:
        return {}
    products = set(owners.values())
    urls: dict[int, list[str]] = {}
    rows = ProductImage.objects.filter(product__in=products).order_by("product_id", "position", "pk")
    for product_id, name, source_url in rows.values_list("product_id", "image", "source_url"):
        url = picture_url(name or "", source_url or "")
        if url:
            urls.setdefault(product_id, []).append(url)
    hits: dict[int, ProductHit] = {}
    for row in Product.objects.filter(pk__in=products).order_by().values(*PRODUCT_FIELDS):
        pk = row.pop("pk")
        images = urls.get(pk, [])
        hits[pk] = ProductHit(
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
    return {key: PictureInfo(product_key=owner, hit=hits[owner]) for key, owner in owners.items() if owner in hits}
