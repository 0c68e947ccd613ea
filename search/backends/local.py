"""The embedded default backend: our own visual search over our own catalog."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from search.backends.base import BackendAnswer, EngineUnavailable
from vectors.base import Filter, StoreUnavailable
from vision.engine import Box
from vision.model import ModelUnavailable
from vision.prepare import PreparedImage

logger = logging.getLogger(__name__)
# Shown (and kept in history) when the engine was too busy for the detailed check or gave a shorter one
# (catalog.local_engine). "The server", not "many people": the processors may be busy with anything.
BUSY_TEXT = gettext_noop(  # marked for makemessages: the lazy translation below takes it as a variable
    "The server is busy right now, so these results skipped the detailed picture check. "
    "Search again in a moment for the most precise order."
)
BUSY_NOTICE = gettext_lazy(BUSY_TEXT)

QUICK_TEXT = gettext_noop(
    "The server is busy right now, so these results had a shorter picture check. "
    "Search again in a moment for the most precise order."
)
QUICK_NOTICE = gettext_lazy(QUICK_TEXT)

# Why the local engine could not answer. Fixed sentences, so the `both` backend's notice naming one of them can be
# written again in the language of the page that shows a saved search (search.notices.notice_now).
ENGINE_DOWN_TEXT = gettext_noop("The search engine is not available right now. Please try again later.")
CATALOG_DOWN_TEXT = gettext_noop("The product catalog is not available right now. Please try again later.")
CATALOG_PREPARING_TEXT = gettext_noop(
    "The product catalog is being prepared for a new version of the search engine. Please try again later."
)
FAILURE_TEXTS = (ENGINE_DOWN_TEXT, CATALOG_DOWN_TEXT, CATALOG_PREPARING_TEXT)


def search_local(
    photo: PreparedImage, *, limit: int, region: Box | None = None, flt: Filter | None = None
) -> BackendAnswer:
    from catalog.index import get_searcher

    try:
        searcher = get_searcher()
        result = searcher.search(photo.image, limit=limit, region=region, flt=flt)
        if not result.hits and flt is None:
            stale_catalog(searcher.engine.version)
    except ModelUnavailable as exc:
        logger.error("local engine unavailable: %s", exc)
        raise EngineUnavailable(_(ENGINE_DOWN_TEXT)) from exc
    except (StoreUnavailable, DatabaseError) as exc:
        logger.error("local catalog unavailable: %s", exc)
        raise EngineUnavailable(_(CATALOG_DOWN_TEXT)) from exc
    # Said of results only: on "No matches" that they "skipped the detailed picture check" explained nothing (QA20).
    notice = {"light": BUSY_NOTICE, "quick": QUICK_NOTICE}.get(result.rerank, "") if result.hits else ""
    return BackendAnswer(hits=result.hits, answered_by="local", region=result.query.region, notice=str(notice))


def stale_catalog(version: str) -> None:
    """An unfiltered search found nothing, so the index is empty. When the catalog has pictures embedded by
    another engine version (an upgrade changed it), say so rather than "no matching products"."""
    from catalog.features import pictures_of_other_versions

    stale = pictures_of_other_versions(version)
    if stale:
        logger.error(
            "%d catalog pictures were embedded by another engine version than %s and are not searchable: "
            "run `manage.py import_catalog` with the catalog's CSV (or `make run`) to embed them again",
            stale,
            version,
        )
        raise EngineUnavailable(_(CATALOG_PREPARING_TEXT))
