"""When a catalog product's category, price or self-operated flag changes, the vector store files its
pictures under the new attributes, so filtered searches (run inside the store) stay exact.

Real pieces throughout: the embedded store (the configured file store), the engine, the importer, the
learning catalog's upsert and picture fetch from a real local HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from catalog.importer import CatalogImporter
from catalog.index import get_local_index, reset_local_index, store_file
from catalog.models import Product, ProductImage
from catalog.rows import read_catalog
from search.backends.learning import fetch_pictures, upsert_products, wait_for_learning
from search.hits import ProductHit
from search.services import run_search
from tests.fake_juhe import SKU, FakeServer, Reply, fake_juhe_fixture, success  # noqa: F401
from tests.images import jpeg
from vectors.base import Filter

PICTURE = jpeg(320, 320, 7)


@pytest.fixture
def picture_host(settings) -> Iterator[FakeServer]:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = True  # the picture host is on 127.0.0.1
    server = FakeServer().start()
    server.routes["/p.jpg"] = Reply(body=PICTURE, content_type="image/jpeg")
    yield server
    server.stop()


def found(sku: str, flt: Filter) -> bool:
    """The local engine, asked with the product's own picture within `flt`, finds the product."""
    outcome = run_search(PICTURE, backend="local", flt=flt, limit=10)
    return sku in [h.sku_id for h in outcome.hits]


def test_a_learnt_products_changes_are_filed_in_the_index(db, picture_host: FakeServer) -> None:
    item = dict(
        SKU, skuId=778, skuPrice="10.00", wareLabel="非自营", cid1Name="水果", cid2Name="香蕉", cid3Name="",
        imageUrl=picture_host.base_url + "/p.jpg", allImageUrls=[],
    )  # fmt: skip
    assert fetch_pictures(upsert_products([ProductHit.from_juhe(item)])) == 1
    assert found("778", Filter(cid1="水果")) and found("778", Filter(price_max=20.0))
    assert found("778", Filter(self_operated=False))

    # Juhe answers again: the product moved, costs more and is now self-operated.
    changed = dict(item, skuPrice="99.00", wareLabel="自营", cid1Name="食品", cid2Name="进口")
    assert upsert_products([ProductHit.from_juhe(changed)]) == []  # it has its picture: nothing to fetch
    assert found("778", Filter(cid1="食品", cid2="进口")) and not found("778", Filter(cid1="水果"))
    assert found("778", Filter(price_min=50.0)) and not found("778", Filter(price_max=20.0))
    assert found("778", Filter(self_operated=True)) and not found("778", Filter(self_operated=False))

    # The saved index has the new attributes too (another process, or a restart, reads it).
    wait_for_learning()
    reset_local_index()
    assert found("778", Filter(cid1="食品")) and not found("778", Filter(cid1="水果"))
    assert found("778", Filter(price_min=50.0, self_operated=True))


def test_through_the_juhe_backend(transactional_db, fake_juhe: FakeServer, picture_host: FakeServer) -> None:
    """The real path: a Juhe answer teaches the product (its picture fetched in the background), a later
    answer changes its price, and the local engine's price filter follows at once."""
    item = dict(SKU, skuId=781, skuPrice="10.00", imageUrl=picture_host.base_url + "/p.jpg", allImageUrls=[])
    fake_juhe.default = Reply(body=success(item))
    assert run_search(PICTURE, backend="juhe").answered_by == "juhe"
    wait_for_learning()
    assert found("781", Filter(price_max=20.0))
    fake_juhe.default = Reply(body=success(dict(item, skuPrice="99.00")))
    assert run_search(PICTURE, backend="juhe").answered_by == "juhe"
    assert found("781", Filter(price_min=50.0)) and not found("781", Filter(price_max=20.0))
    wait_for_learning()


def test_an_unchanged_learnt_product_leaves_the_index_alone(db, picture_host: FakeServer) -> None:
    item = dict(SKU, skuId=779, imageUrl=picture_host.base_url + "/p.jpg", allImageUrls=[])
    assert fetch_pictures(upsert_products([ProductHit.from_juhe(item)])) == 1
    index_file = store_file(get_local_index().store)
    assert index_file is not None and index_file.exists()
    before = index_file.stat().st_mtime_ns, index_file.read_bytes()
    upsert_products([ProductHit.from_juhe(dict(item, skuName="a new name only"))])
    wait_for_learning()
    assert (index_file.stat().st_mtime_ns, index_file.read_bytes()) == before


def test_a_reimported_products_changes_are_filed_in_the_index(db, tmp_path: Path) -> None:
    (tmp_path / "p.jpg").write_bytes(PICTURE)
    csv_file = tmp_path / "catalog.csv"
    header = "skuId,skuName,skuPrice,wareLabel,cid1Name,cid2Name,cid3Name,imageUrl\n"
    csv_file.write_text(header + "500,Tea,12.00,自营,Drinks,Tea,,p.jpg\n")
    CatalogImporter(get_local_index(), base_dir=tmp_path).run(read_catalog(csv_file))
    assert found("500", Filter(cid1="Drinks", price_max=20.0, self_operated=True))
    csv_file.write_text(header + "500,Tea,42.00,非自营,Food,Tea,,p.jpg\n")
    CatalogImporter(get_local_index(), base_dir=tmp_path).run(read_catalog(csv_file))
    assert found("500", Filter(cid1="Food", price_min=40.0, self_operated=False))
    assert not found("500", Filter(cid1="Drinks")) and not found("500", Filter(self_operated=True))


def test_re_filing_keeps_pictures_of_another_engine_version_out_of_the_index(db, picture_host: FakeServer) -> None:
    """After a model change, pictures not yet re-embedded carry old vectors: re-filing must not put them
    (back) into the index beside the current model's vectors."""
    item = dict(SKU, skuId=780, imageUrl=picture_host.base_url + "/p.jpg", allImageUrls=[])
    assert fetch_pictures(upsert_products([ProductHit.from_juhe(item)])) == 1
    index = get_local_index()
    picture = ProductImage.objects.get(product__sku_id="780")
    index.remove_pictures([picture.pk])
    ProductImage.objects.filter(pk=picture.pk).update(
        features_version="an older model", vector=np.ones(index.store.dim, dtype=np.float32).tobytes()
    )
    product = Product.objects.get(sku_id="780")
    product.price = None
    product.save()
    index.update_attributes(product)
    indexed = index.store.keys()
    assert picture.pk not in indexed
