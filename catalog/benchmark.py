"""Speed figures of the whole engine on this machine (the `benchmark` command's measurements)."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from catalog.features import DatabaseSource, stored_extras
from catalog.importer import EMBED_CHUNK, EMBED_WORKERS, LOAD_WORKERS
from catalog.index import override_searcher
from catalog.local_engine import CatalogSource, LocalSearcher, PictureInfo
from catalog.models import Product, ProductImage
from catalog.pictures import LoadedPicture, PictureVectors, decode_picture
from search.services import prepare_query_photo
from vectors.exact import ExactStore
from vision.engine import Engine
from vision.prepare import encode_jpeg, prepare_image


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values), q)), 2) if values else 0.0


def query_photos(searcher: LocalSearcher, pictures: list[bytes], count: int) -> list[bytes]:
    """Shopper-like photos: catalog pictures cropped off-centre and re-encoded."""
    photos = []
    for i in range(count):
        image = prepare_image(pictures[i % len(pictures)]).image
        w, h = image.size
        box = (int(w * 0.05 * (i % 3)), int(h * 0.04 * (i % 2)), int(w * (0.9 + 0.03 * (i % 3))), int(h * 0.93))
        photos.append(encode_jpeg(image.crop(box), max_side=1600))
    return photos


def embedding_speed(engine: Engine, pictures: list[bytes], batch: int, rounds: int) -> dict[str, float]:
    """ms per query photo at batch 1, and catalog import throughput (see import_speed)."""
    images = [prepare_image(p).image for p in pictures[:4]]
    engine.query_features(images[0])  # warm-up
    single = []
    for i in range(rounds):
        started = time.perf_counter()
        engine.query_features(prepare_query_photo(pictures[i % len(pictures)]).image)
        single.append((time.perf_counter() - started) * 1000)
    return {"embed_ms_b1": percentile(single, 50), **import_speed(engine, pictures, max(2 * batch, 64))}


def import_speed(engine: Engine, pictures: list[bytes], count: int) -> dict[str, float]:
    """Catalog pictures per second through the import's own work, with its threads, without the database.

    Phase 1 (searchable): hash, decode, stored copy, vector; phase 2: the re-rank extras (colour,
    SIFT, two view vectors) from the stored copy. `embed_ips` is the whole (decode and every feature a catalog picture
    needs), `searchable_ips` phase 1 alone; both as measured by the wall clock on this machine, and
    the CPU time per picture of each (all threads).
    """
    chunk = (pictures * (count // max(1, len(pictures)) + 1))[:count]
    vectors = PictureVectors(engine)
    with (
        ThreadPoolExecutor(LOAD_WORKERS) as loaders,
        ThreadPoolExecutor(EMBED_WORKERS) as embedders,
    ):
        # Warm-up: each embedding thread loads its model session on first use (~0.3 s of CPU, once per
        # import, not per picture); a barrier makes every thread take one warm-up job.
        barrier = threading.Barrier(EMBED_WORKERS)
        warm = [prepare_image(chunk[0]).image]

        def warm_up() -> None:
            barrier.wait()
            vectors(warm)

        for job in [embedders.submit(warm_up) for _ in range(EMBED_WORKERS)]:
            job.result()
        cpu = time.process_time()
        started = time.perf_counter()
        loaded = [loaders.submit(_load, data) for data in chunk]
        jobs = []
        for start in range(0, len(loaded), EMBED_CHUNK):
            images = [job.result().image for job in loaded[start : start + EMBED_CHUNK]]
            jobs.append(embedders.submit(vectors, images))
        made = sum(len(job.result()) for job in jobs)
        searchable, searchable_cpu = time.perf_counter() - started, time.process_time() - cpu
        stored = [job.result().stored_jpeg() for job in loaded]
        extras = list(embedders.map(lambda data: stored_extras(data, vectors.net()), stored))
    elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - cpu
    if made != count or not all(extras):
        raise RuntimeError("the import pipeline lost pictures")
    return {
        "embed_ips": round(count / elapsed, 1),
        "searchable_ips": round(count / searchable, 1),
        # CPU of all the process's threads per picture: what a busy machine cannot hide.
        "embed_cpu_ms": round(1000 * elapsed_cpu / count, 1),
        "searchable_cpu_ms": round(1000 * searchable_cpu / count, 1),
    }


def _load(data: bytes) -> LoadedPicture:
    picture = decode_picture("benchmark", data)
    picture.stored_jpeg()
    return picture


def floor_once(engine: Engine, store: ExactStore, data: bytes) -> float:
    """The bare minimum a search costs, in ms: decode (as a search does), the model, and exact numpy search over
    the same vectors."""
    started = time.perf_counter()
    query = engine.query_features(prepare_query_photo(data).image)
    store.search_best(query.vectors, 30)
    return (time.perf_counter() - started) * 1000


class DatabaseCards(CatalogSource):
    """The benchmark's catalog with its cards read from the database, as a served search reads them
    (`catalog.features.DatabaseSource.pictures`); the re-rank extras stay in memory."""

    def __init__(self, memory: CatalogSource, rows: dict[int, int]) -> None:
        self.memory = memory
        self.rows = rows  # memory key -> ProductImage pk
        self.keys = {row: key for key, row in rows.items()}
        self.database = DatabaseSource()

    def extras(self, keys: Sequence[int], *, compute_missing: bool = True) -> dict[int, bytes]:
        return self.memory.extras(keys, compute_missing=compute_missing)

    def pictures(self, keys: Sequence[int]) -> dict[int, PictureInfo]:
        found = self.database.pictures([self.rows[key] for key in keys if key in self.rows])
        return {self.keys[row]: info for row, info in found.items()}


def catalog_rows(searcher: LocalSearcher) -> dict[int, int]:
    """The searcher's pictures written as catalog rows (inside the caller's transaction, which rolls them
    back): memory key -> ProductImage pk."""
    info = searcher.source.pictures(sorted(searcher.store.keys()))
    products: dict[int, Product] = {}
    rows = {}
    for key, picture in sorted(info.items()):
        product = products.get(picture.product_key)
        if product is None:
            hit = picture.hit
            products[picture.product_key] = product = Product.objects.create(
                sku_id=f"benchmark-{picture.product_key}",
                name=hit.sku_name,
                price=hit.sku_price,
                ware_label=hit.ware_label,
                cid1=hit.cid1,
                cid2=hit.cid2,
                cid3=hit.cid3,
                detail_url=hit.detail_url,
                detail_app_url=hit.detail_app_url,
                description=hit.description,
                source="benchmark",
            )
        rows[key] = ProductImage.objects.create(product=product, position=key, image=f"catalog/benchmark/{key}.jpg").pk
    return rows


def web_search_speed(
    searcher: LocalSearcher, photos: list[bytes], floor: Callable[[bytes], float] | None = None
) -> dict[str, float]:
    """Whole searches through Django (form, service, cards from the database, history, HTML), rolled back
    afterwards. With `floor`, each photo's bare floor is measured just before its web search (`floor_ms`): a
    machine whose speed drifts (a shared host's) then moves both figures alike, not only the later one's."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) benchmark")
    times, cpu, floors = [], [], []
    memory = searcher.source
    with (
        tempfile.TemporaryDirectory() as media,
        override_settings(MEDIA_ROOT=Path(media), SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE=0),
        override_searcher(searcher),
        transaction.atomic(),
    ):
        searcher.source = DatabaseCards(memory, catalog_rows(searcher))
        try:
            for i, data in enumerate(photos):
                if floor is not None:
                    floors.append(floor(data))
                upload = SimpleUploadedFile(f"photo{i}.jpg", data, content_type="image/jpeg")
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.post(reverse("search"), {"photo": upload}, HTTP_HX_REQUEST="true")
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"web search answered {response.status_code}")
        finally:
            searcher.source = memory
        transaction.set_rollback(True)
    # The CPU time of the process (all its threads) per search: what a machine shared with other work
    # cannot hide, and what bounds the searches/s of a loaded server (2 cores / that).
    speed = {
        "search_p50_ms": percentile(times, 50),
        "search_p99_ms": percentile(times, 99),
        "search_cpu_p50_ms": percentile(cpu, 50),
    }
    return {**speed, "floor_ms": percentile(floors, 50)} if floor is not None else speed


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


Progress = Callable[[str], None]
