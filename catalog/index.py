"""The web app's local engine: the catalog in the database, its vectors in the configured store.

One `LocalIndex` per process. Vectors and re-rank extras live on the
ProductImage rows too, so a lost or corrupt index file is rebuilt from the
database (no re-embedding), and a store written by another process (the
import command) is picked up on the next search. What the rows hold, and the
searcher's view of them (DatabaseSource), is in catalog.features.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from PIL import Image

from catalog.features import DatabaseSource, indexed_pictures
from catalog.local_engine import LocalSearcher
from catalog.models import Product, ProductImage
from search.hits import ProductHit
from vectors.base import Attributes, Store, StoreUnavailable
from vision.engine import CatalogFeatures, Engine, get_engine

logger = logging.getLogger(__name__)


def attributes_for(product: Product) -> Attributes:
    return Attributes(
        product=product.pk,
        cid1=product.cid1,
        cid2=product.cid2,
        cid3=product.cid3,
        price=product.price_value(),
        self_operated=product.self_operated,
    )


def product_hit(product: Product, image_urls: list[str]) -> ProductHit:
    return ProductHit(
        sku_id=product.sku_id,
        sku_name=product.name,
        sku_price=product.price,
        ware_label=product.ware_label,
        image_url=image_urls[0] if image_urls else "",
        detail_url=product.detail_url,
        detail_app_url=product.detail_app_url,
        cid1=product.cid1,
        cid2=product.cid2,
        cid3=product.cid3,
        all_image_urls=image_urls,
        description=product.description,
    )


def open_store(dim: int, name: str | None = None) -> Store:
    """The configured store (or `name`), holding the catalog's picture vectors of dimension `dim`."""
    from vectors.factory import open_store as open_named_store

    return open_named_store(
        name or settings.SNAPSHOP_VECTOR_STORE,
        dim,
        index_dir=Path(settings.SNAPSHOP_INDEX_DIR),
        dsn=settings.SNAPSHOP_PGVECTOR_DSN or None,
        milvus_uri=settings.SNAPSHOP_MILVUS_URI or None,
        milvus_token=settings.SNAPSHOP_MILVUS_TOKEN,
        collection=f"catalog_{dim}",
    )


FILE_STORES = ("exact", "hnsw")


