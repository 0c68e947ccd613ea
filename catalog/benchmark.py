"""Speed figures of the whole engine on this machine (the `benchmark` command's measurements)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from catalog.importer import STORED_PICTURE_SIDE
from catalog.index import override_searcher
from catalog.local_engine import LocalSearcher
from search.services import QUERY_PHOTO_SIDE
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
    """ms per photo at batch 1 (query path) and catalog throughput at the import batch size, decode included."""
    images = [prepare_image(p).image for p in pictures[:4]]
    engine.query_features(images[0])  # warm-up
    single = []
    for i in range(rounds):
        started = time.perf_counter()
        engine.query_features(prepare_image(pictures[i % len(pictures)], max_side=QUERY_PHOTO_SIDE).image)
        single.append((time.perf_counter() - started) * 1000)
    chunk = (pictures * (batch // max(1, len(pictures)) + 1))[:batch]
    started = time.perf_counter()
    engine.catalog_features([prepare_image(p, max_side=STORED_PICTURE_SIDE).image for p in chunk])
    elapsed = time.perf_counter() - started
    return {"embed_ms_b1": percentile(single, 50), "embed_ips": round(batch / elapsed, 1)}


def floor_ms(engine: Engine, store: ExactStore, photos: list[bytes]) -> float:
    """The bare minimum a search costs: decode, the model, and exact numpy search over the same vectors."""
    times = []
    for data in photos:
        started = time.perf_counter()
        query = engine.query_features(prepare_image(data, max_side=QUERY_PHOTO_SIDE).image)
        store.search(query.vectors, 30)
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def web_search_speed(searcher: LocalSearcher, photos: list[bytes]) -> dict[str, float]:
    """Whole searches through Django (form, service, history, HTML), rolled back afterwards."""
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) benchmark")
    times = []
    with (
        tempfile.TemporaryDirectory() as media,
        override_settings(MEDIA_ROOT=Path(media), SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE=0),
        override_searcher(searcher),
        transaction.atomic(),
    ):
        for i, data in enumerate(photos):
            from django.core.files.uploadedfile import SimpleUploadedFile

            upload = SimpleUploadedFile(f"photo{i}.jpg", data, content_type="image/jpeg")
            started = time.perf_counter()
            response = client.post(reverse("search"), {"photo": upload}, HTTP_HX_REQUEST="true")
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"web search answered {response.status_code}")
        transaction.set_rollback(True)
    return {"search_p50_ms": percentile(times, 50), "search_p99_ms": percentile(times, 99)}


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


Progress = Callable[[str], None]
