"""The learning catalog: products that Juhe finds become products of our own catalog.

Products Juhe returns are upserted into the catalog (source "juhe"); their
pictures are fetched and indexed in the background, so similar searches can
be answered locally later. When a later answer changes a learnt product's
category, price or self-operated flag, its indexed pictures are re-filed under
the new attributes at once (filters run inside the vector store).

Apart from the backends that ask Juhe (search.backends.remote) because it writes the
catalog and the index, from background threads of its own that `wait_for_learning`
keeps track of. `in_thread` (a worker thread's database connection closed at its end)
lives beside `in_background`; the `both` backend's Juhe thread uses it too.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections

from search.hits import ProductHit, safe_link

logger = logging.getLogger(__name__)

T = TypeVar("T")
PICTURES_PER_PRODUCT = 2

_learner = ThreadPoolExecutor(max_workers=2, thread_name_prefix="juhe-learn")
_learning: set[Future[object]] = set()  # background jobs not finished yet
_learning_lock = threading.Lock()


def in_background(function: Callable[..., object], *args: object) -> Future[object]:
    """Run a learning job in the learner's threads (own database connection, closed afterwards)."""
    future: Future[object] = _learner.submit(in_thread, function, *args)
    with _learning_lock:
        _learning.add(future)
    future.add_done_callback(_finished)
    return future


def _finished(future: Future[object]) -> None:
    with _learning_lock:
        _learning.discard(future)


def wait_for_learning(timeout: float = 60.0) -> None:
    """Until the background learning jobs started so far have finished (tests, an orderly shutdown)."""
    with _learning_lock:
        pending = list(_learning)
    wait(pending, timeout=timeout)


