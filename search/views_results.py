"""Result pages: a saved search refined by the state in its URL, new searches made from a saved one
(a region of its photo) or from a catalog product ("more like this"), and the text search.

Refining (filters, sort, keyword, page) is a GET of the same page with a query string, so the URL is
the state: htmx pushes it, the back button and a shared link restore it. Searching a region or
"more like this" is a POST that records a new search (a new history row with its own copy of the photo).
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url, retarget

from catalog.models import Product
from search.devices import device_of
from search.forms import PhotoForm, error_text
from search.hits import ProductHit
from search.keeping import analyse
from search.models import Search
from search.photo import QueryPhoto
from search.refine import MAX_RESULTS, State, credible, facets, ordered, page_size
from search.results import SERVICE_FAILURES, Results, cards_for, results_from_outcome, results_from_saved
from search.services import SearchOutcome, run_search, stored_hits
from search.sources import (
    catalog_hits,
    hits_of_search,
    photo_bytes,
    region_numbers,
    saved_region,
    usable_region,
)
from search.views import HtmxHttpRequest, render_results, save_history
from vision.engine import Box

logger = logging.getLogger(__name__)


class SearchGone(Http404):
    """No such search in this session: never made, made elsewhere, or deleted (perhaps in another tab)."""


def own_search(request: HttpRequest, pk: object) -> Search:
    """A saved search of this session (or any, for staff); SearchGone (a 404) otherwise."""
    try:
        search = Search.objects.filter(pk=int(str(pk))).first()
    except ValueError as exc:
        raise SearchGone("No such search.") from exc
    own = search is not None and bool(request.session.session_key) and search.session_key == request.session.session_key
    if search is None or not (own or (request.user.is_authenticated and request.user.is_staff)):
        raise SearchGone("No such search.")
    return search


def search_gone(request: HtmxHttpRequest) -> HttpResponse:
    """What htmx shows for a search that is gone (refining it, a chip, "show more" on a page left open while it
    was deleted): a message in the results area, where a bare 404 only gave "could not be completed"."""
    results = Results(cards=[], error_code="search_gone", error_message=error_text("search_gone"))
    response = render_results(request, PhotoForm(), results, status=410)
    response["HX-Reswap"] = "innerHTML show:#results:top"  # django_htmx's reswap() types no modifiers
    return retarget(response, "#results")


def refined_results(
    request: HttpRequest, search: Search, state: State, hits: list[ProductHit] | None = None
) -> Results:
    """The saved search as the state asks: within the filters, narrowed by the keyword, sorted, paged.
    `hits`: the search's stored hits when the caller has them already (a search just recorded)."""
    device = device_of(request)
    stored = search.product_hits() if hits is None else hits  # read once, whatever the state
    results = results_from_saved(search, device, stored, cards=False)
    results.state = state
    results.base_url = reverse("search_detail", args=[search.pk])
    results.photo = QueryPhoto.of(search)
    if search.error_code and not stored:
        return results
    hits = list(stored) if state.engine_filter() is None and not state.q else hits_of_search(search, state)
    results.total = len(hits)
    results.facets = facets(hits, state)
    shown = ordered(hits, state.sort)
    if request_wants_more(request):
        start = (state.page - 1) * page_size()
        results.cards = cards_for(shown[start : state.shown], device, start=start + 1)
    else:
        results.cards = cards_for(shown[: state.shown], device)
    if state.refined:  # the notice follows what is shown: a filter may leave only weak matches, or none
        results.uncertain = bool(hits) and not any(credible(hit) for hit in hits)
    return results


