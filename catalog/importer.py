"""Import catalog rows: upsert products, store their pictures, embed them in batches.

Idempotent and resumable: a product is matched by skuId, a picture by the
hash of its bytes, and a picture whose features were already computed by the
same engine version is not embedded again. Work is committed batch by batch,
so an interrupted import picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from catalog.index import LocalIndex
from catalog.models import Product, ProductImage
from catalog.rows import CatalogRow, RowError
from vision.prepare import ImageRejected, encode_jpeg, prepare_image

STORED_PICTURE_SIDE = 1024
SAVE_EVERY = 5000


@dataclass
class ImportSummary:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    pictures_embedded: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {len(self.skipped)}, pictures embedded {self.pictures_embedded}, "
            f"{self.seconds:.1f} s"
        )


@dataclass
class LoadedPicture:
    ref: str
    data: bytes
    image: Image.Image
    digest: str


class PictureUnavailable(Exception):
    pass


def load_picture(ref: str, base_dir: Path) -> LoadedPicture:
    if ref.lower().startswith(("http://", "https://")):
        from catalog.fetch import FetchError, safe_fetch

        try:
            data = safe_fetch(ref, max_bytes=settings.SNAPSHOP_MAX_UPLOAD_BYTES, timeout=10.0)
        except FetchError as exc:
            raise PictureUnavailable(f"{ref}: {exc}") from exc
    else:
        path = (base_dir / ref).resolve()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PictureUnavailable(f"{ref}: cannot read the file ({exc.strerror})") from exc
    try:
        prepared = prepare_image(data, max_pixels=settings.SNAPSHOP_MAX_IMAGE_PIXELS, max_side=STORED_PICTURE_SIDE)
    except ImageRejected as exc:
        raise PictureUnavailable(f"{ref}: {exc.message}") from exc
    return LoadedPicture(ref=ref, data=data, image=prepared.image, digest=hashlib.sha256(data).hexdigest())


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
        self._pool = ThreadPoolExecutor(max_workers=4)

    def run(self, rows: Iterable[CatalogRow | RowError]) -> ImportSummary:
        started = time.perf_counter()
        batch: list[CatalogRow] = []
        try:
            for row in rows:
                if isinstance(row, RowError):
                    self.summary.skipped.append((row.line, row.reason))
                    self.on_progress(1)
                    continue
                batch.append(row)
                if len(batch) >= self.batch_size:
                    self._import_batch(batch)
                    batch = []
            self._import_batch(batch)
        finally:
            self.index.save()
            self._pool.shutdown()
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _import_batch(self, rows: list[CatalogRow]) -> None:
        if not rows:
            return
        loaded = list(self._pool.map(self._load_all, rows))
        to_embed: list[tuple[ProductImage, Image.Image]] = []
        for row, (pictures, problems) in zip(rows, loaded, strict=True):
            if not pictures:
                self.summary.skipped.append((row.line, "; ".join(problems) or "no usable picture"))
                continue
            with transaction.atomic():
                to_embed += self._upsert(row, pictures)
        for start in range(0, len(to_embed), self.batch_size):
            chunk = to_embed[start : start + self.batch_size]
            self.index.add_pictures([p for p, _ in chunk], [img for _, img in chunk])
            self.summary.pictures_embedded += len(chunk)
            self._unsaved += len(chunk)
        # Vectors are committed on their rows already; the index file is only a cache of them,
        # and rewriting it is costly at scale, so it is saved every few thousand pictures.
        if self._unsaved >= SAVE_EVERY:
            self.index.save()
            self._unsaved = 0
        self.on_progress(len(rows))

    def _load_all(self, row: CatalogRow) -> tuple[list[LoadedPicture], list[str]]:
        pictures, problems = [], []
        for ref in row.image_refs:
            try:
                pictures.append(load_picture(ref, self.base_dir))
            except PictureUnavailable as exc:
                problems.append(str(exc))
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
        }
        product = Product.objects.filter(sku_id=row.sku_id).first()
        attrs_changed = False
        if product is None:
            product = Product.objects.create(sku_id=row.sku_id, source=self.source, **values)
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
                row.image.save(name, ContentFile(encode_jpeg(loaded.image)), save=False)
                row.save()
            elif row.position != position:
                row.position = position
                row.save(update_fields=["position"])
            if row.features_version != self.index.engine.version or not row.vector:
                to_embed.append((row, loaded.image))
        if attrs_changed:
            self.index.update_attributes(product)
        return to_embed
