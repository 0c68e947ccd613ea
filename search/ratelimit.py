"""Rate limits for the two doors a flood comes through: the web search form and /snapshop/query.

Fixed one-minute windows counted in Django's default cache. With the default
LocMemCache each process counts on its own (gunicorn with 2 workers lets a
client through up to twice the figure); point CACHES at Redis or Memcached for
one shared count.

- Web: POST to the search URL, and a saved search refined by a filter (which runs the engine again within
  it), per session (SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE)
  and per client IP (that figure × SNAPSHOP_RATE_LIMIT_IP_MULTIPLIER, so shoppers
  behind one NAT are not punished together and dropping the cookie buys nothing more).
  Refused with 429 and the error fragment, which htmx swaps into the results area.
- API: /snapshop/query per client IP (SNAPSHOP_API_RATE_LIMIT_PER_MINUTE), refused
  like Juhe does: HTTP 200, {"reason": ..., "result": null, "error_code": 10011}.

A refused request never reaches the search, so it is not recorded in history.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import ngettext

WINDOW_SECONDS = 60
API_PATH = re.compile(r"^/snapshop/query/?$")
SAVED_SEARCH_PATH = re.compile(r"^/s/\d+/$")
API_REASON = "当前IP请求超过限制"  # Juhe's wording for 10011


def client_ip(request: HttpRequest) -> str:
    if settings.SNAPSHOP_TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1][:64]  # the address our own proxy saw; earlier entries are the client's word
    return str(request.META.get("REMOTE_ADDR", "") or "unknown")[:64]


def hit(scope: str, ident: str, limit: int, now: float | None = None) -> tuple[bool, int]:
    """Count one request; (allowed, seconds until the window ends)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"snapshop-rl:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
    return count <= limit, retry_after


def search_path() -> str:
    try:
        return reverse("search")
    except NoReverseMatch:  # pragma: no cover - search.urls always names it
        return "/search/"


class RateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self.check(request)
        return refused if refused is not None else self.get_response(request)

    def check(self, request: HttpRequest) -> HttpResponse | None:
        if request.method == "GET" and SAVED_SEARCH_PATH.match(request.path_info) and self.runs_the_engine(request):
            return self.check_web(request)
        if request.method != "POST":
            return None
        if API_PATH.match(request.path_info):
            limit = settings.SNAPSHOP_API_RATE_LIMIT_PER_MINUTE
            if limit > 0:
                allowed, retry = hit("api-ip", client_ip(request), limit)
                if not allowed:
                    response = JsonResponse(
                        {"reason": API_REASON, "result": None, "error_code": 10011},
                        json_dumps_params={"ensure_ascii": False},
                    )
                    response["Retry-After"] = str(retry)
                    return response
            return None
        if request.path_info == search_path():
            return self.check_web(request)
        return None

    @staticmethod
    def runs_the_engine(request: HttpRequest) -> bool:
        """A filter on a saved search searches its photo again within it: a search like any other (each new
        price was a full search, unlimited). Sorting, paging and the keyword box only reorder stored hits."""
        from search.refine import State

        return State.from_query(request.GET).engine_filter() is not None

    def check_web(self, request: HttpRequest) -> HttpResponse | None:
        limit = settings.SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE
        if limit <= 0:
            return None
        ip_limit = limit * max(1, settings.SNAPSHOP_RATE_LIMIT_IP_MULTIPLIER)
        allowed, retry = hit("web-ip", client_ip(request), ip_limit)
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        if allowed and session_key:
            allowed, retry = hit("web-session", session_key, limit)
        return None if allowed else self.web_refusal(request, retry)

    def web_refusal(self, request: HttpRequest, retry: int) -> HttpResponse:
        from search.forms import PhotoForm
        from search.results import Results
        from search.views import page_context

        message = ngettext(
            "Too many searches in a short time. Please wait %(seconds)d second and try again.",
            "Too many searches in a short time. Please wait %(seconds)d seconds and try again.",
            retry,
        ) % {"seconds": retry}
        results = Results(cards=[], error_code="rate_limited", error_message=message)
        if request.headers.get("HX-Request") == "true":
            response = render(request, "search/_error.html", {"results": results}, status=429)
        else:
            response = render(request, "search/home.html", page_context(request, PhotoForm(), results), status=429)
        response["Retry-After"] = str(retry)
        return response
