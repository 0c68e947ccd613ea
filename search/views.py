"""The shopper's pages: the photo form, its results, and their own recent searches.

Thin views: the search itself is `search.services`; the form checks the upload.
Errors keep their HTTP status (422 for a photo we cannot use, 503 when the engine
is down); base.html tells htmx to swap those bodies like a 200 (responseHandling),
so the message lands where the results would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache, partial

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.middleware import HtmxDetails

from catalog.cards import column, column_converters, stored_url, table
from catalog.models import product_path
from search.devices import device_kind
from search.forms import PhotoForm, error_text
from search.hits import ProductHit
from search.juhe_errors import is_service_failure
from search.models import Search, SearchHit
from search.photo import QueryPhoto
from search.refine import MAX_RESULTS, Facets, State, max_page
from search.services import SearchOutcome, record_search, run_search

logger = logging.getLogger(__name__)

RECENT_COUNT = 8
# Status codes by error: the photo cannot be used (422, the default), too many searches (429), the engine
# is down (503); "no results" is an answer (200).
ERROR_STATUS = {"rate_limited": 429, "no_results": 200}  # the rest: 503 if the service failed, else 422 (the photo)
SERVICE_FAILURES = {"engine_unavailable", "search_failed"}  # and Juhe's own (search.juhe_errors.is_service_failure)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass
class Card:
    """A product hit as one card shows it; the buy link is chosen for the shopper's device."""

    hit: ProductHit
    buy_link: str
    rank: int

    @property
    def percent(self) -> int:
        return max(0, min(100, round(self.hit.similarity * 100)))

    @property
    def price(self) -> Decimal | None:
        return self.hit.sku_price

    @property
    def page_link(self) -> str:
        """The product's own page (for a card without a shop link)."""
        return product_path(self.hit.sku_id)

    @property
    def name_id(self) -> str:
        """The id of the card's name (its article's label)."""
        return f"card-{self.rank}-name"

    @property
    def match(self) -> str:
        """ "87% match", translated: a blocktranslate tag on each card cost 14 µs of it."""
        return gettext("%(percent)s%% match") % {"percent": self.percent}


@dataclass
class Results:
    """Everything the results fragment shows: cards, or an error in their place."""

    cards: list[Card]
    search: Search | None = None
    error_code: str = ""
    error_message: str = ""
    notice: str = ""
    uncertain: bool = False
    # Refining (issue 5): the state in the URL, the page's own URL, how many hits in all, the facets.
    state: State = field(default_factory=State)
    base_url: str = ""
    total: int = 0
    facets: Facets | None = None
    textual: bool = False  # found by words, not by a photo: no similarity to show
    photo: QueryPhoto | None = None

    @property
    def heading_count(self) -> int:
        """How many products the heading counts: all the search's hits (a saved search), else the cards."""
        return self.total if self.base_url else len(self.cards)

    @property
    def shown_count(self) -> int:
        return min(self.state.shown, self.total)

    @property
    def page_url(self) -> str:
        return self.base_url + self.state.query_string()

    @property
    def more_query(self) -> str:
        """The query string of the next page, or "" when everything (or the cap of 100) is shown."""
        if self.total > self.state.shown and self.state.page < max_page():
            return self.state.query_string(page=self.state.page + 1)
        return ""

    @property
    def service_failed(self) -> bool:
        """The search service failed, not the photo: "Search is unavailable", 503."""
        return self.error_code in SERVICE_FAILURES or is_service_failure(self.error_code)

    @property
    def status(self) -> int:
        if not self.error_code:
            return 200
        return 503 if self.service_failed else ERROR_STATUS.get(self.error_code, 422)

    @property
    def thumbnail_url(self) -> str:
        return self.search.thumbnail.url if self.search and self.search.thumbnail else ""


def cards_for(hits: list[ProductHit], device: str, start: int = 1) -> list[Card]:
    return [Card(hit=hit, buy_link=hit.buy_link(device), rank=rank) for rank, hit in enumerate(hits, start=start)]


def shopper_error_text(code: str, message: str) -> str:
    """The error message a shopper reads; a Juhe service failure's own (its key, its quota: for an administrator,
    kept in history) becomes "not available right now"."""
    if is_service_failure(code):
        return error_text("engine_unavailable")
    return error_text(code, message)


def notice_now(stored: str) -> str:
    """A saved search's notice in the page's language: it is stored as it was shown, in the language of the
    shopper who searched (a search made in English showed its English notice on the Chinese page). The busy
    server's notices and the Juhe fallback's whose reason is our own fixed words are recognised in every
    language, and so are the `both` backend's notices that our own catalog failed; a fallback carrying Juhe's own
    words (an unknown code, an HTTP status) stays as stored."""
    if not stored:
        return stored
    for notice in notice_makers():
        if stored in written_forms(notice):
            return notice()
    return stored


