from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from catalog.index import get_local_index, reset_local_index
from catalog.models import Product
from vision.engine import Engine
from vision.model import FeatureNet

GROCERY = Path(settings.BASE_DIR).parent / "shared" / "eval" / "grocery"
MODELS = [
    Path(settings.BASE_DIR) / "models/efficientnet_lite2_380.onnx",
    Path(settings.BASE_DIR) / "models/efficientnet_lite2_260.onnx",
]


@dataclass
class CatalogItem:
    product: Product
    picture: Path


@pytest.fixture(autouse=True)
def isolated_files(settings, tmp_path: Path) -> Iterator[None]:
    """Each test gets its own media folder and vector index, and a fresh local index."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SNAPSHOP_INDEX_DIR = tmp_path / "index"
    settings.SNAPSHOP_BACKEND = "local"
    # The machine running the tests is as busy as the tests make it: the CPU brownout would make re-ranking
    # depend on that. Its own tests (test_cpu_brownout.py, test_search_parallel.py) turn it on.
    settings.SNAPSHOP_RERANK_MAX_CPU = 0.0
    settings.SNAPSHOP_RERANK_QUICK_MAX_CPU = 0.0
    reset_local_index()
    yield
    reset_local_index()
    # A request in another language leaves it active in this thread; the next test starts in English.
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The retrieval engine on the float model `make model` exports (tests of the engine itself)."""
    for path in MODELS:
        if path.is_file():
            return Engine(FeatureNet(path))
    pytest.skip("no exported model in models/ (run `make model`)")


def grocery_rows(limit: int) -> list[dict[str, str]]:
    if not (GROCERY / "catalog.csv").is_file():
        pytest.skip(f"evaluation pictures not found at {GROCERY}")
    with (GROCERY / "catalog.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Spread the pick over fruit, vegetables and packages.
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]


@pytest.fixture
def small_catalog(db, tmp_path: Path) -> list[CatalogItem]:
    """Twelve real studio product pictures imported through the real importer, with prices and links."""
    from catalog.importer import CatalogImporter
    from catalog.rows import read_catalog

    rows = grocery_rows(12)
    catalog_csv = tmp_path / "catalog.csv"
    with catalog_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        for number, row in enumerate(rows):
            row = dict(row)
            row["imageUrl"] = str(GROCERY / row["imageUrl"])
            row["skuPrice"] = f"{10 + number * 3.5:.2f}" if number % 4 else ""
            row["wareLabel"] = ["自营", "非自营", "", "自营"][number % 4]
            row["detailUrl"] = f"https://shop.example.com/item/{row['skuId']}.html"
            row["detailAppUrl"] = f"https://m.shop.example.com/product/{row['skuId']}.html"
            writer.writerow(row)
    summary = CatalogImporter(get_local_index(), base_dir=tmp_path).run(read_catalog(catalog_csv))
    assert not summary.skipped, summary.skipped
    return [CatalogItem(Product.objects.get(sku_id=row["skuId"]), GROCERY / row["imageUrl"]) for row in rows]
