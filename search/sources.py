"""Where a result list comes from: a saved search (its stored hits, or the engine again within a filter),
and the catalog by words (no photo)."""

from __future__ import annotations

import hashlib
import logging
import math

from django.core.cache import cache
from django.db.models import F

from catalog.index import product_hit
from catalog.models import Product
from search.backends.remote import FALLBACK_ANSWER
from search.hits import ProductHit
from search.models import Search
from search.refine import MAX_RESULTS, State, within, words_match
from search.services import run_search
from vision.engine import Box

logger = logging.getLogger(__name__)
CACHE_SECONDS = 600
MIN_REGION_SIDE = 0.02


def region_numbers(text: str) -> tuple[float, float, float, float] | None:
    """ "x0,y0,x1,y1" read as four finite numbers; None when it is anything else (a hand-made or damaged form)."""
    try:
        x0, y0, x1, y1 = (float(part) for part in text.split(","))
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):  # float() reads "nan" and "inf" too
        return None
    return x0, y0, x1, y1


def parse_region(text: str) -> Box | None:
    """ "x0,y0,x1,y1" in fractions of the photo; None when it is not four numbers making a usable box."""
    numbers = region_numbers(text)
    return None if numbers is None else usable_region(numbers)


def usable_region(numbers: tuple[float, float, float, float]) -> Box | None:
    """The box these fractions make, within the photo; None when it is too small to search."""
    box = Box(*numbers).clamp()
    if box.x1 - box.x0 < MIN_REGION_SIDE or box.y1 - box.y0 < MIN_REGION_SIDE:
        return None
    return box


def region_text(box: Box | list[float] | tuple[float, ...] | dict[str, float] | None) -> str:
    if box is None:
        return ""
    if isinstance(box, dict):
        values = [box.get(k, 0.0) for k in ("x0", "y0", "x1", "y1")]
    elif isinstance(box, Box):
        values = [box.x0, box.y0, box.x1, box.y1]
    else:
        values = list(box)
    return ",".join(f"{float(v):.4f}" for v in values)


def saved_region(search: Search) -> Box | None:
    """The region a saved search looked at; None for the whole photo."""
    box = parse_region(region_text(search.region)) if search.region else None
    if box is None or (box.x0 <= 0.001 and box.y0 <= 0.001 and box.x1 >= 0.999 and box.y1 >= 0.999):
        return None
    return box


def photo_bytes(search: Search) -> bytes | None:
    if not search.photo:
        return None
    try:
        with search.photo.open("rb") as handle:
            return handle.read()
    except OSError:
        logger.warning("photo of search %s is missing", search.pk)
        return None


def with_descriptions(hits: list[ProductHit]) -> list[ProductHit]:
    """Stored hits carry no description: take it from the catalog (for the keyword box)."""
    missing = {h.sku_id for h in hits if not h.description}
    if not missing:
        return hits
    found = dict(Product.objects.filter(sku_id__in=missing).values_list("sku_id", "description"))
    for hit in hits:
        if not hit.description:
            hit.description = found.get(hit.sku_id, "")
    return hits


def hits_of_search(search: Search, state: State) -> list[ProductHit]:
    """The hits before paging. No filter: the stored hits. A filter: the engine again, cached (the stored hits
    filtered when the photo is gone or the engine cannot answer)."""
    flt = state.engine_filter()
    if flt is None:
        hits = search.product_hits()
    else:
        key = "snapshop-refine:" + hashlib.sha256(f"{search.pk}:{search.request_id}:{flt}".encode()).hexdigest()
        cached = cache.get(key)
        if cached is None:
            data = photo_bytes(search)
            if data is None:
                return _words(within(search.product_hits(), flt), state)
            outcome = run_search(
                data,
                backend=search.backend,
                region=saved_region(search),
                flt=flt,
                limit=MAX_RESULTS,
                like_sku=search.like_sku,
            )
            if (outcome.error_code and outcome.error_code != "no_results") or (
                outcome.answered_by == FALLBACK_ANSWER and search.answered_by != FALLBACK_ANSWER
            ):
                # The engine of that search cannot answer now (Juhe no longer configured, the service down): its
                # stored hits, filtered, rather than an error page or another engine's products for a filter click.
                # Not cached.
                why = outcome.error_code or outcome.answered_by  # a fallback's answer has no error code
                logger.warning("refining search %s: %s; filtering its stored hits", search.pk, why)
                return _words(within(search.product_hits(), flt), state)
            # Whatever the backend did with the filter, only hits inside it are shown.
            cached = within(outcome.hits, flt)
            cache.set(key, cached, CACHE_SECONDS)
        hits = list(cached)
    return _words(hits, state)


def _words(hits: list[ProductHit], state: State) -> list[ProductHit]:
    """The hits whose name or description has every word of the keyword box."""
    if not state.q:
        return hits
    words = state.q.split()
    return [h for h in with_descriptions(hits) if words_match(h, words)]


def catalog_hits(state: State) -> tuple[list[ProductHit], bool]:
    """A plain text search over the catalog (no photo): names and descriptions with every word; the first
    MAX_RESULTS in the order asked (sorted by the database, so a price sort covers every match), and whether
    more matched."""
    products = Product.objects.text_search(state.q).prefetch_related("images")
    flt = state.engine_filter()
    if flt is not None:
        if flt.cid1:
            products = products.filter(cid1=flt.cid1)
        if flt.cid2:
            products = products.filter(cid2=flt.cid2)
        if flt.cid3:
            products = products.filter(cid3=flt.cid3)
        if state.price_min is not None:
            products = products.filter(price__gte=state.price_min)
        if state.price_max is not None:
            products = products.filter(price__lte=state.price_max)
        if state.self_only:
            products = products.filter(ware_label="自营")
    if state.sort == "price_asc":
        products = products.order_by(F("price").asc(nulls_last=True), "name", "pk")
    elif state.sort == "price_desc":
        products = products.order_by(F("price").desc(nulls_last=True), "name", "pk")
    else:
        products = products.order_by("name", "pk")
    found = [
        product_hit(product, [image.url for image in product.images.all() if image.url])
        for product in products[: MAX_RESULTS + 1]
    ]
    return found[:MAX_RESULTS], len(found) > MAX_RESULTS
