from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from catalog.evaluation import read_ranks
from catalog.models import Product
from search.models import Search
from tests.conftest import GROCERY, grocery_rows
from tests.images import encode
from vision import local


@pytest.fixture
def tiny_eval(tmp_path: Path) -> tuple[Path, Path]:
    rows = grocery_rows(4)
    catalog = tmp_path / "catalog.csv"
    lines = ["skuId,skuName,skuPrice,wareLabel,cid1Name,cid2Name,cid3Name,imageUrl,detailUrl,detailAppUrl,description"]
    queries = ["imageUrl,skuId"]
    for row in rows:
        lines.append(
            f"{row['skuId']},{row['skuName']},,,{row['cid1Name']},{row['cid2Name']},{row['cid3Name']},"
            f"{GROCERY / row['imageUrl']},,,"
        )
        image = Image.open(GROCERY / row["imageUrl"]).convert("RGB")
        w, h = image.size
        crop = tmp_path / f"q{row['skuId']}.jpg"
        crop.write_bytes(encode(image.crop((w // 10, h // 10, w - w // 12, h - h // 9))))
        queries.append(f"{crop.name},{row['skuId']}")
    lines.append("bad,row")
    catalog.write_text("\n".join(lines) + "\n")
    (tmp_path / "queries.csv").write_text("\n".join(queries) + "\n")
    return catalog, tmp_path / "queries.csv"


@pytest.mark.django_db
def test_evaluate_prints_metrics_as_its_last_line(
    tiny_eval: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog, queries = tiny_eval
    report_file = tmp_path / "report.json"
    ranks_file = tmp_path / "ranks.csv"
    call_command(
        "evaluate", str(catalog), str(queries), "--json", str(report_file), "--ranks", str(ranks_file), verbosity=0
    )
    out = capsys.readouterr().out.strip().splitlines()
    report = json.loads(out[-1])
    assert report["n"] == 4
    assert report["r1"] == 1.0 and report["r10"] == 1.0 and report["mrr"] == 1.0
    # Four photos out of four say little: R@1's 95 % interval still reaches down to about a half.
    assert report["r1_high"] == 1.0 and report["r1_low"] == pytest.approx(0.51, abs=0.01)
    assert [line.split()[:4] for line in out if line.startswith("all ")] == [["all", "4", "1.000", "0.510-1.000"]]
    assert set(report["per_cid1"]) <= {"Fruit", "Vegetables", "Packages"}
    assert sum(group["n"] for group in report["per_cid1"].values()) == 4
    assert report["p50_ms"] > 0
    assert json.loads(report_file.read_text()) == report
    # Each photo's rank, for `manage.py compare_ranks`: all four found first here.
    ranks = read_ranks(ranks_file)
    assert list(ranks.values()) == [1, 1, 1, 1]
    assert sorted(ranks) == sorted(line.split(",")[0] for line in queries.read_text().split()[1:])
    assert len(ranks) == len(queries.read_text().splitlines()) - 1


@pytest.mark.django_db
def test_evaluate_leaves_the_app_catalog_and_history_alone(
    tiny_eval: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    catalog, queries = tiny_eval
    call_command("evaluate", str(catalog), str(queries), "--limit", "2", verbosity=0)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 2
    assert Product.objects.count() == 0
    assert Search.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("option", "checks"), [("--quick", [True] * 4), ("--busy", []), (None, [False] * 4)])
def test_evaluate_answers_as_a_busy_server_would_when_told(
    tiny_eval: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    checks: list[bool],
) -> None:
    """--quick: every photo gets the quick SIFT check; --busy: none (the light re-rank); neither: the full one."""
    quick_or_not: list[bool] = []
    original = local.query_local

    def spy(photo: Image.Image, *, quick: bool = False, **others: Any) -> local.LocalFeatures:
        quick_or_not.append(quick)
        return original(photo, quick=quick, **others)

    monkeypatch.setattr(local, "query_local", spy)
    catalog, queries = tiny_eval
    call_command("evaluate", str(catalog), str(queries), *([option] if option else []), verbosity=0)
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["n"] == 4 and report["r1"] == 1.0
    assert quick_or_not == checks


def test_evaluate_takes_one_busy_mode_at_a_time(tiny_eval: tuple[Path, Path]) -> None:
    catalog, queries = tiny_eval
    with pytest.raises(CommandError):
        call_command("evaluate", str(catalog), str(queries), "--busy", "--quick", verbosity=0)


def test_evaluate_refuses_an_output_file_in_a_missing_folder_before_it_starts(
    tiny_eval: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, queries = tiny_eval
    monkeypatch.setattr("catalog.management.commands.evaluate.build_memory_searcher", pytest.fail)
    for option in ("--json", "--ranks"):
        with pytest.raises(CommandError, match="folder does not exist"):
            call_command("evaluate", str(catalog), str(queries), option, str(tmp_path / "no" / "out"), verbosity=0)
        with pytest.raises(CommandError, match="is a folder"):  # it was written to after the whole run, and failed
            call_command("evaluate", str(catalog), str(queries), option, str(tmp_path), verbosity=0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"image,skuId\nq1.jpg,1\n", "the header lacks imageUrl; a queries file needs imageUrl,skuId"),
        (b"imageUrl,sku\nq1.jpg,1\n", "the header lacks skuId"),
        (b"imageUrl,skuId\n", "no queries under the header"),
        (encode(Image.new("RGB", (8, 8))), "not UTF-8 text"),  # a photo passed as the queries file
    ],
)
def test_a_bad_queries_file_is_named_before_the_index_is_built(
    tiny_eval: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    catalog, queries = tiny_eval
    queries.write_bytes(content)
    monkeypatch.setattr("catalog.management.commands.evaluate.build_memory_searcher", pytest.fail)
    with pytest.raises(CommandError, match=f"^{re.escape(str(queries))}: {message}"):
        call_command("evaluate", str(catalog), str(queries), verbosity=0)


@pytest.mark.parametrize("limit", ["-3", "0"])
def test_a_limit_below_one_is_refused(
    tiny_eval: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    catalog, queries = tiny_eval
    monkeypatch.setattr("catalog.management.commands.evaluate.build_memory_searcher", pytest.fail)
    with pytest.raises(CommandError, match="--limit must be 1 or more"):
        call_command("evaluate", str(catalog), str(queries), "--limit", limit, verbosity=0)


@pytest.mark.django_db
def test_a_catalog_without_one_usable_product_stops_instead_of_scoring_zero(
    tiny_eval: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, queries = tiny_eval
    photo = next(tmp_path.glob("q*.jpg"))  # a photo passed as the catalog: no UTF-8 or GB18030 text
    with pytest.raises(CommandError, match="no product could be indexed"):
        call_command("evaluate", str(photo), str(queries), verbosity=0)
    captured = capsys.readouterr()
    assert "neither UTF-8 nor GB18030" in captured.err  # the reason is printed above
    assert "R@1" not in captured.out and "errors" not in captured.out
