"""POST /snapshop/query: the Juhe 拍照购 API, answered by the local engine.

Same request (form fields `image`, `key`), same envelope
{"reason", "result": {"data", "request_id"}, "error_code"}, same codes, and
never an HTML error page. Every request is kept in history (channel "api").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt

from api.forms import QueryForm
from api.models import ApiKey
from search.forms import error_text
from search.models import Search
from search.services import SearchOutcome, record_search, run_search

logger = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.yaml"
# The reasons Juhe itself gives (its documentation's wording).
REASONS = {
    0: "success",
    10001: "错误的请求KEY",
    10003: "KEY过期",
    10007: "未知的请求源",
    10009: "被禁止的KEY",
    10012: "请求超过次数限制",
    10014: "系统内部异常",
    254701: "图片内容为空/超出限制/格式不正确",
    254704: "查询失败",
}
KEY_STATE_CODES = {ApiKey.State.REVOKED: 10009, ApiKey.State.EXPIRED: 10003}
LINK_FIELDS = ("imageUrl", "detailUrl", "detailAppUrl")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# What follows the reason: in the language the client asks for (Accept-Language), like the image's errors.
SEND_AS_FORM = gettext_lazy("send key and image as application/x-www-form-urlencoded form fields in the request body")
IN_THE_URL = gettext_lazy("it is in the URL's query string")


def too_large_reason() -> str:
    """Also said by search.body_limit, before the body is read."""
    return _("the request is too large")


def envelope(
    error_code: int, detail: str = "", result: dict[str, Any] | None = None, status: int = 200
) -> JsonResponse:
    reason = REASONS[error_code] + (f": {detail}" if detail else "")
    return JsonResponse(
        {"reason": reason, "result": result, "error_code": error_code},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def refuse(error_code: int, detail: str = "", *, api_key: ApiKey | None = None, outcome: SearchOutcome | None = None,
           data: bytes = b"") -> JsonResponse:  # fmt: skip
    """Answer with an error and keep the refused request in history."""
    if outcome is None:
        outcome = SearchOutcome(
            backend="local", error_code=f"api_{error_code}", error_message=detail or REASONS[error_code]
        )
    record_search(outcome, data, channel=Search.Channel.API, session_key=session_for(api_key))
    return envelope(error_code, detail)


def session_for(api_key: ApiKey | None) -> str:
    return f"api:{api_key.prefix}" if api_key else "api:"


def absolute_links(request: HttpRequest, item: dict[str, Any]) -> dict[str, Any]:
    """Our own pictures and pages are site-relative; an API client needs whole URLs."""
    for name in LINK_FIELDS:
        if str(item.get(name, "")).startswith("/") and not str(item[name]).startswith("//"):
            item[name] = request.build_absolute_uri(item[name])
    item["allImageUrls"] = [
        request.build_absolute_uri(url) if url.startswith("/") and not url.startswith("//") else url
        for url in item.get("allImageUrls", [])
    ]
    return item


def method_not_allowed(allow: str, detail: str) -> JsonResponse:
    """Juhe's 10007 as HTTP 405, with the methods that are allowed."""
    response = envelope(10007, detail, status=405)
    response["Allow"] = allow
    return response


@csrf_exempt
def snapshop_query(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed("POST", _("use POST with the form fields image and key"))
    try:
        return answer_query(request)
    except Exception:  # the API answers JSON, never Django's HTML 500 page
        logger.exception("/snapshop/query failed")
        return envelope(10014, status=500)


def not_a_form(request: HttpRequest) -> str:
    """Why the key cannot be read from a body that is not form data (JSON, the usual mistake, or anything else)."""
    content_type = request.content_type or ""
    if not content_type:
        sent = _("the request has no Content-Type")
    elif "json" in content_type:
        sent = _("the body is JSON")
    else:
        sent = _("the body is %(type)s") % {"type": content_type[:80]}
    return missing_field("key", sent)


def missing_field(name: str, why: object) -> str:
    return _("no %(field)s in the form fields (%(why)s); %(how)s") % {"field": name, "why": why, "how": SEND_AS_FORM}


def answer_query(request: HttpRequest) -> JsonResponse:
    if request.content_type not in FORM_TYPES:  # Django reads no fields from it: the key would look wrong
        return refuse(10001, not_a_form(request))
    if request.content_type == "application/x-www-form-urlencoded":
        # Clients label the body GBK, gb2312, latin1...; Django refuses such urlencoded bodies (BadRequest), but the
        # fields are ASCII (a hex key, base64), which reads the same in any of them.
        request.encoding = "utf-8"
    try:
        form = QueryForm(request.POST, request.FILES)
    except RequestDataTooBig:
        return refuse(254701, too_large_reason())
    except (SuspiciousOperation, MultiPartParserError):  # no boundary, too many fields...
        return refuse(254701, _("the request body cannot be read; send image and key as form fields"))
    raw_key = str(form.data.get("key", ""))
    if not raw_key.strip() and request.GET.get("key"):
        return refuse(10001, missing_field("key", IN_THE_URL))
    api_key = ApiKey.objects.lookup(raw_key)
    if api_key is None:
        return refuse(10001)
    state = api_key.state()
    if state in KEY_STATE_CODES:
        return refuse(KEY_STATE_CODES[state], api_key=api_key)
    if not api_key.consume():
        return refuse(10012, api_key=api_key)
    if not form.is_valid():
        if not form.data.get("image") and "image" not in form.files and request.GET.get("image"):
            return refuse(254701, missing_field("image", IN_THE_URL), api_key=api_key)
        return refuse(254701, form.image_error() or _("bad request"), api_key=api_key)
    data: bytes = form.cleaned_data["image"]
    # Always the local engine: a SnapShop whose own backend is `juhe` may point at this very endpoint.
    outcome = run_search(data, backend="local", keep="copies")
    record_search(outcome, data, channel=Search.Channel.API, session_key=session_for(api_key))
    if outcome.ok:
        hits = [absolute_links(request, hit.to_juhe()) for hit in outcome.hits]
        return envelope(0, result={"data": hits, "request_id": outcome.request_id})
    if outcome.photo is None:  # the photo itself was refused (the engine says why in English; the page's words)
        return envelope(254701, error_text(outcome.error_code, outcome.error_message))
    return envelope(254704, outcome.error_message)


@csrf_exempt  # a POST here gets the API's JSON refusal below, not Django's HTML 403 for a missing CSRF token
def openapi_yaml(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET, HEAD", _("the description is read with GET"))
    return HttpResponse(OPENAPI_PATH.read_bytes(), content_type="application/yaml; charset=utf-8")


@csrf_exempt  # a Juhe client POSTs without a CSRF token: a wrong path must get this JSON, not the HTML 403
def not_found(request: HttpRequest, rest: str | None = None) -> JsonResponse:
    return JsonResponse(
        {"reason": _("not found: use POST /snapshop/query"), "result": None, "error_code": 404},
        status=404,
        json_dumps_params={"ensure_ascii": False},
    )
