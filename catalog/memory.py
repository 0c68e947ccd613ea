"""A throw-away catalog held in memory: built from a catalog file, never touching the database.

The evaluation and benchmark commands search it through the same service path
as the web page (see `catalog.index.override_searcher`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from catalog.local_engine import CatalogSource, LocalSearcher, PictureInfo
from catalog.pictures import PictureUnavailable, load_picture
from catalog.rows import CatalogRow, RowError, read_catalog
from search.hits import ProductHit
from vectors.base import Attributes
from vectors.exact import ExactStore
from vision.engine import Engine


@dataclass
class MemorySource(CatalogSource):
    info: dict[int, PictureInfo] = field(default_factory=dict)
    blobs: dict[int, bytes] = field(default_factory=dict)

    def extras(self, keys: Sequence[int], *, compute_missing: bool = True) -> dict[int, bytes]:
        return {k: self.blobs.get(k, b"") for k in keys}

    def pictures(self, keys: Sequence[int]) -> dict[int, PictureInfo]:
        return {k: self.info[k] for k in keys if k in self.info}


def row_hit(row: CatalogRow) -> ProductHit:
    return ProductHit(
        sku_id=row.sku_id,
        sku_name=row.name,
        sku_price=row.price,
        ware_label=row.ware_label,
        detail_url=row.detail_url,
        detail_app_url=row.detail_app_url,
        cid1=row.cid1,
        cid2=row.cid2,
        cid3=row.cid3,
    )


def build_memory_searcher(
    engine: Engine,
    catalog_file: Path,
    *,
    batch_size: int = 16,
    rerank: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[LocalSearcher, list[str]]:
    """Embed every picture of the file; returns the searcher and the problems met."""
    source = MemorySource()
    store = ExactStore(engine.dim)
    problems: list[str] = []
    pending: list[tuple[int, CatalogRow, int]] = []
    images: list[Image.Image] = []
    next_key = 1

    def flush() -> None:
        features = engine.catalog_features(images)
        store.add(
            [key for key, _, _ in pending],
            np.stack([f.vector for f in features]),
            [
                Attributes(
                    product=product,
                    cid1=r.cid1,
                    cid2=r.cid2,
                    cid3=r.cid3,
                    price=float(r.price) if r.price is not None else None,
                )
                for _, r, product in pending
            ],
        )
        for (key, _, _), feature in zip(pending, features, strict=True):
            source.blobs[key] = feature.extras
        pending.clear()
        images.clear()

    base_dir = catalog_file.resolve().parent
    for product, row in enumerate(read_catalog(catalog_file), start=1):
        if isinstance(row, RowError):
            problems.append(str(row))
            continue
        for ref in row.image_refs:
            try:
                picture = load_picture(ref, base_dir)
            except PictureUnavailable as exc:
                problems.append(f"line {row.line}: {exc}")
                continue
            source.info[next_key] = PictureInfo(product_key=product, hit=row_hit(row))
            pending.append((next_key, row, product))
            images.append(picture.image)
            next_key += 1
            if len(pending) >= batch_size:
                flush()
        if on_progress:
            on_progress(1)
    if pending:
        flush()
    return LocalSearcher(engine, store, source, rerank=rerank), problems
