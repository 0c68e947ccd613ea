from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.models import Product
from search.models import Search
from tests.conftest import GROCERY, grocery_rows


@pytest.mark.django_db
def test_benchmark_runs_on_a_tiny_size_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = grocery_rows(3)
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "skuId,skuName,imageUrl\n" + "".join(f"{r['skuId']},{r['skuName']},{GROCERY / r['imageUrl']}\n" for r in rows)
    )
    call_command(
        "benchmark",
        "--sizes",
        "500",
        "--queries",
        "3",
        "--batch",
        "4",
        "--catalog",
        str(catalog),
        "--store",
        "hnsw",
        verbosity=0,
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in [
        "embed_ms_b1",
        "embed_ips",
        "floor_ms",
        "search_p50_ms",
        "search_p99_ms",
        "search_cpu_p50_ms",
        "ratio_to_floor",
        "rss_mb",
    ]:
        assert report[key] > 0, key
    index = report["index"]["500"]
    assert {"p50_ms", "p99_ms", "recall10", "filtered_recall10", "build_s"} <= set(index)
    assert 0.0 <= index["recall10"] <= 1.0
    assert Search.objects.count() == 0  # the web-stack searches were rolled back
    assert not Product.objects.exists()  # and so were the catalog rows their cards were read from


@pytest.mark.django_db
def test_the_benchmark_reads_its_cards_from_the_database_as_a_served_search_does(tmp_path: Path) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.benchmark import DatabaseCards, catalog_rows
    from catalog.memory import build_memory_searcher
    from vision.engine import get_engine

    rows = grocery_rows(3)
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "skuId,skuName,skuPrice,imageUrl\n"
        + "".join(f"{r['skuId']},{r['skuName']},12.50,{GROCERY / r['imageUrl']}\n" for r in rows)
    )
    searcher, _ = build_memory_searcher(get_engine(Path(settings.SNAPSHOP_MODEL_PATH)), catalog)
    cards = DatabaseCards(searcher.source, catalog_rows(searcher))
    keys = sorted(searcher.store.keys())
    memory = searcher.source.pictures(keys)
    with CaptureQueriesContext(connection) as queries:
        found = cards.pictures(keys)
    assert queries.captured_queries  # read from the database, not from memory
    assert set(found) == set(memory) == set(keys)
    for key in keys:
        assert found[key].hit.sku_name == memory[key].hit.sku_name
        assert found[key].hit.sku_price == memory[key].hit.sku_price
        assert found[key].hit.image_url == f"/media/catalog/benchmark/{key}.jpg"
    assert len({info.product_key for info in found.values()}) == len({info.product_key for info in memory.values()})


@pytest.mark.django_db(transaction=True)
def test_an_unmigrated_database_is_named_not_a_traceback() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("search", None)])  # the history tables a web-stack search writes are gone
    try:
        with pytest.raises(CommandError, match=r"not migrated: run `python manage\.py migrate`"):
            call_command("benchmark", "--sizes", "500", verbosity=0)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.parametrize("sizes", ["abc", "1e3", "0", "-5", "500,abc"])
def test_bad_sizes_are_refused_before_any_measurement(sizes: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("catalog.management.commands.benchmark.get_engine", pytest.fail)
    with pytest.raises(CommandError, match=f"--sizes takes whole numbers of 1 or more .*, not '{sizes}'"):
        call_command("benchmark", "--sizes", sizes, verbosity=0)


def test_an_unknown_store_is_refused_with_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("catalog.management.commands.benchmark.get_engine", pytest.fail)
    with pytest.raises(CommandError, match=r"invalid choice: 'bogus' \(choose from 'exact', 'hnsw'"):
        call_command("benchmark", "--store", "bogus", verbosity=0)


@pytest.mark.parametrize(
    ("store", "setting", "names"),
    [
        ("pgvector", "SNAPSHOP_PGVECTOR_DSN", "SNAPSHOP_PGVECTOR_DSN"),
        ("milvus", "SNAPSHOP_MILVUS_URI", "MILVUS_URI"),
    ],
)
def test_a_server_store_without_its_address_is_refused_before_any_measurement(
    store: str, setting: str, names: str, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was a ValueError traceback at the very end, after minutes of measuring."""
    setattr(settings, setting, "")
    monkeypatch.setattr("catalog.management.commands.benchmark.get_engine", pytest.fail)
    with pytest.raises(CommandError, match=f"--store {store} needs .*set {names}"):
        call_command("benchmark", "--store", store, verbosity=0)
