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

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from search.backends.base import BackendAnswer, SearchFailed
from search.backends.local import search_local
from search.hits import ProductHit
from search.models import Search
from vectors.base import Filter
from vision.engine import Box
from vision.prepare import ImageRejected, PreparedImage, encode_jpeg, prepare_image

logger = logging.getLogger(__name__)

BACKENDS = ("local", "juhe", "both")
# Photos are decoded at most this large: plenty for the engine and for the stored copy.
QUERY_PHOTO_SIDE = 1280
THUMBNAIL_SIDE = 320


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
) -> SearchOutcome:
    started = time.perf_counter()
    outcome = SearchOutcome(backend=backend or settings.SNAPSHOP_BACKEND)
    try:
        photo = prepare_image(
            data,
            max_pixels=settings.SNAPSHOP_MAX_IMAGE_PIXELS,
            max_bytes=settings.SNAPSHOP_MAX_UPLOAD_BYTES,
            max_side=QUERY_PHOTO_SIDE,
        )
        outcome.photo = photo
        outcome.timings["prepare_ms"] = (time.perf_counter() - started) * 1000
        answer = dispatch(photo, outcome.backend, limit or settings.SNAPSHOP_RESULTS_PER_PAGE, region, flt)
    except ImageRejected as exc:
        outcome.error_code, outcome.error_message = exc.code, exc.message
    except SearchFailed as exc:
        outcome.error_code, outcome.error_message = exc.code, exc.message
    else:
        outcome.hits = answer.hits
        outcome.answered_by = answer.answered_by
        outcome.region = answer.region
        outcome.notice = answer.notice
        outcome.upstream_request_id = answer.request_id
        if not answer.hits:
            outcome.error_code = "no_results"
            outcome.error_message = _("No matching products were found. Try a closer photo of one product.")
    outcome.latency_ms = round((time.perf_counter() - started) * 1000)
    return outcome


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
) -> Search:
    """Save the search with its hits in rank order. The stored photo is re-encoded: no EXIF, no GPS."""
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
    )
    if outcome.photo is not None:
        name = hashlib.sha256(data).hexdigest()[:24] + ".jpg"
        image = outcome.photo.image
        search.photo_width, search.photo_height = image.size
        search.photo.save(name, ContentFile(encode_jpeg(image, quality=85)), save=False)
        search.thumbnail.save(name, ContentFile(encode_jpeg(image, quality=80, max_side=THUMBNAIL_SIDE)), save=False)
    with transaction.atomic():
        search.save()
        search.save_hits(outcome)
    return search
