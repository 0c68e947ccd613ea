from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from tqdm import tqdm

from catalog import benchmark as bench
from catalog.memory import build_memory_searcher
from catalog.rows import RowError, read_catalog
from vectors.exact import ExactStore
from vectors.factory import STORE_NAMES
from vision.engine import get_engine
from vision.model import ModelUnavailable

DEFAULT_CATALOG = Path(settings.BASE_DIR) / "demo" / "catalog.csv"


def unapplied_migrations() -> bool:
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class Command(BaseCommand):
    help = "Measure embedding, search and index speed on this machine; prints a table, then one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sizes", default="10000,100000,1000000", help="index sizes (synthetic vectors)")
        parser.add_argument("--store", choices=STORE_NAMES, default="hnsw", help="vector store for the index figures")
        parser.add_argument(
            "--catalog", type=Path, default=DEFAULT_CATALOG, help="real pictures for the search figures"
        )
        parser.add_argument("--queries", type=int, default=60, help="photos per search measurement")
        parser.add_argument("--batch", type=int, default=32, help="import batch size")
        parser.add_argument("--json", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        # Checked first: the index figures come last, after minutes of embedding and searching.
        sizes = [s.strip() for s in options["sizes"].split(",") if s.strip()]
        if not all(s.isdecimal() and int(s) > 0 for s in sizes):
            raise CommandError(
                f"--sizes takes whole numbers of 1 or more separated by commas, not {options['sizes']!r}."
            )
        if options["store"] == "pgvector" and not settings.SNAPSHOP_PGVECTOR_DSN:
            raise CommandError(
                "--store pgvector needs a PostgreSQL server with pgvector: set SNAPSHOP_PGVECTOR_DSN (or DATABASE_URL)."
            )
        if options["store"] == "milvus" and not settings.SNAPSHOP_MILVUS_URI:
            raise CommandError("--store milvus needs a Milvus server: set MILVUS_URI (e.g. http://127.0.0.1:19530).")
        if unapplied_migrations():
            # The web-stack searches write (and roll back) history and catalog rows in the app's database.
            raise CommandError("the database is not migrated: run `python manage.py migrate` (or `make migrate`)")
        if not options["catalog"].is_file():
            raise CommandError(f"{options['catalog']}: no such file (run `make demo` or pass --catalog)")
        try:
            engine = get_engine(Path(settings.SNAPSHOP_MODEL_PATH))
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        quiet = options["verbosity"] == 0
        say = (lambda text: None) if quiet else (lambda text: self.stderr.write(text))
        rows = [r for r in read_catalog(options["catalog"]) if not isinstance(r, RowError)]
        base = options["catalog"].resolve().parent
        pictures = [(base / r.image_refs[0]).read_bytes() for r in rows if not r.image_refs[0].startswith("http")]
        if not pictures:
            raise CommandError("the catalog has no local pictures to measure with")

        say("embedding…")
        report: dict[str, Any] = bench.embedding_speed(engine, pictures, options["batch"], options["queries"])
        say("building the search catalog…")
        searcher, _ = build_memory_searcher(engine, options["catalog"])
        photos = bench.query_photos(searcher, pictures, options["queries"])
        store = searcher.store
        assert isinstance(store, ExactStore)
        say("searches through the web stack…")
        searcher.rerank = False  # the figure: the whole search without local-feature re-ranking
        report.update(bench.web_search_speed(searcher, photos, floor=partial(bench.floor_once, engine, store)))
        searcher.rerank = True
        with_rerank = bench.web_search_speed(searcher, photos)
        report["search_rerank_p50_ms"] = with_rerank["search_p50_ms"]
        report["search_rerank_p99_ms"] = with_rerank["search_p99_ms"]
        report["ratio_to_floor"] = round(report["search_p50_ms"] / max(report["floor_ms"], 1e-6), 2)
        report["rss_mb"] = bench.rss_mb()
        report["catalog_pictures"] = len(store)

        from vectors.bench import run_index_benchmark

        with tqdm(total=len(sizes), unit="size", desc="index", disable=quiet) as bar:
            report["index"] = {}
            for size in sizes:
                report["index"].update(
                    run_index_benchmark(
                        [int(size)],
                        engine.dim,
                        options["store"],
                        dsn=settings.SNAPSHOP_PGVECTOR_DSN or None,
                        milvus_uri=settings.SNAPSHOP_MILVUS_URI or None,
                        milvus_token=settings.SNAPSHOP_MILVUS_TOKEN,
                    )
                )
                bar.update(1)
        report["store"] = options["store"]
        report["engine"] = engine.version
        self.print_table(report)
        line = json.dumps(report)
        if options["json"]:
            options["json"].write_text(line + "\n")
        self.stdout.write(line)

    def print_table(self, r: dict[str, Any]) -> None:
        self.stdout.write(
            f"embedding: {r['embed_ms_b1']} ms/photo at batch 1; catalog import without the database: "
            f"{r['embed_ips']} pictures/s (decode, vector, colour + SIFT extras), "
            f"searchable at {r['searchable_ips']} pictures/s (decode, vector); "
            f"CPU {r['embed_cpu_ms']} ms/picture ({r['searchable_cpu_ms']} ms searchable)"
        )
        self.stdout.write(f"bare floor (decode + model + exact search): {r['floor_ms']} ms")
        self.stdout.write(
            f"whole web search: p50 {r['search_p50_ms']} ms, p99 {r['search_p99_ms']} ms, "
            f"{r['ratio_to_floor']}× the floor; RSS {r['rss_mb']} MB"
        )
        self.stdout.write(
            f"whole web search with re-ranking (colour + SIFT): p50 {r['search_rerank_p50_ms']} ms, "
            f"p99 {r['search_rerank_p99_ms']} ms"
        )
        # Build = the adds plus the save: a server store (pgvector, Milvus) builds its graph when saved.
        self.stdout.write(f"{'index size':>12}{'p50 ms':>9}{'p99 ms':>9}{'R@10':>7}{'filt R@10':>11}{'build s':>9}")
        for size, m in r["index"].items():
            self.stdout.write(
                f"{size:>12}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}{m['recall10']:>7.3f}"
                f"{m['filtered_recall10']:>11.3f}{m.get('build_total_s', m['build_s']):>9.1f}"
            )
