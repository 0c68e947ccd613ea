"""The shopper's pages: the photo form, its results, and their own recent searches.

Thin views: the search itself is `search.services`; the form checks the upload.
Errors keep their HTTP status (422 for a photo we cannot use, 503 when the engine
is down); base.html tells htmx to swap those bodies like a 200 (responseHandling),
so the message lands where the results would.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.middleware import HtmxDetails

from search.devices import device_of
from search.forms import PhotoForm, too_large_message
from search.models import Search
from search.recent import recent_searches
from search.refine import MAX_RESULTS
from search.results import Results
from search.services import SearchOutcome, record_search, run_search

logger = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def page_context(request: HttpRequest, form: PhotoForm, results: Results | None) -> dict[str, object]:
    return {
        "form": form,
        "results": results,
        "recent": recent_searches(request),
        "device": device_of(request),
        "max_upload_bytes": settings.SNAPSHOP_MAX_UPLOAD_BYTES,
        "too_large_message": too_large_message(),  # what the page says at once, before uploading, as the server would
    }


def render_results(
    request: HtmxHttpRequest, form: PhotoForm, results: Results, status: int | None = None
) -> HttpResponse:
    """The results fragment (plus the recent list, out of band) for htmx; the whole page otherwise."""
    status = status or results.status
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "grid" and not results.error_code:  # "show more": the next page's cards only
            return render(request, "search/_more_cards.html", {"results": results}, status=status)
        context = {"results": results, "recent": recent_searches(request), "oob_recent": True}
        template = "search/_error.html" if results.error_code and not results.cards else "search/_results.html"
        return render(request, template, context, status=status)
    return render(request, "search/home.html", page_context(request, form, results), status=status)


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "search/home.html", page_context(request, PhotoForm(), None))


@require_http_methods(["GET", "HEAD", "POST"])
def search(request: HtmxHttpRequest) -> HttpResponse:
    """A new search: an uploaded photo, a region of a saved search's photo, or a catalog product's picture."""
    from search import views_results

    if request.method != "POST":  # a reload or a bookmark of a no-JS results page: the form, not a blank 405
        return redirect("home")
    if request.POST.get("search"):
        return views_results.search_region(request)
    if request.POST.get("sku"):
        return views_results.search_like(request)
    form = PhotoForm(request.POST, request.FILES)
    if not form.is_valid():
        code, message = form.error()
        # Kept in history like every other refusal (the admin sees them all; the API's are kept too).
        save_history(request, SearchOutcome(backend=settings.SNAPSHOP_BACKEND, error_code=code, error_message=message),
                     b"", device_of(request))  # fmt: skip
        return render_results(request, form, Results(cards=[], error_code=code, error_message=message))
    data = form.photo_bytes()
    outcome = run_search(data, limit=MAX_RESULTS, keep="copies_and_look")
    return views_results.answer(request, outcome, data)


def save_history(
    request: HttpRequest,
    outcome: SearchOutcome,
    data: bytes,
    device: str,
    *,
    subjects: list[list[float]] | None = None,
    hints: list[str] | None = None,
) -> Search | None:
    """Keep the search for the admin and the shopper's recent list; a failure here must not cost the results."""
    if not request.session.session_key:
        request.session.save()
        request.session.modified = True  # so the session cookie is sent with this response
    try:
        return record_search(
            outcome,
            data,
            session_key=request.session.session_key or "",
            device=device,
            subjects=subjects,
            hints=hints,
        )
    except (DatabaseError, OSError):
        logger.exception("could not save search history")
        return None
