"""catalog.evaluation: recall, MRR and the 95 % interval around R@1 that `manage.py evaluate` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.evaluation import QueryResult, metrics, spread, wilson_interval


def results(ranks: list[int | None]) -> list[QueryResult]:
    return [QueryResult(sku_id=str(i), cid1="Packages", rank=r, latency_ms=1.0) for i, r in enumerate(ranks)]


def test_recall_and_mrr_count_the_right_product_s_rank() -> None:
    report = metrics(results([1, 2, 7, None]))
    assert report["n"] == 4
    assert (report["r1"], report["r5"], report["r10"]) == (0.25, 0.5, 0.75)
    assert report["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 7) / 4, abs=1e-4)


@pytest.mark.parametrize(
    ("hits", "n", "low", "high"),
    [
        (50, 100, 0.4038, 0.5962),  # textbook values of Wilson's interval
        (0, 10, 0.0, 0.2775),  # no hit still leaves room above zero
        (10, 10, 0.7225, 1.0),
    ],
)
def test_the_r1_interval_is_wilson_s(hits: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(hits, n) == pytest.approx((low, high), abs=5e-4)


def test_the_interval_narrows_with_more_photos_and_holds_the_measured_share() -> None:
    narrow, wide = wilson_interval(540, 1000), wilson_interval(54, 100)
    assert wide[0] < narrow[0] < 0.54 < narrow[1] < wide[1]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    report = metrics(results([1] * 54 + [None] * 46))
    assert (report["r1_low"], report["r1_high"]) == pytest.approx(wide, abs=1e-4)


def test_spread_keeps_every_product_s_share() -> None:
    items = [(Path(f"{i}.jpg"), str(i // 10)) for i in range(30)]  # three products' photos, in file order
    picked = spread(items, 9)
    assert len(picked) == 9
    assert sorted(sku for _, sku in picked) == ["0", "0", "0", "1", "1", "1", "2", "2", "2"]
    assert spread(items, None) == items and spread(items, 50) == items
