from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.features import missing_extras
from catalog.importer import CatalogImporter
from catalog.index import get_local_index
from catalog.models import Product
from catalog.rows import UnreadableText, read_catalog, text_encoding
from vision.model import ModelUnavailable


class Command(BaseCommand):
    help = (
        "Import a catalog CSV, JSON Lines or JSON array file (skuId, skuName, skuPrice, ..., imageUrl): "
        "idempotent, resumable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--source", default="import", help="recorded on the products imported (import, demo...)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        source, limit_of_source = options["source"].strip(), Product._meta.get_field("source").max_length or 20
        if not path.is_file():
            raise CommandError(f"{path}: {'a folder, not a file' if path.is_dir() else 'no such file'}")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more")
        if not source or len(source) > limit_of_source:
            raise CommandError(f"--source must have 1 to {limit_of_source} characters")
        try:
            encoding = text_encoding(path)
        except UnreadableText as exc:
            raise CommandError(f"{path}: {exc}") from exc
        if encoding != "utf-8-sig":
            self.stdout.write(f"{path} is not UTF-8: read as {encoding.upper()}")
        try:
            index = get_local_index()
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        total = sum(1 for _ in read_catalog(path, encoding))
        quiet = options["verbosity"] == 0
        started = time.perf_counter()
        importer = CatalogImporter(
            index, base_dir=path.resolve().parent, batch_size=options["batch_size"], source=source
        )
        try:
            with tqdm(total=total, unit="row", desc="import", disable=quiet) as bar:
                importer.on_progress = bar.update
                importer.import_rows(read_catalog(path, encoding))
            # Searchable from here on; the re-rank extras follow (a search computes any it needs meanwhile).
            importer.summary.searchable_seconds = time.perf_counter() - started
            missing = missing_extras(index.engine.version).count()
            with tqdm(total=missing, unit="picture", desc="extras", disable=quiet) as bar:
                importer.complete_extras(on_progress=bar.update)
        except KeyboardInterrupt:
            # The importer has saved what it finished (rows, vectors, the index); the next run skips it.
            done = importer.summary
            self.stderr.write(
                f"Interrupted: {done.imported + done.updated + done.unchanged} rows saved, "
                f"{done.pictures_embedded} pictures made searchable. Run the same command again to go on from there."
            )
            raise SystemExit(130) from None
        summary = importer.summary
        summary.seconds = time.perf_counter() - started
        said = [(line, f"skipped line {line}: {reason}") for line, reason in summary.skipped]
        said += [(line, f"line {line}: picture left out: {reason}") for line, reason in summary.left_out]
        for _, text in sorted(said, key=lambda item: item[0]):  # in the file's order, rows and pictures alike
            self.stderr.write(text)
        self.stdout.write(summary.line())
