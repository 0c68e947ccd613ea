"""Requests too large to be a photo search are refused before their body is read.

Django limits form fields (DATA_UPLOAD_MAX_MEMORY_SIZE) but streams file parts to disk whatever their size,
so a 300 MB upload was received whole (to the API too, before its key was looked at) and only then
refused. No valid search comes near DATA_UPLOAD_MAX_MEMORY_SIZE (1.5x the photo limit plus 1 MB): a body
that declares more is answered at once, as the view would refuse its photo. A client that sends no
Content-Length (chunked) is still bounded by the view's checks; a reverse proxy's body limit (nginx's
client_max_body_size) bounds it in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return self.refuse(request)
        return self.get_response(request)

    @staticmethod
    def refuse(request: HttpRequest) -> HttpResponse:
        if request.path.rstrip("/") == reverse("snapshop_query").rstrip("/"):
            from api.views import envelope, too_large_reason

            return envelope(254701, too_large_reason())  # HTTP 200, as Juhe answers its errors
        from search.forms import PhotoForm, too_large_message
        from search.results import Results
        from search.views import HtmxHttpRequest, render_results

        results = Results(cards=[], error_code="too_large", error_message=too_large_message())
        return render_results(cast(HtmxHttpRequest, request), PhotoForm(), results, status=413)