def in_thread(function: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run in a worker thread: whatever database connection the thread opened is closed at the end."""
    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


def learn(hits: list[ProductHit]) -> None:
    """Upsert Juhe's products now; fetch and index their pictures in the background."""
    if not getattr(settings, "SNAPSHOP_LEARN_FROM_JUHE", True) or not hits:
        return
    try:
        jobs = upsert_products(hits)
    except DatabaseError as exc:
        logger.warning("could not learn Juhe products: %s", exc)
        return
    if jobs and getattr(settings, "SNAPSHOP_LEARN_PICTURES", True):
        in_background(fetch_pictures_logged, jobs)


def upsert_products(hits: list[ProductHit]) -> list[tuple[int, list[str]]]:
    """Create or refresh catalog products found by Juhe (never overwrite imported ones).

    Returns (product id, picture URLs) for the products that have no picture yet.
    """
    from catalog.index import attributes_for
    from catalog.models import Product

    jobs: list[tuple[int, list[str]]] = []
    moved: list[int] = []  # products whose filter attributes (category, price, self-operated) changed
    for hit in hits:
        if not hit.sku_id:
            continue
        existing = Product.objects.filter(sku_id=hit.sku_id[:64]).first()
        if existing is not None and existing.source != "juhe":
            continue
        before = attributes_for(existing) if existing is not None else None
        fields = {
            "name": (hit.sku_name or hit.sku_id)[:500],
            "price": hit.sku_price,
            "ware_label": hit.ware_label[:32],
            "cid1": hit.cid1[:100],
            "cid2": hit.cid2[:100],
            "cid3": hit.cid3[:100],
            "detail_url": safe_link(hit.detail_url)[:1000],
            "detail_app_url": safe_link(hit.detail_app_url)[:1000],
            "source": "juhe",
        }
        try:
            product, _created = Product.objects.update_or_create(sku_id=hit.sku_id[:64], defaults=fields)
        except IntegrityError:  # another request learnt it at the same moment
            continue
        if before is not None and attributes_for(product) != before:
            moved.append(product.pk)
        urls = list(dict.fromkeys(u for u in [hit.image_url, *hit.all_image_urls] if safe_link(u).startswith("http")))
        if urls and not product.images.exists():
            jobs.append((product.pk, urls[:PICTURES_PER_PRODUCT]))
    if moved:
        refile(moved)
    return jobs


def refile(product_ids: list[int]) -> None:
    """Learnt products changed category, price or self-operated flag: file their indexed pictures under
    the new attributes in this process's index now (filters run inside the store and must stay exact);
    the index file is saved in the background. A failure is logged, never costs the search."""
    from catalog.index import get_local_index
    from catalog.models import Product, ProductImage

    try:
        if not ProductImage.objects.filter(product_id__in=product_ids, vector__isnull=False).exists():
            return  # nothing indexed yet: its pictures will be filed with the new attributes
        index = get_local_index()
        for product in Product.objects.filter(pk__in=product_ids):
            index.update_attributes(product)
    except Exception:  # the store or the engine is unavailable: the search still answers
        logger.exception("could not re-file the index attributes of learnt products %s", product_ids)
        return
    save_index_soon()


_save_lock = threading.Lock()
_save_queued = False


def save_index_soon() -> None:
    """Save the local index in the background; changes made while a save waits share that save."""
    global _save_queued
    with _save_lock:
        if _save_queued:
            return
        _save_queued = True
    in_background(save_index_logged)


def save_index_logged() -> None:
    global _save_queued
    from catalog.index import get_local_index

    with _save_lock:
        _save_queued = False  # what changes from here on queues another save
    try:
        get_local_index().save()
    except Exception:  # a background task must never die silently
        logger.exception("saving the index after re-filing learnt products failed")


def fetch_pictures_logged(jobs: list[tuple[int, list[str]]]) -> int:
    try:
        return fetch_pictures(jobs)
    except Exception:  # a background task must never die silently
        logger.exception("learning Juhe pictures failed")
        return 0


def fetch_pictures(jobs: list[tuple[int, list[str]]]) -> int:
    """Download (bounded size and time), store and index pictures of learnt products; returns how many."""
    from catalog.fetch import FetchError, safe_fetch
    from catalog.index import attributes_for, get_local_index
    from catalog.models import Product, ProductImage
    from vision.prepare import ImageRejected, encode_jpeg, prepare_image

    max_bytes = int(getattr(settings, "SNAPSHOP_FETCH_MAX_BYTES", 5 * 1024 * 1024))
    timeout = float(getattr(settings, "SNAPSHOP_FETCH_TIMEOUT", 10.0))
    pictures, images = [], []
    for product_id, urls in jobs:
        product = Product.objects.filter(pk=product_id).first()
        if product is None or product.images.exists():
            continue
        for position, url in enumerate(urls):
            try:
                data = safe_fetch(url, max_bytes=max_bytes, timeout=timeout)
                prepared = prepare_image(data, max_pixels=settings.SNAPSHOP_MAX_IMAGE_PIXELS)
            except (FetchError, ImageRejected) as exc:
                logger.info("skipped picture %s of %s: %s", url[:200], product.sku_id, exc)
                continue
            digest = hashlib.sha256(data).hexdigest()
            picture = ProductImage(product=product, position=position, source_url=url[:1000], content_hash=digest)
            picture.store_file(f"{digest[:24]}.jpg", encode_jpeg(prepared.image, max_side=1024))
            picture.save()
            pictures.append(picture)
            images.append(prepared.image)
    if pictures:
        index = get_local_index()
        index.add_pictures(pictures, images)
        # Juhe may have answered again while the pictures were fetched and embedded: file what the
        # products are now (a change after this point finds the vectors and re-files them itself).
        filed = {p.product_id: attributes_for(p.product) for p in pictures}
        for product in Product.objects.filter(pk__in=filed):
            if attributes_for(product) != filed[product.pk]:
                index.update_attributes(product)
        index.save()
        logger.info("learnt %d pictures from Juhe results", len(pictures))
    return len(pictures)
