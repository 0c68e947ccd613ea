"""Import catalog rows: upsert products, store their pictures, embed them in batches.

Idempotent and resumable: a product is matched by skuId, a picture by the
hash of its bytes, and a picture whose features were already computed by the
same engine version is not embedded again. Work is committed batch by batch,
so an interrupted import picks up where it stopped (a picture row saved
without its features is embedded by the next run).

Two phases, so that a catalog becomes searchable at the speed of the
network: first every picture gets its vector (searchable from then on), then
the re-rank extras (colour histogram and SIFT keypoints, computed from the
stored copy) are added to the pictures that lack them — this run's, or an
interrupted run's. Until a picture has its extras, a search that needs them
computes and saves them itself (catalog.features.DatabaseSource).

A pipeline keeps both cores busy: worker threads read, hash and decode (catalog.pictures) the
next batch and encode the stored copies while the main thread writes the
database, and the vectors (ONNX Runtime, OpenCV and Pillow release the GIL)
are computed in other threads, a few chunks ahead of the main thread, which
saves them. The extras phase likewise computes in threads, saves in the main one.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.db import transaction
from PIL import Image

from catalog.features import missing_extras, picture_extras
from catalog.index import LocalIndex
from catalog.models import Product, ProductImage
from catalog.pictures import LoadedPicture, PictureUnavailable, PictureVectors, load_picture
from catalog.rows import CatalogRow, RowError
from vision.engine import CatalogFeatures

SAVE_EVERY = 5000
LOAD_WORKERS = 4  # reading (or fetching), hashing, decoding
EMBED_WORKERS = 2  # one thread's network run overlaps the other's colour and SIFT work
EMBED_CHUNK = 8  # pictures per vector (or extras) job
EMBED_AHEAD = 4  # jobs in flight before the main thread waits for the oldest


@dataclass
class ImportSummary:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    pictures_embedded: int = 0
    extras_computed: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    left_out: list[tuple[int, str]] = field(default_factory=list)  # unusable pictures of rows imported all the same
    searchable_seconds: float = 0.0  # phase 1: rows, stored pictures and vectors
    seconds: float = 0.0  # both phases

    def line(self) -> str:
        return (
            f"imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {len(self.skipped)}, "
            + (f"pictures left out {len(self.left_out)}, " if self.left_out else "")
            + f"pictures embedded {self.pictures_embedded}, "
            f"extras computed {self.extras_computed}; searchable after {self.searchable_seconds:.1f} s, "
            f"{self.seconds:.1f} s in all"
        )


class CatalogImporter:
    def __init__(
        self,
        index: LocalIndex,
        *,
        base_dir: Path,
        batch_size: int = 32,
        source: str = "import",
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.index = index
        self.base_dir = base_dir
        self.batch_size = batch_size
        self.source = source
        self.on_progress = on_progress or (lambda n: None)
        self.summary = ImportSummary()
        self._unsaved = 0
        self._loaders = ThreadPoolExecutor(max_workers=LOAD_WORKERS, thread_name_prefix="import-load")
        self._embedders = ThreadPoolExecutor(max_workers=EMBED_WORKERS, thread_name_prefix="import-embed")
        self._in_flight: deque[tuple[list[ProductImage], Future[list[np.ndarray]]]] = deque()
        self._vectors = PictureVectors(index.engine)

    def run(
        self, rows: Iterable[CatalogRow | RowError], *, on_extras_progress: Callable[[int], None] | None = None
    ) -> ImportSummary:
        """Both phases: the rows with their pictures' vectors, then the missing re-rank extras."""
        started = time.perf_counter()
        self.import_rows(rows)
        self.summary.searchable_seconds = time.perf_counter() - started
        self.complete_extras(on_progress=on_extras_progress)
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def import_rows(self, rows: Iterable[CatalogRow | RowError]) -> ImportSummary:
        """Phase 1: products, stored pictures and vectors (searchable once this returns)."""
        started = time.perf_counter()
        # The app's long-lived objects leave the collector's sight for the import: full collections
        # over them, set off by the import's many short-lived objects, were ~8 % of py-spy's samples.
        gc.freeze()
        try:
            # While a batch is written and embedded, the next one is being read and decoded.
            ahead: tuple[list[CatalogRow], list[Future[tuple[list[LoadedPicture], list[str]]]]] | None = None
            for batch in self._batches(rows):
                loads = [self._loaders.submit(self._load_all, row) for row in batch]
                if ahead is not None:
                    self._import_batch(*ahead)
                ahead = (batch, loads)
            if ahead is not None:
                self._import_batch(*ahead)
            self._collect(0)
        finally:
            # Interrupted: features still being computed are dropped; their rows (saved without
            # features) are embedded by the next run.
            self._loaders.shutdown(cancel_futures=True)
            self._embedders.shutdown(cancel_futures=True)
            self.index.save()
            gc.unfreeze()
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def complete_extras(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Phase 2: re-rank extras for every picture of this engine version that lacks them."""
        progress = on_progress or (lambda n: None)
        vectors = self._vectors  # each extras thread runs its own single-threaded session, as in phase 1
        keys = list(missing_extras(self.index.engine.version).order_by("pk").values_list("pk", flat=True))
        pool = ThreadPoolExecutor(max_workers=EMBED_WORKERS, thread_name_prefix="import-extras")
        in_flight: deque[tuple[list[ProductImage], Future[list[bytes]]]] = deque()
        done = 0
        try:
            for start in range(0, len(keys), EMBED_CHUNK):
                pictures = list(ProductImage.objects.filter(pk__in=keys[start : start + EMBED_CHUNK]).only("image"))
                job = pool.submit(lambda chunk: [picture_extras(p, vectors.net()) for p in chunk], pictures)
                in_flight.append((pictures, job))
                while len(in_flight) > (EMBED_AHEAD if start + EMBED_CHUNK < len(keys) else 0):
                    saved, job = in_flight.popleft()
                    blobs = job.result()
                    for picture, blob in zip(saved, blobs, strict=True):
                        picture.extras = blob
                    ProductImage.objects.bulk_update([p for p, b in zip(saved, blobs, strict=True) if b], ["extras"])
                    done += sum(1 for b in blobs if b)
                    progress(len(saved))
        finally:
            pool.shutdown(cancel_futures=True)
        self.summary.extras_computed += done
        return done

    def _batches(self, rows: Iterable[CatalogRow | RowError]) -> Iterator[list[CatalogRow]]:
        batch: list[CatalogRow] = []
        for row in rows:
            if isinstance(row, RowError):
                self.summary.skipped.append((row.line, row.reason))
                self.on_progress(1)
                continue
            batch.append(row)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _import_batch(self, rows: list[CatalogRow], loads: list[Future[tuple[list[LoadedPicture], list[str]]]]) -> None:
        to_embed: list[tuple[ProductImage, Image.Image]] = []
        with transaction.atomic():
            for row, load in zip(rows, loads, strict=True):
                pictures, problems = load.result()
                if not pictures:
                    problem = row.problem("; ".join(problems) or "no usable picture")
                    self.summary.skipped.append((problem.line, problem.reason))
                    continue
                # The row's other pictures are imported; these are said, not dropped without a word.
                self.summary.left_out += [(found.line, found.reason) for found in map(row.problem, problems)]
                to_embed += self._upsert(row, pictures)
        for start in range(0, len(to_embed), EMBED_CHUNK):
            chunk = to_embed[start : start + EMBED_CHUNK]
            job = self._embedders.submit(self._vectors, [img for _, img in chunk])
            self._in_flight.append(([p for p, _ in chunk], job))
        self._collect(EMBED_AHEAD)
        self.on_progress(len(rows))

    def _collect(self, keep: int) -> None:
        """Save the features of the oldest jobs until at most `keep` are in flight."""
        while len(self._in_flight) > keep:
            pictures, job = self._in_flight.popleft()
            self.index.add_features(pictures, [CatalogFeatures(vector=v) for v in job.result()])
            self.summary.pictures_embedded += len(pictures)
            self._unsaved += len(pictures)
        # Vectors are committed on their rows already; the index file is only a cache of them,
        # and rewriting it is costly at scale, so it is saved every few thousand pictures.
        if self._unsaved >= SAVE_EVERY:
            self.index.save()
            self._unsaved = 0

    def _load_all(self, row: CatalogRow) -> tuple[list[LoadedPicture], list[str]]:
        pictures, problems = [], []
        for ref in row.image_refs:
            try:
                picture = load_picture(ref, self.base_dir)
            except PictureUnavailable as exc:
                problems.append(str(exc))
                continue
            picture.stored_jpeg()
            pictures.append(picture)
        return pictures, problems

    def _upsert(self, row: CatalogRow, pictures: list[LoadedPicture]) -> list[tuple[ProductImage, Image.Image]]:
        values = {
            "name": row.name,
            "price": row.price,
            "ware_label": row.ware_label,
            "cid1": row.cid1,
            "cid2": row.cid2,
            "cid3": row.cid3,
            "detail_url": row.detail_url,
            "detail_app_url": row.detail_app_url,
            "description": row.description,
            # The import takes the product over: learning from Juhe refreshes only source "juhe" products,
            # so one it learnt first would otherwise be overwritten by Juhe's next answer.
            "source": self.source,
        }
        product = Product.objects.filter(sku_id=row.sku_id).first()
        attrs_changed = False
        if product is None:
            product = Product.objects.create(sku_id=row.sku_id, **values)
            self.summary.imported += 1
        else:
            changed = {k: v for k, v in values.items() if getattr(product, k) != v}
            if changed:
                attrs_changed = bool({"price", "ware_label", "cid1", "cid2", "cid3"} & set(changed))
                for key, value in changed.items():
                    setattr(product, key, value)
                product.save()
                self.summary.updated += 1
            else:
                self.summary.unchanged += 1
        return self._sync_pictures(product, pictures, attrs_changed)

    def _sync_pictures(
        self, product: Product, pictures: list[LoadedPicture], attrs_changed: bool
    ) -> list[tuple[ProductImage, Image.Image]]:
        existing = {p.content_hash: p for p in product.images.all()}
        wanted = {p.digest for p in pictures}
        stale = [p for digest, p in existing.items() if digest not in wanted]
        if stale:
            self.index.remove_pictures([p.pk for p in stale])
            for picture in stale:
                picture.image.delete(save=False)
                picture.delete()
        to_embed = []
        for position, loaded in enumerate(pictures):
            row = existing.get(loaded.digest)
            if row is None:
                row = ProductImage(product=product, position=position, source_url=loaded.ref[:1000])
                row.content_hash = loaded.digest
                name = f"{loaded.digest[:24]}.jpg"
                row.store_file(name, loaded.stored_jpeg())
                row.save()
            elif row.position != position:
                row.position = position
                row.save(update_fields=["position"])
            if row.features_version != self.index.engine.version or not row.vector:
                to_embed.append((row, loaded.image))
        if attrs_changed:
            self.index.update_attributes(product)
        return to_embed