@lru_cache(maxsize=1)
def notice_makers() -> tuple[Callable[[], str], ...]:
    """Each notice a search may store, made in the active language when called."""
    from search.backends.local import BUSY_TEXT, QUICK_TEXT
    from search.backends.remote import fixed_fallback_notices, fixed_juhe_only_notices

    return (
        partial(gettext, BUSY_TEXT),
        partial(gettext, QUICK_TEXT),
        *fixed_fallback_notices(),
        *fixed_juhe_only_notices(),
    )


@lru_cache(maxsize=32)  # the catalogues are loaded once per process; this ran on every render of such a search
def written_forms(notice: Callable[[], str]) -> frozenset[str]:
    forms = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            forms.add(notice())
    return frozenset(forms)


def results_from_outcome(outcome: SearchOutcome, search: Search | None, device: str) -> Results:
    return Results(
        cards=cards_for(outcome.hits, device),
        search=search,
        error_code=outcome.error_code,
        error_message=shopper_error_text(outcome.error_code, outcome.error_message) if outcome.error_code else "",
        notice=outcome.notice,
        uncertain=outcome.uncertain,
    )


def results_from_saved(
    search: Search, device: str, hits: list[ProductHit] | None = None, *, cards: bool = True
) -> Results:
    """The saved search's hits as cards (`cards=False`: the caller pages them itself)."""
    hits = search.product_hits() if hits is None else hits
    return Results(
        cards=cards_for(hits, device) if cards else [],
        search=search,
        error_code=search.error_code,
        error_message=shopper_error_text(search.error_code, search.error_message) if search.error_code else "",
        notice=notice_now(search.notice),
        uncertain=bool(hits) and hits[0].similarity < settings.SNAPSHOP_SIMILARITY_FLOOR,
    )


@dataclass
class RecentSearch:
    """A search as the recent list shows it (search/_recent.html): its permalink, thumbnail and time, and
    its top hit's name (None without hits)."""

    pk: int
    url: str
    thumbnail_url: str
    created: datetime
    error_code: str
    top_name: str | None

    @property
    def created_iso(self) -> str:
        """As the template's `created|date:'c'` writes it (in the current time zone), at a sixth of its cost."""
        aware = settings.USE_TZ and timezone.is_aware(self.created)
        return (timezone.localtime(self.created) if aware else self.created).isoformat()


def recent_searches(request: HttpRequest) -> list[RecentSearch]:
    """The session's last searches with a photo, newest first, in one query that reads only what the list
    shows. Written out rather than built by the ORM (a `Subquery` annotation): compiling that query cost
    ~0.9 ms of CPU a page, ten times what running it costs."""
    session_key = request.session.session_key
    if not session_key:
        return []
    key, when, photo = column(Search, "id"), column(Search, "created"), column(Search, "thumbnail")
    sql = (
        f"SELECT s.{key}, s.{when}, s.{photo}, s.{column(Search, 'error_code')}, "
        f"(SELECT h.{column(SearchHit, 'name')} FROM {table(SearchHit)} h WHERE h.{column(SearchHit, 'search')} = "
        f"s.{key} AND h.{column(SearchHit, 'rank')} = 1) AS {connection.ops.quote_name('top_name')} "
        f"FROM {table(Search)} s WHERE s.{column(Search, 'session_key')} = %s AND s.{photo} <> '' "
        f"ORDER BY s.{when} DESC, s.{key} DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_key, RECENT_COUNT])
        rows = cursor.fetchall()
    ((created_column, steps),) = column_converters(Search, ["created"])
    storage = Search._meta.get_field("thumbnail").storage
    recent = []
    for pk, created, thumbnail, error_code, top_name in rows:
        for step in steps:
            created = step(created, created_column, connection)
        recent.append(
            RecentSearch(
                pk=pk,
                url=reverse("search_detail", args=[pk]),
                thumbnail_url=stored_url(storage, thumbnail),
                created=created,
                error_code=error_code,
                top_name=top_name,
            )
        )
    return recent


def device_of(request: HttpRequest) -> str:
    return device_kind(request.headers.get("user-agent", ""))


def page_context(request: HttpRequest, form: PhotoForm, results: Results | None) -> dict[str, object]:
    return {
        "form": form,
        "results": results,
        "recent": recent_searches(request),
        "device": device_of(request),
        "max_upload_bytes": settings.SNAPSHOP_MAX_UPLOAD_BYTES,
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
    outcome = run_search(data, limit=MAX_RESULTS)
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
