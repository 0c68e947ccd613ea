"""The shopper's recent searches (this session only): list, re-open, search again, delete one or all.
Deleting a search deletes its photo and thumbnail files with it."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from search.models import Search, SearchHit
from search.sources import region_text

HISTORY_COUNT = 50


def listed(request: HttpRequest) -> QuerySet[Search]:
    """The session's searches that the list shows: those with a photo to show."""
    return Search.objects.for_session(request.session.session_key).exclude(thumbnail="")


def session_searches(request: HttpRequest) -> list[Search]:
    top_hit = Prefetch("hits", queryset=SearchHit.objects.filter(rank=1), to_attr="top_hits")
    searches: list[Search] = list(listed(request).prefetch_related(top_hit)[:HISTORY_COUNT])
    for search in searches:
        search.region_param = region_text(search.region)  # type: ignore[attr-defined]
    return searches


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    return render(request, "search/history.html", {"searches": session_searches(request)})


def delete(searches: list[Search]) -> None:
    for search in searches:
        search.delete_files()
        search.delete()


def done(request: HttpRequest) -> HttpResponse:
    """htmx removes what was deleted (an empty 200 swapped in its place); a plain form goes back to the list."""
    if getattr(request, "htmx", False):
        return HttpResponse("")
    return redirect("history")


@require_POST
def delete_one(request: HttpRequest, pk: int) -> HttpResponse:
    delete(list(Search.objects.for_session(request.session.session_key).filter(pk=pk)))
    if getattr(request, "htmx", False) and not listed(request).exists():
        # The last one gone: removing its item alone left "Delete all" over an empty list and no word that the
        # list is empty. Swap the whole list for its empty state instead (snapshop.js then focuses the heading).
        return empty_list(request)
    return done(request)


@require_POST
def delete_all(request: HttpRequest) -> HttpResponse:
    delete(list(Search.objects.for_session(request.session.session_key)))
    if getattr(request, "htmx", False):
        return empty_list(request)
    return redirect("history")


def empty_list(request: HttpRequest) -> HttpResponse:
    """The whole #history-list in its empty state, swapped for the list whatever the request targeted."""
    response = render(request, "search/_history_list.html", {"searches": []})
    return reswap(retarget(response, "#history-list"), "outerHTML")
