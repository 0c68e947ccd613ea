from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.features import indexed_pictures
from catalog.index import attributes_for, open_store
from catalog.models import ProductImage
from vectors.factory import STORE_NAMES
from vision.engine import get_engine
from vision.model import ModelUnavailable


class Command(BaseCommand):
    help = "Copy the catalog's picture vectors (kept in the database) into a vector store, e.g. to move stores."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", choices=STORE_NAMES, default=None, help="default: SNAPSHOP_VECTOR_STORE")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["store"] or settings.SNAPSHOP_VECTOR_STORE
        try:
            engine = get_engine(Path(settings.SNAPSHOP_MODEL_PATH))
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        try:
            store = open_store(engine.dim, name)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        pictures = indexed_pictures(engine.version)
        stale = ProductImage.objects.exclude(features_version=engine.version).count()
        started = time.perf_counter()
        store.clear()
        batch: list[ProductImage] = []
        with tqdm(
            total=pictures.count(), unit="picture", desc=f"reindex → {name}", disable=options["verbosity"] == 0
        ) as bar:
            for picture in pictures.select_related("product").iterator(chunk_size=options["batch_size"]):
                batch.append(picture)
                if len(batch) >= options["batch_size"]:
                    self.add(store, batch)
                    bar.update(len(batch))
                    batch = []
            self.add(store, batch)
            bar.update(len(batch))
        store.save()
        self.stdout.write(f"{len(store)} vectors in the {name} store, {time.perf_counter() - started:.1f} s")
        if stale:
            self.stderr.write(f"{stale} pictures have features of another engine version: re-import to embed them")
        if name != settings.SNAPSHOP_VECTOR_STORE:
            self.stdout.write(f"serve from it with SNAPSHOP_VECTOR_STORE={name}")

    def add(self, store: Any, pictures: list[ProductImage]) -> None:
        candidates = [(p, p.vector_array()) for p in pictures]
        rows = [(p, v) for p, v in candidates if v is not None and v.shape == (store.dim,)]
        if rows:
            store.add(
                [p.pk for p, _ in rows], np.stack([v for _, v in rows]), [attributes_for(p.product) for p, _ in rows]
            )
