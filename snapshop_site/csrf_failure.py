"""The answer to a POST whose CSRF token is stale (CSRF_FAILURE_VIEW), instead of Django's bare page.

The token rotates when the shopper logs in (to the admin, in another tab) or clears cookies; the page left open
still sends the old one, and every search it makes fails until it is reloaded. htmx got a 403 it did not swap
("The search could not be completed. Please try again.", and trying again never worked); a plain form got
Django's unstyled "CSRF verification failed" page. Both now say the page expired and link to a reload.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext

from search.results import Results
from search.views import HtmxHttpRequest

EXPIRED_CODE = "page_expired"


def expired_message() -> str:
    return gettext(
        "Your browser sent a form that is out of date (after signing in or out in another tab, or clearing "
        "cookies). Reload the page and try again."
    )


def page_to_reload(request: HtmxHttpRequest) -> str:
    """The shopper's page as a path on this site: htmx names it (HX-Current-URL), a plain form's browser sends
    it as the Referer. Both are the client's word, so another site's address is not linked to: "" then."""
    url = (request.htmx.current_url if request.htmx else request.headers.get("Referer")) or ""
    if not url or not url_has_allowed_host_and_scheme(url, {request.get_host()}, require_https=request.is_secure()):
        return ""
    split = urlsplit(url)
    path = "/" + split.path.lstrip("/")  # "//evil.example/" in the path would be a link to that host
    return urlunsplit(("", "", path, split.query, ""))


def csrf_failure(request: HtmxHttpRequest, reason: str = "") -> HttpResponse:
    """403 with the message: the error fragment for htmx (base.html swaps 403 like the other errors), else a page."""
    results = Results(cards=[], error_code=EXPIRED_CODE, error_message=expired_message())
    context = {"results": results, "reload_url": page_to_reload(request)}
    if request.htmx:
        return render(request, "search/_error.html", context, status=403)
    return render(request, "403_csrf.html", context, status=403)
