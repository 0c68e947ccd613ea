"""One search path for every caller: the web page, the Juhe-compatible API and the evaluation.

`run_search` never raises for a bad photo or a failing backend: the outcome
carries an error code and a message instead, so callers render it and
`record_search` keeps it in history.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from search.backends.base import BackendAnswer, SearchFailed
from search.backends.local import search_local
from search.hits import ProductHit
from search.keeping import EarlyLook, Keep, KeptPhoto, PhotoCopies, photo_copies, start_keeping
from search.models import Search, SearchHit
from vectors.base import Filter
from vision.engine import Box
from vision.parallel import Beside
from vision.prepare import ImageRejected, PreparedImage, prepare_image

logger = logging.getLogger(__name__)

BACKENDS = ("local", "juhe", "both")
# Photos are decoded at most this large: the network sees 380 px (a 50 % region box still has 400),
# SIFT 320 px and the preview (thumbnail, quality hints) 320 px. A 1600 px phone photo then decodes at
# half scale straight from the JPEG's DCT instead of being resized (~15 ms a search).
QUERY_PHOTO_SIDE = 800
# ... or what the JPEG's DCT scaling gives between 0.85 and 1.3 times that, kept without resampling: a
# 1440 px photo decodes at 720 px, a 4032 px one at 1008, instead of paying 5-9 ms to resample to 800.
QUERY_DCT_RANGE = (0.85, 1.3)


@dataclass
class SearchOutcome:
    backend: str
    hits: list[ProductHit] = field(default_factory=list)
    answered_by: str = ""
    latency_ms: int = 0
    error_code: str = ""
    error_message: str = ""
    notice: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    upstream_request_id: str = ""
    region: Box | None = None
    photo: PreparedImage | None = None
    timings: dict[str, float] = field(default_factory=dict)
    like_sku: str = ""  # "more like this": the product whose picture was searched, left out of the hits
    keeping: Beside[KeptPhoto] | None = None  # what history keeps of the photo, made beside the search

    def photo_copies(self, data: bytes) -> PhotoCopies | None:
        if self.photo is None:
            return None
        return self.keeping.result().copies if self.keeping is not None else photo_copies(data, self.photo)

    def early_look(self) -> EarlyLook | None:
        if self.keeping is None:
            return None
        try:
            return self.keeping.result().look
        except Exception:  # the copies failed: record_search says so; the look is found again after the pass
            logger.warning("keeping the photo failed", exc_info=True)
            return None

    @property
    def ok(self) -> bool:
        return not self.error_code

    @property
    def uncertain(self) -> bool:
        """The best match is below the similarity floor: say so instead of presenting noise as answers."""
        return bool(self.hits) and self.hits[0].similarity < settings.SNAPSHOP_SIMILARITY_FLOOR


def run_search(
    data: bytes,
    *,
    backend: str | None = None,
    region: Box | None = None,
    flt: Filter | None = None,
    limit: int | None = None,
    like_sku: str = "",
    keep: Keep = "nothing",
) -> SearchOutcome:
    """Search with the photo. `like_sku`: the photo is that catalog product's picture ("more like this"),
    so the product itself is left out; the shopper asked for other products. `keep`: what `record_search`
    and the page will keep of the photo, made on the other core during the search (search.keeping)."""
    started = time.perf_counter()
    outcome = SearchOutcome(backend=backend or settings.SNAPSHOP_BACKEND, like_sku=like_sku)
    limit = limit or settings.SNAPSHOP_RESULTS_PER_PAGE
    try:
        photo = prepare_query_photo(data)
        outcome.photo = photo
        outcome.timings["prepare_ms"] = (time.perf_counter() - started) * 1000
        outcome.keeping = start_keeping(data, photo, keep)
        answer = dispatch(photo, outcome.backend, limit + 1 if like_sku else limit, region, flt)
    except ImageRejected as exc:
        outcome.error_code, outcome.error_message = exc.code, exc.message
    except SearchFailed as exc:
        outcome.error_code, outcome.error_message = exc.code, exc.message
    else:
        outcome.hits = [hit for hit in answer.hits if hit.sku_id != like_sku][:limit] if like_sku else answer.hits
        outcome.answered_by = answer.answered_by
        outcome.region = answer.region
        outcome.notice = answer.notice
        outcome.upstream_request_id = answer.request_id
        if not outcome.hits:
            outcome.error_code = "no_results"
            outcome.error_message = _("No matching products were found. Try a closer photo of one product.")
    outcome.latency_ms = round((time.perf_counter() - started) * 1000)
    return outcome


def prepare_query_photo(data: bytes) -> PreparedImage:
    """The shopper's photo decoded as every search uses it (raises ImageRejected)."""
    return prepare_image(
        data,
        max_pixels=settings.SNAPSHOP_MAX_IMAGE_PIXELS,
        max_bytes=settings.SNAPSHOP_MAX_UPLOAD_BYTES,
        max_side=QUERY_PHOTO_SIDE,
        dct_range=QUERY_DCT_RANGE,
    )


def dispatch(photo: PreparedImage, backend: str, limit: int, region: Box | None, flt: Filter | None) -> BackendAnswer:
    if backend == "local":
        return search_local(photo, limit=limit, region=region, flt=flt)
    if backend in {"juhe", "both"}:
        from search.backends.remote import search_remote

        return search_remote(photo, backend=backend, limit=limit, region=region, flt=flt)
    raise SearchFailed(_("Unknown search backend %(name)s.") % {"name": backend}, code="bad_backend")


def record_search(
    outcome: SearchOutcome,
    data: bytes,
    *,
    session_key: str = "",
    device: str = Search.Device.PC,
    channel: str = Search.Channel.WEB,
    filters: dict[str, object] | None = None,
    subjects: list[list[float]] | None = None,
    hints: list[str] | None = None,
) -> Search:
    """Save the search with its hits in rank order, in one transaction, with its photo's copies
    (search.keeping.photo_copies: no EXIF, no GPS)."""
    search = Search(
        session_key=session_key or "",
        device=device,
        channel=channel,
        backend=outcome.backend,
        answered_by=outcome.answered_by,
        result_count=len(outcome.hits),
        latency_ms=outcome.latency_ms,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        notice=outcome.notice,
        request_id=outcome.request_id,
        upstream_request_id=outcome.upstream_request_id[:64],
        region=vars(outcome.region) if outcome.region else None,
        filters=filters or None,
        subjects=subjects,
        hints=hints,
        like_sku=outcome.like_sku,
    )
    copies = outcome.photo_copies(data)
    if copies is not None:
        name = hashlib.sha256(data).hexdigest()[:24] + ".jpg"
        search.photo_width, search.photo_height = copies.size
        search.photo.save(name, ContentFile(copies.stored), save=False)
        search.thumbnail.save(name, ContentFile(copies.thumbnail), save=False)
    try:
        with transaction.atomic():
            search.save()
            search.save_hits(outcome.hits)
    except Exception:
        search.delete_files()  # a photo without its row would escape retention (purge_history) for good
        raise
    return search


def stored_hits(outcome: SearchOutcome) -> list[ProductHit]:
    """The outcome's hits exactly as `Search.product_hits()` reads them back after `record_search`
    (fields cut to their columns, the price to cents)."""
    cents = Decimal("0.01")
    hits = []
    for hit in outcome.hits:
        row = SearchHit.columns_for(hit)
        price = row.pop("price")
        hits.append(
            ProductHit(
                sku_name=str(row.pop("name")),
                sku_price=price.quantize(cents) if isinstance(price, Decimal) else None,
                **row,  # type: ignore[arg-type]
            )
        )
    return hits
