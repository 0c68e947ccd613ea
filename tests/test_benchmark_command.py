from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

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
    for key in ["embed_ms_b1", "embed_ips", "floor_ms", "search_p50_ms", "search_p99_ms", "ratio_to_floor", "rss_mb"]:
        assert report[key] > 0, key
    index = report["index"]["500"]
    assert {"p50_ms", "p99_ms", "recall10", "filtered_recall10", "build_s"} <= set(index)
    assert 0.0 <= index["recall10"] <= 1.0
    assert Search.objects.count() == 0  # the web-stack searches were rolled back