def request_wants_more(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and htmx.target == "grid" and not htmx.history_restore_request  # type: ignore[union-attr]


def answer(request: HtmxHttpRequest, outcome: SearchOutcome, data: bytes, parent: Search | None = None) -> HttpResponse:
    """Record a new search and show it; htmx gets its permalink pushed."""
    device = device_of(request)
    subjects: list[list[float]] | None = None
    hints: list[str] | None = None
    if parent is not None:
        subjects, hints = parent.subjects, parent.hints
    elif outcome.photo is not None:
        subjects, hints = analyse(outcome.photo, outcome.early_look())
        if outcome.like_sku:
            hints = None  # a catalog picture: tips on taking the photo are not for the shopper
    saved = save_history(request, outcome, data, device, subjects=subjects, hints=hints)
    if saved is None:  # history could not be written: the results still show, without refining
        results = results_from_outcome(outcome, None, device)
        results.cards = results.cards[: page_size()]
        return render_results(request, PhotoForm(), results)
    if not request.htmx and (parent is not None or request.POST.get("sku") or outcome.ok):
        # A plain form gets the permalink (POST/redirect/GET): a reload must not upload the photo again and make
        # a second search, and the address can be kept. A photo refused or matching nothing is answered here, with
        # its status, its message beside the form to try another.
        return redirect("search_detail", saved.pk)
    # The hits just written, as reading them back would give them (no second round trip for the first page).
    results = refined_results(request, saved, State(), hits=stored_hits(outcome))
    response = render_results(request, PhotoForm(), results, status=results.status)
    if request.htmx:
        push_url(response, reverse("search_detail", args=[saved.pk]))
    return response


def refused(request: HtmxHttpRequest, code: str) -> HttpResponse:
    return render_results(request, PhotoForm(), Results(cards=[], error_code=code, error_message=error_text(code)))


def search_region(request: HtmxHttpRequest) -> HttpResponse:
    """Search again with a saved search's stored photo: a region of it, or the same region ("search again")."""
    try:
        parent = own_search(request, request.POST.get("search", ""))
    except SearchGone:
        if request.htmx:
            return search_gone(request)
        raise
    region: Box | None
    if request.POST.get("region"):
        numbers = region_numbers(request.POST["region"])
        if numbers is None:
            return refused(request, "bad_region_value")
        region = usable_region(numbers)
        if region is None:
            return refused(request, "bad_region")
    else:
        region = saved_region(parent)
    data = photo_bytes(parent)
    if data is None:
        return refused(request, "photo_gone")
    outcome = run_search(data, region=region, limit=MAX_RESULTS, like_sku=parent.like_sku, keep="copies")
    return answer(request, outcome, data, parent=parent)


def search_like(request: HtmxHttpRequest) -> HttpResponse:
    """ "More like this": search with the product's own picture, recorded like any search; the product
    itself is left out of the results."""
    product = Product.objects.filter(sku_id=request.POST.get("sku", "")[:64]).first()
    if product is None:  # removed from the catalog while its card was on the page
        return refused(request, "product_gone")
    picture = product.images.exclude(image="").first()
    if picture is None:
        return refused(request, "no_picture")
    try:
        with picture.image.open("rb") as handle:
            data = handle.read()
    except OSError:
        logger.warning("picture of %s is missing", product)
        return refused(request, "photo_gone")
    outcome = run_search(data, limit=MAX_RESULTS, like_sku=product.sku_id, keep="copies_and_look")
    return answer(request, outcome, data)


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def search_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A saved search's permalink: only from the session that made it, or by staff. The query string
    refines it (see search.refine.State)."""
    try:
        search = own_search(request, pk)
    except SearchGone:
        if request.htmx and not request.htmx.history_restore_request:
            return search_gone(request)
        raise
    results = refined_results(request, search, State.from_query(request.GET))
    status = results.status if results.error_code in SERVICE_FAILURES else 200
    return render_results(request, PhotoForm(), results, status=status)


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def find(request: HtmxHttpRequest) -> HttpResponse:
    """Search the catalog by words, for a shopper without a photo."""
    state = State.from_query(request.GET)
    if not state.q:
        results = Results(cards=[], error_code="no_words", error_message=error_text("no_words"))
        return render_results(request, PhotoForm(), results, status=200)
    hits, more = catalog_hits(state)
    results = Results(cards=[], state=state, base_url=reverse("find"), textual=True, total=len(hits))
    results.facets = facets(hits, state)
    if more:  # the count and the filters' counts are of the first ones only: say so
        results.notice = gettext(
            "More than %(count)d products have these words; the first %(count)d are shown. Add a word to narrow them."
        ) % {"count": len(hits)}
    shown = ordered(hits, state.sort)
    if request_wants_more(request):
        start = (state.page - 1) * page_size()
        results.cards = cards_for(shown[start : state.shown], device_of(request), start=start + 1)
    else:
        results.cards = cards_for(shown[: state.shown], device_of(request))
    if not hits:
        results.error_code = "no_results"
        results.error_message = error_text("no_text_results")
    return render_results(request, PhotoForm(), results, status=200)
