from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.evaluation import QueryResult, read_queries, spread, summary, write_ranks
from catalog.index import override_searcher
from catalog.memory import build_memory_searcher
from catalog.rows import RowError, read_catalog
from search.services import run_search
from vision.engine import get_engine
from vision.model import ModelUnavailable


class Command(BaseCommand):
    help = (
        "Measure retrieval on a throw-away index: CATALOG_CSV (import format) against QUERIES_CSV "
        "(imageUrl,skuId). Prints recall@1/5/10 (R@1 with its 95 % interval), MRR, latency; the last line is JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog", type=Path)
        parser.add_argument("queries", type=Path)
        parser.add_argument("--json", type=Path, help="also write the JSON report to this file")
        parser.add_argument("--limit", type=int, help="evaluate at most N queries, spread evenly")
        parser.add_argument(
            "--ranks", type=Path, help="also write each photo's rank to this CSV (for `manage.py compare_ranks`)"
        )
        tier = parser.add_mutually_exclusive_group()
        tier.add_argument(
            "--busy",
            action="store_true",
            help="as a busy server answers: the light re-rank (colour and views, no SIFT) instead of the full one",
        )
        tier.add_argument(
            "--quick",
            action="store_true",
            help="as a server with a few searches at once answers: the quick re-rank (a shorter SIFT check)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for path in (options["catalog"], options["queries"]):
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        for output in (options["json"], options["ranks"]):
            if output is not None and not output.resolve().parent.is_dir():  # known now, not after the whole run
                raise CommandError(f"{output}: its folder does not exist")
            if output is not None and output.is_dir():
                raise CommandError(f"{output} is a folder: name a file to write")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        try:  # before the index is built, which takes minutes on a real catalog
            queries = spread(read_queries(options["queries"]), options["limit"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        quiet = options["verbosity"] == 0
        try:
            engine = get_engine(Path(settings.SNAPSHOP_MODEL_PATH))
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        rows = [r for r in read_catalog(options["catalog"]) if not isinstance(r, RowError)]
        cid1_of = {r.sku_id: r.cid1 for r in rows}
        started = time.perf_counter()
        with tqdm(total=len(rows), unit="product", desc="index", disable=quiet) as bar:
            searcher, problems = build_memory_searcher(
                engine, options["catalog"], rerank=settings.SNAPSHOP_RERANK, on_progress=bar.update
            )
        searcher.forced = "light" if options["busy"] else "quick" if options["quick"] else None
        for problem in problems:
            self.stderr.write(f"catalog: {problem}")
        if not len(searcher.store):  # every search would miss: no figure to report
            raise CommandError(f"{options['catalog']}: no product could be indexed, so there is nothing to search.")
        index_seconds = time.perf_counter() - started

        results: list[QueryResult] = []
        with override_searcher(searcher):
            for path, sku in tqdm(queries, unit="photo", desc="search", disable=quiet):
                results.append(self.evaluate_one(path, sku, cid1_of.get(sku, "")))
        report = summary(results)
        report["index_s"] = round(index_seconds, 1)
        report["engine"] = engine.version
        self.print_table(report)
        line = json.dumps(report, ensure_ascii=False)
        if options["json"]:
            options["json"].write_text(line + "\n")
        if options["ranks"]:
            write_ranks(options["ranks"], queries, results, options["queries"].resolve().parent)
        self.stdout.write(line)

    def evaluate_one(self, path: Path, sku: str, cid1: str) -> QueryResult:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return QueryResult(sku, cid1, None, 0.0, error=str(exc))
        outcome = run_search(data, backend="local", limit=10)
        skus = [hit.sku_id for hit in outcome.hits]
        rank = skus.index(sku) + 1 if sku in skus else None
        return QueryResult(sku, cid1, rank, float(outcome.latency_ms), error=outcome.error_code)

    def print_table(self, report: dict[str, Any]) -> None:
        self.stdout.write(f"{'split':<14}{'n':>6}{'R@1':>8}{'R@1 95 % CI':>16}{'R@5':>8}{'R@10':>8}{'MRR':>8}")
        groups = [("all", report)] + list(report["per_cid1"].items())
        for name, m in groups:
            interval = f"{m.get('r1_low', 0):.3f}-{m.get('r1_high', 1):.3f}"
            self.stdout.write(
                f"{name:<14}{m['n']:>6}{m.get('r1', 0):>8.3f}{interval:>16}{m.get('r5', 0):>8.3f}"
                f"{m.get('r10', 0):>8.3f}{m.get('mrr', 0):>8.3f}"
            )
        self.stdout.write(
            f"latency p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms; errors {report['errors']}; "
            f"index built in {report['index_s']} s"
        )
