"""catalog.0002 moves the pictures' vector and extras blobs behind every other column: SQLite reads a
row's columns in table order, through the blobs' overflow pages, and every search reads the product of
each result picture."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.models import ProductImage

BEFORE, AFTER = ("catalog", "0001_initial"), ("catalog", "0002_picture_blobs_last")


def migrate(target: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor


def columns() -> list[str]:
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, ProductImage._meta.db_table)
    return [column.name for column in description]


@pytest.mark.django_db
def test_the_blobs_are_the_last_columns_of_a_picture() -> None:
    names = columns()
    assert names[-2:] == ["vector", "extras"]
    assert names.index("product_id") < names.index("vector")


@pytest.mark.django_db(transaction=True)
def test_moving_the_blobs_keeps_every_picture_s_vector_and_extras() -> None:
    apps = migrate(BEFORE).loader.project_state([BEFORE]).apps
    product = apps.get_model("catalog", "Product").objects.create(sku_id="sku-1", name="Milk")
    pictures = apps.get_model("catalog", "ProductImage").objects
    full = pictures.create(product=product, vector=b"\x01\x02" * 40_000, extras=b"\x03" * 120_000, features_version="v")
    empty = pictures.create(product=product, position=1)
    try:
        migrate(AFTER)
        moved = ProductImage.objects.get(pk=full.pk)
        assert moved.vector is not None and moved.extras is not None
        assert (bytes(moved.vector), bytes(moved.extras), moved.product_id) == (
            b"\x01\x02" * 40_000,
            b"\x03" * 120_000,
            product.pk,
        )
        assert moved.features_version == "v"
        assert (ProductImage.objects.get(pk=empty.pk).vector, ProductImage.objects.get(pk=empty.pk).extras) == (
            None,
            None,
        )

        back = migrate(BEFORE).loader.project_state([BEFORE]).apps.get_model("catalog", "ProductImage")
        assert bytes(back.objects.get(pk=full.pk).extras) == b"\x03" * 120_000
    finally:
        migrate(AFTER)