def discard_index_files(dim: int) -> None:
    for path in Path(settings.SNAPSHOP_INDEX_DIR).glob(f"catalog_{dim}.*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def store_file(store: Store) -> Path | None:
    """The file whose change means another process rewrote the index (None for server stores)."""
    path = getattr(store, "path", None)
    if isinstance(path, Path):
        return path
    index_dir = getattr(store, "index_dir", None)
    return index_dir / "CURRENT" if isinstance(index_dir, Path) else None


class LocalIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self.store = self._open_checked()
        self._stamp = self._file_stamp()
        self.searcher = self._new_searcher()

    def _new_searcher(self) -> LocalSearcher:
        return LocalSearcher(
            self.engine,
            self.store,
            DatabaseSource(self.engine.net),
            rerank=settings.SNAPSHOP_RERANK,
            max_in_flight=settings.SNAPSHOP_RERANK_MAX_IN_FLIGHT,
            max_quick_in_flight=settings.SNAPSHOP_RERANK_QUICK_MAX_IN_FLIGHT,
            max_cpu=settings.SNAPSHOP_RERANK_MAX_CPU / 100,
            max_quick_cpu=settings.SNAPSHOP_RERANK_QUICK_MAX_CPU / 100,
        )

    def _indexed_pictures(self) -> QuerySet[ProductImage]:
        return indexed_pictures(self.engine.version)

    def _open_checked(self) -> Store:
        try:
            store = open_store(self.engine.dim)
        except StoreUnavailable:
            raise
        except Exception as exc:  # a damaged file fails in many ways; the database has the truth
            if settings.SNAPSHOP_VECTOR_STORE not in FILE_STORES:
                raise
            logger.warning("vector index unreadable (%r); rebuilding it from the database", exc)
            discard_index_files(self.engine.dim)
            store = open_store(self.engine.dim)
        expected = set(self._indexed_pictures().values_list("pk", flat=True))
        if store.keys() != expected:
            logger.info("vector index out of date (%d vs %d pictures); rebuilding", len(store), len(expected))
            self._rebuild(store)
        return store

    def _rebuild(self, store: Store) -> None:
        store.clear()
        batch: list[ProductImage] = []
        for picture in self._indexed_pictures().select_related("product").iterator(chunk_size=2000):
            batch.append(picture)
            if len(batch) >= 2000:
                self._add_rows(store, batch)
                batch = []
        self._add_rows(store, batch)
        store.save()

    def _add_rows(self, store: Store, pictures: list[ProductImage]) -> None:
        vectors = [p.vector_array() for p in pictures]
        usable = [(p, v) for p, v in zip(pictures, vectors, strict=True) if v is not None and v.shape == (store.dim,)]
        if usable:
            store.add(
                [p.pk for p, _ in usable],
                np.stack([v for _, v in usable]),
                [attributes_for(p.product) for p, _ in usable],
            )

    def _file_stamp(self) -> float | None:
        path = store_file(self.store)
        try:
            return path.stat().st_mtime if path else None
        except FileNotFoundError:
            return None

    def refresh_if_changed(self) -> None:
        """Another process (the import command) may have written the index file since we loaded it."""
        stamp = self._file_stamp()
        if stamp != self._stamp:
            with self._lock:
                self.store = self._open_checked()
                self._stamp = self._file_stamp()
                self.searcher = self._new_searcher()

    def add_pictures(self, pictures: list[ProductImage], images: list[Image.Image]) -> None:
        """Embed, keep the features on the rows, and add them to the store."""
        self.add_features(pictures, self.engine.catalog_features(images))

    def add_features(self, pictures: list[ProductImage], features: Sequence[CatalogFeatures]) -> None:
        """Keep features computed by this engine on the rows and add them to the store.

        Pictures deleted meanwhile (the import computes features in other threads) are left out.
        """
        alive = set(ProductImage.objects.filter(pk__in=[p.pk for p in pictures]).values_list("pk", flat=True))
        kept = [(p, f) for p, f in zip(pictures, features, strict=True) if p.pk in alive]
        if not kept:
            return
        pictures, features = [p for p, _ in kept], [f for _, f in kept]
        for picture, feature in zip(pictures, features, strict=True):
            picture.vector = feature.vector.astype(np.float32).tobytes()
            picture.extras = feature.extras
            picture.features_version = self.engine.version
        ProductImage.objects.bulk_update(pictures, ["vector", "extras", "features_version"])
        self.searcher.forget([p.pk for p in pictures])
        with self._lock:
            self.store.add(
                [p.pk for p in pictures],
                np.stack([f.vector for f in features]),
                [attributes_for(p.product) for p in pictures],
            )

    def remove_pictures(self, keys: Sequence[int]) -> None:
        self.searcher.forget(keys)
        with self._lock:
            self.store.delete(list(keys))

    def update_attributes(self, product: Product) -> None:
        """Category, price or self-operated flag changed: re-file the product's indexed pictures under its
        attributes now, so filtered searches stay exact (the caller saves). Only pictures embedded by this
        engine version: older vectors wait for re-embedding and never join the index here."""
        rows = [(p.pk, p.vector_array()) for p in self._indexed_pictures().filter(product_id=product.pk)]
        usable = [(key, v) for key, v in rows if v is not None and v.shape == (self.store.dim,)]
        if not usable:
            return
        attrs = attributes_for(product)
        with self._lock:
            self.store.add([key for key, _ in usable], np.stack([v for _, v in usable]), [attrs] * len(usable))

    def save(self) -> None:
        with self._lock:
            self.store.save()
            self._stamp = self._file_stamp()


_index: LocalIndex | None = None
_index_lock = threading.Lock()
_override: LocalSearcher | None = None


@contextmanager
def override_searcher(searcher: LocalSearcher) -> Iterator[None]:
    """Serve local searches from another catalog (evaluation, benchmark) for the duration."""
    global _override
    previous, _override = _override, searcher
    try:
        yield
    finally:
        _override = previous


def get_searcher() -> LocalSearcher:
    return _override if _override is not None else get_local_index().searcher


def get_local_index() -> LocalIndex:
    global _index
    with _index_lock:
        if _index is None:
            _index = LocalIndex(get_engine(Path(settings.SNAPSHOP_MODEL_PATH)))
        else:
            _index.refresh_if_changed()
        return _index


def reset_local_index() -> None:
    """Forget the process's index (tests, and after a store switch)."""
    global _index
    with _index_lock:
        _index = None
