"""Retrieval metrics: recall@k and MRR of the right product's rank, overall and per cid1."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KS = (1, 5, 10)


@dataclass
class QueryResult:
    sku_id: str
    cid1: str
    rank: int | None  # 1-based rank of the right product among the hits, None if absent
    latency_ms: float
    error: str = ""


def read_queries(path: Path) -> list[tuple[Path, str]]:
    base = path.resolve().parent
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [(base / row["imageUrl"], str(row["skuId"]).strip()) for row in csv.DictReader(handle)]


def spread(items: list[tuple[Path, str]], limit: int | None) -> list[tuple[Path, str]]:
    """At most `limit` queries, evenly spread so every product keeps its share."""
    if not limit or limit >= len(items):
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def metrics(results: list[QueryResult]) -> dict[str, float | int]:
    if not results:
        return {"n": 0}
    ranks = [r.rank for r in results]
    out: dict[str, float | int] = {"n": len(results)}
    for k in KS:
        out[f"r{k}"] = round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 4)
    out["mrr"] = round(sum(1.0 / r for r in ranks if r) / len(ranks), 4)
    return out


def summary(results: list[QueryResult]) -> dict[str, object]:
    latencies = np.array([r.latency_ms for r in results]) if results else np.zeros(1)
    report: dict[str, object] = dict(metrics(results))
    report["p50_ms"] = round(float(np.percentile(latencies, 50)), 1)
    report["p95_ms"] = round(float(np.percentile(latencies, 95)), 1)
    report["errors"] = sum(1 for r in results if r.error)
    groups = sorted({r.cid1 for r in results})
    report["per_cid1"] = {g: metrics([r for r in results if r.cid1 == g]) for g in groups}
    return report
