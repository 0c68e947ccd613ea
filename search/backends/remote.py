"""The `juhe` and `both` backends: Juhe with a local fallback, and both at once.

- `juhe`: ask Juhe; when it fails for any reason but the photo itself (network, maintenance, quota, a
  malformed answer, our key refused), answer from the local engine and say so.
- `both`: Juhe (in a worker thread) and local (in the caller's thread, which
  owns the database connection) run concurrently; one card per skuId.
- Products Juhe returns are learnt into our own catalog (search.backends.learning).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from functools import partial

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from search.backends.base import BackendAnswer, SearchFailed
from search.backends.learning import in_thread, learn
from search.backends.local import FAILURE_TEXTS, search_local
from search.hits import ProductHit
from search.juhe_client import get_client
from search.juhe_errors import FIXED_FALLBACKS, JuheError, Timeout
from vectors.base import Attributes, Filter
from vision.engine import Box
from vision.prepare import PreparedImage

logger = logging.getLogger(__name__)

FALLBACK_ANSWER = "local (fallback)"  # answered_by when Juhe failed and the local engine answered instead
MERGED_FIELDS = ("sku_price", "ware_label", "image_url", "detail_url", "detail_app_url", "cid1", "cid2", "cid3")


def search_remote(
    photo: PreparedImage, *, backend: str, limit: int, region: Box | None = None, flt: Filter | None = None
) -> BackendAnswer:
    if backend == "both":
        return search_both(photo, limit=limit, region=region, flt=flt)
    try:
        answer = ask_juhe(photo, limit=limit, region=region, flt=flt)
    except SearchFailed as exc:
        if not exc.fallback_allowed:
            raise
        log_fallback(exc)
        try:
            answer = search_local(photo, limit=limit, region=region, flt=flt)
        except SearchFailed as local_exc:
            logger.warning("local fallback failed too (%s)", local_exc.code)
            raise exc from local_exc
        answer.answered_by = FALLBACK_ANSWER
        answer.notice = fallback_notice(exc)
        answer.extra["juhe_error"] = exc.code
        return answer
    learn(answer.hits)
    return answer


def log_fallback(exc: SearchFailed) -> None:
    if exc.operator_problem:
        logger.error("Juhe refuses this server (%s: %s); answering from the local catalog", exc.code, exc.message)
    else:
        logger.warning("Juhe failed (%s); answering from the local catalog", exc.code)


OPERATOR_FALLBACK_TEXT = gettext_noop("Juhe is unavailable right now; showing results from our own catalog.")


def fallback_notice(exc: SearchFailed) -> str:
    if exc.operator_problem:  # its message is for an administrator (the key): not shown
        return _(OPERATOR_FALLBACK_TEXT)
    return _("Juhe is unavailable (%(reason)s); showing results from our own catalog.") % {
        "reason": exc.message.rstrip(".。")  # the sentence's own full stop, English or Chinese, not inside the brackets
    }


def fixed_fallback_notices() -> list[Callable[[], str]]:
    """The fallback notice of each failure whose message is fixed, made in the active language when called."""
    notices: list[Callable[[], str]] = [partial(_fallback_notice_of, failure) for failure in FIXED_FALLBACKS]
    return [*notices, partial(_, OPERATOR_FALLBACK_TEXT)]


def _fallback_notice_of(failure: type[JuheError]) -> str:
    return fallback_notice(failure())


def juhe_only_notice(reason: str) -> str:
    """`reason`: why the local engine failed, a sentence whose own full stop is dropped inside the brackets."""
    return _("Our own catalog is unavailable (%(reason)s); showing results from Juhe only.") % {
        "reason": reason.rstrip(".。")
    }


def fixed_juhe_only_notices() -> list[Callable[[], str]]:
    """The `both` backend's notice for each way the local engine fails, made in the active language when called."""
    return [partial(_juhe_only_notice_of, text) for text in FAILURE_TEXTS]


def _juhe_only_notice_of(text: str) -> str:
    return juhe_only_notice(_(text))


def ask_juhe(photo: PreparedImage, *, limit: int, region: Box | None, flt: Filter | None) -> BackendAnswer:
    image = photo.image
    if region is not None:
        image = image.crop(region.pixels(*image.size))
    result = get_client().query(image)
    hits = [hit for hit in result.hits if flt is None or flt.is_empty() or flt.matches(hit_attributes(hit))]
    return BackendAnswer(hits=hits[:limit], answered_by="juhe", region=region, request_id=result.request_id)


def hit_attributes(hit: ProductHit) -> Attributes:
    labels = {"自营": True, "非自营": False}
    return Attributes(
        product=0,
        cid1=hit.cid1,
        cid2=hit.cid2,
        cid3=hit.cid3,
        price=float(hit.sku_price) if hit.sku_price is not None else None,
        self_operated=labels.get(hit.ware_label),
    )


def search_both(photo: PreparedImage, *, limit: int, region: Box | None, flt: Filter | None) -> BackendAnswer:
    local: BackendAnswer | None = None
    juhe: BackendAnswer | None = None
    local_error: SearchFailed | None = None
    juhe_error: SearchFailed | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="juhe-query")
    future = pool.submit(in_thread, ask_juhe, photo, limit=limit, region=region, flt=flt)
    # Its thread ends with Juhe's answer or the client's timeout; the search waits at most JUHE_BOTH_WAIT past local's.
    pool.shutdown(wait=False)
    try:
        local = search_local(photo, limit=limit, region=region, flt=flt)
    except SearchFailed as exc:
        local_error = exc
    try:
        juhe = future.result(timeout=None if local is None else float(settings.JUHE_BOTH_WAIT))
    except FutureTimeout:
        juhe_error = Timeout()  # a late answer is dropped (and not learnt): the shopper has the local results
    except SearchFailed as exc:
        juhe_error = exc
    if juhe is not None:
        learn(juhe.hits)
    if local is not None and juhe is not None:
        return BackendAnswer(
            hits=merge_hits(local.hits, juhe.hits, limit),
            answered_by="local+juhe",
            region=local.region,
            request_id=juhe.request_id,
        )
    if local is not None:
        assert juhe_error is not None
        log_fallback(juhe_error)
        local.notice = fallback_notice(juhe_error)
        local.extra["juhe_error"] = juhe_error.code
        return local
    if juhe is not None:
        assert local_error is not None
        juhe.notice = juhe_only_notice(local_error.message)
        return juhe
    assert juhe_error is not None
    raise juhe_error


def merge_hits(local_hits: list[ProductHit], juhe_hits: list[ProductHit], limit: int) -> list[ProductHit]:
    """One card per skuId, the best similarity wins, empty fields filled from the other; source says who found it."""
    cards: dict[str, ProductHit] = {}
    sources: dict[str, set[str]] = {}
    for hit in [*local_hits, *juhe_hits]:
        key = hit.sku_id
        sources.setdefault(key, set()).add(hit.source)
        seen = cards.get(key)
        if seen is None:
            cards[key] = hit
            continue
        best, other = (hit, seen) if hit.similarity > seen.similarity else (seen, hit)
        filled = {name: getattr(other, name) for name in MERGED_FIELDS if not getattr(best, name)}
        cards[key] = replace(best, **filled)
    merged = [
        replace(hit, source="+".join(s for s in ("local", "juhe") if s in sources[key]) or hit.source)
        for key, hit in cards.items()
    ]
    merged.sort(key=lambda hit: hit.similarity, reverse=True)
    return merged[:limit]
