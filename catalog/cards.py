"""Card data of catalog pictures, read from the database for a search's ranked pictures
(`catalog.features.DatabaseSource.pictures`).

Read as plain rows in two queries rather than as model instances in three (without the vector and
re-rank blobs either way): a search asks for up to 300 pictures and every picture of
their products, and a model instance per row cost 6.2 ms of CPU a search with the demo catalog (plain
rows: ~2.5 ms). The two queries are written out rather than built by the ORM, whose compiling of them
cost ~1 ms of CPU a search (the columns' values still go through the backend's own converters, so a
price reads as the ORM reads it). The equivalence is a test (tests/test_search_service.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import Col

from catalog.local_engine import PictureInfo
from catalog.models import Product, ProductImage
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
# A stored picture's URL by (the storage's base URL, its name): FileSystemStorage.url is a function of the
# two alone and cost ~7 µs a picture (quote + urljoin), every picture of every product a search shows.
_URLS: dict[tuple[str, str], str] = {}
URL_MEMO_SIZE = 20_000


def stored_url(storage: Storage, name: str) -> str:
    """`storage.url(name)`, remembered for FileSystemStorage (`__class__`: a field's storage may be a lazy
    proxy); another storage may sign or date its URLs."""
    if storage.__class__.url is not FileSystemStorage.url:
        return str(storage.url(name))
    key = (str(storage.base_url), name)  # type: ignore[attr-defined]
    url = _URLS.get(key)
    if url is None:
        if len(_URLS) >= URL_MEMO_SIZE:
            _URLS.clear()
        url = _URLS[key] = str(storage.url(name))
    return url


def picture_url(storage: Storage, name: str, source_url: str) -> str:
    """As `ProductImage.url`: the stored copy, else an http(s) source, else none."""
    if name:
        return stored_url(storage, name)
    return source_url if source_url.startswith(("http://", "https://")) else ""


Converter = Callable[[Any, Any, Any], Any]


def table(model: type[Model]) -> str:
    """The model's table name, quoted for written-out SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], name: str) -> str:
    """A field's column name, quoted for written-out SQL."""
    field = model._meta.get_field(name)
    return connection.ops.quote_name(str(getattr(field, "column", "")))


def column_converters(model: type[Model], names: Sequence[str]) -> list[tuple[Col, list[Converter]]]:
    """Each field's column with what the ORM applies to its values as read (e.g. a price's quantize, a
    time's time zone), for rows read without the ORM."""
    out = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)
        col = Col(model._meta.db_table, field)
        out.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
    return out


def marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def picture_cards(keys: Sequence[int]) -> dict[int, PictureInfo]:
    """Each picture's product as a card (similarity unset) with all its pictures' URLs in their order."""
    if not keys:
        return {}
    pictures_table, products_table = table(ProductImage), table(Product)
    pk, owner_id = column(ProductImage, "id"), column(ProductImage, "product")
    fields = ", ".join(f"p.{column(Product, name)}" for name in PRODUCT_FIELDS)
    converters = column_converters(Product, PRODUCT_FIELDS)
    products: dict[int, dict[str, Any]] = {}
    owners: dict[int, int] = {}
    with connection.cursor() as cursor:
        # The pictures with their products' fields (in no particular order), then every picture of those products.
        cursor.execute(
            f"SELECT i.{pk}, i.{owner_id}, {fields} FROM {pictures_table} i INNER JOIN {products_table} p "
            f"ON i.{owner_id} = p.{column(Product, 'id')} WHERE i.{pk} IN ({marks(len(keys))})",
            list(keys),
        )
        for key, owner, *values in cursor.fetchall():
            owners[key] = owner
            if owner not in products:
                row = {}
                for name, value, (col, steps) in zip(PRODUCT_FIELDS, values, converters, strict=True):
                    for step in steps:
                        value = step(value, col, connection)
                    row[name] = value
                products[owner] = row
        if not owners:
            return {}
        cursor.execute(
            f"SELECT {owner_id}, {column(ProductImage, 'image')}, {column(ProductImage, 'source_url')} "
            f"FROM {pictures_table} WHERE {owner_id} IN ({marks(len(products))}) "
            f"ORDER BY {owner_id}, {column(ProductImage, 'position')}, {pk}",
            list(products),
        )
        pictures = cursor.fetchall()
    storage = ProductImage._meta.get_field("image").storage
    urls: dict[int, list[str]] = {}
    for owner, name, source_url in pictures:
        url = picture_url(storage, name or "", source_url or "")
        if url:
            urls.setdefault(owner, []).append(url)
    hits = {}
    for owner, row in products.items():
        images = urls.get(owner, [])
        hits[owner] = ProductHit(
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
