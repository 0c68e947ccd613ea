"""POST /snapshop/query: the Juhe-compatible endpoint, every code it answers, and its history."""

from __future__ import annotations

import base64
import io
import json
import random
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiKey, ApiKeyUsage
from search.backends.base import EngineUnavailable
from search.models import Search
from tests.conftest import CatalogItem
from tests.images import jpeg

URL = "/snapshop/query"


def post(client: Client, **fields: str) -> dict:
    response = client.post(URL, urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def key(db) -> str:
    return ApiKey.issue("tests")[1]


def test_success_is_juhe_shaped(client: Client, key: str, small_catalog: list[CatalogItem]) -> None:
    item = small_catalog[1]
    answer = post(client, key=key, image=b64(item.picture.read_bytes()))
    assert answer["error_code"] == 0 and answer["reason"] == "success"
    first = answer["result"]["data"][0]
    assert set(first) == {
        "skuId", "skuName", "skuPrice", "wareLabel", "similarity", "imageUrl", "detailUrl", "detailAppUrl",
        "cid1Name", "cid2Name", "cid3Name", "allImageUrls",
    }  # fmt: skip
    assert str(first["skuId"]) == item.product.sku_id
    assert isinstance(first["skuPrice"], str) and isinstance(first["similarity"], float)
    assert first["skuPrice"] == f"{item.product.price:.2f}"
    assert all(url.startswith("http") for url in first["allImageUrls"])
    search = Search.objects.get(request_id=answer["result"]["request_id"])
    assert search.channel == Search.Channel.API and search.answered_by == "local" and search.result_count > 0


def test_sku_ids_are_numbers_only_where_a_number_keeps_them(
    client: Client, key: str, small_catalog: list[CatalogItem]
) -> None:
    """int() dropped an EAN's leading zeros, and "²" (str.isdigit() is true) made the whole answer a 500."""
    names = {
        "0012345678905": small_catalog[1],
        "²": small_catalog[2],
        "１２３": small_catalog[3],
        "8123": small_catalog[4],
        "7000": small_catalog[5],
    }
    for sku, item in names.items():
        item.product.sku_id = sku
        item.product.save()
    zero = next((item.product for item in small_catalog if item.product.sku_id == "0"), small_catalog[6].product)
    zero.sku_id = "0"
    zero.save()
    answer = post(client, key=key, image=b64(small_catalog[1].picture.read_bytes()))
    assert answer["error_code"] == 0
    skus = [hit["skuId"] for hit in answer["result"]["data"]]
    assert skus[0] == "0012345678905" and {"²", "１２３", 8123, 7000, 0} <= set(
        skus
    )  # 0 too: a typed client reads a number


def test_tolerates_data_header_line_breaks_and_unencoded_plus(key: str, small_catalog: list[CatalogItem]) -> None:
    encoded = b64(small_catalog[0].picture.read_bytes())
    wrapped = "data:image/jpeg;base64," + "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    raw_body = f"key={key}&image={wrapped.replace('+', ' ')}"  # a client that forgot to URL-encode
    response = Client().post(URL, raw_body, content_type="application/x-www-form-urlencoded")
    assert response.json()["error_code"] == 0


@pytest.mark.parametrize("charset", ["GBK", "gb2312", "ISO-8859-1", "utf8"])
def test_a_declared_charset_other_than_utf8_is_read_all_the_same(
    client: Client, key: str, small_catalog: list[CatalogItem], charset: str
) -> None:
    body = urlencode({"key": key, "image": b64(small_catalog[1].picture.read_bytes())})
    response = client.post(URL, body, content_type=f"application/x-www-form-urlencoded; charset={charset}")
    assert response.status_code == 200 and response.json()["error_code"] == 0


def test_multipart_form_works_too(client: Client, key: str, small_catalog: list[CatalogItem]) -> None:
    answer = client.post(URL, {"key": key, "image": b64(small_catalog[0].picture.read_bytes())}).json()
    assert answer["error_code"] == 0


@pytest.mark.parametrize("fields", [{}, {"key": ""}, {"key": "0" * 32}, {"key": "x" * 500}])
def test_missing_or_unknown_key_is_10001(client: Client, db, fields: dict) -> None:
    answer = post(client, image=b64(jpeg()), **fields)
    assert answer == {"reason": "错误的请求KEY", "result": None, "error_code": 10001}


def test_expired_key_is_10003(client: Client, db) -> None:
    api_key, raw = ApiKey.issue("old", expires_days=1)
    ApiKey.objects.filter(pk=api_key.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert post(client, key=raw, image=b64(jpeg()))["error_code"] == 10003


def test_revoked_key_is_10009(client: Client, db) -> None:
    api_key, raw = ApiKey.issue("gone")
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)
    assert post(client, key=raw, image=b64(jpeg()))["error_code"] == 10009


def test_daily_quota_is_10012_and_counted(client: Client, db) -> None:
    api_key, raw = ApiKey.issue("small", daily_quota=1)
    assert post(client, key=raw, image="")["error_code"] == 254701
    assert post(client, key=raw, image=b64(jpeg()))["error_code"] == 10012
    usage = ApiKeyUsage.objects.get(api_key=api_key)
    assert (usage.requests, usage.refused) == (1, 1)
    assert api_key.requests_today() == 1


@pytest.mark.parametrize(
    ("image", "detail"),
    [
        (None, "missing"),
        ("", "missing"),
        ("%%%not base64%%%", "base64"),
        (b64(b"hello, not a picture"), "not a picture"),
        (b64(jpeg(40, 40)), "too small"),
    ],
)
def test_bad_image_is_254701(client: Client, key: str, image: str | None, detail: str) -> None:
    fields = {"key": key} if image is None else {"key": key, "image": image}
    answer = post(client, **fields)
    assert answer["error_code"] == 254701 and answer["result"] is None
    assert answer["reason"].startswith("图片内容为空/超出限制/格式不正确: ")
    assert detail in answer["reason"]


def test_too_large_image_is_254701(client: Client, key: str, settings) -> None:
    settings.SNAPSHOP_MAX_UPLOAD_BYTES = 10_000
    answer = post(client, key=key, image=b64(jpeg(640, 480) * 4))
    assert answer["error_code"] == 254701 and "too large" in answer["reason"]


def test_a_photo_just_under_the_upload_limit_is_accepted(client: Client, key: str, settings) -> None:
    """The documented limit holds once the photo is base64- and URL-encoded (~1.42x its size)."""
    photo = jpeg(640, 480)
    # Compressed data is random-like; bytes after the JPEG's end are ignored by decoders.
    photo += random.Random(0).randbytes(settings.SNAPSHOP_MAX_UPLOAD_BYTES - 1024 - len(photo))
    answer = post(client, key=key, image=b64(photo))
    assert "too large" not in answer["reason"]
    assert answer["error_code"] == 254704  # read and searched: the catalog is empty


def test_request_body_over_django_limit_is_254701(client: Client, key: str, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = post(client, key=key, image=b64(jpeg()))
    assert answer["error_code"] == 254701


def test_no_results_is_254704_with_reason(client: Client, key: str) -> None:
    answer = post(client, key=key, image=b64(jpeg()))  # empty catalog
    assert answer["error_code"] == 254704 and answer["reason"].startswith("查询失败: ")


def test_engine_failure_is_254704(client: Client, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise EngineUnavailable("The search engine is not available right now.")

    monkeypatch.setattr("search.services.search_local", broken)
    answer = post(client, key=key, image=b64(jpeg()))
    assert answer == {"reason": "查询失败: The search engine is not available right now.", "result": None,
                      "error_code": 254704}  # fmt: skip


def test_unexpected_error_is_json_10014(client: Client, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("api.views.run_search", crash)
    response = client.post(URL, {"key": key, "image": b64(jpeg())})
    assert response.status_code == 500 and response.json()["error_code"] == 10014


def test_get_is_a_json_error(client: Client, db) -> None:
    response = client.get(URL)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["error_code"] == 10007


@pytest.mark.parametrize("path", ["/snapshop/", "/snapshop/nothing/here", "/snapshop", "/snapshop/query.php"])
def test_unknown_paths_under_snapshop_are_json(db, path: str) -> None:
    client = Client(enforce_csrf_checks=True)  # as a Juhe client posts: no CSRF cookie or token
    response = client.post(path, {"key": "k", "image": "x"})
    assert response.status_code == 404 and response.json()["error_code"] == 404


def test_every_request_is_in_history_without_the_key(client: Client, db) -> None:
    api_key, raw = ApiKey.issue("history", daily_quota=2)
    post(client, key="wrong", image=b64(jpeg()))
    post(client, key=raw, image="%%%")
    post(client, key=raw, image=b64(jpeg()))
    post(client, key=raw, image=b64(jpeg()))
    searches = Search.objects.filter(channel=Search.Channel.API).order_by("pk")
    assert [s.error_code for s in searches] == ["api_10001", "api_254701", "no_results", "api_10012"]
    assert all(raw not in f"{s.error_message} {s.notice} {s.session_key}" for s in searches)
    assert searches[1].session_key == f"api:{api_key.prefix}"


def test_key_is_stored_hashed(db) -> None:
    api_key, raw = ApiKey.issue("hashed")
    assert raw not in api_key.key_hash and api_key.prefix == raw[:8]
    assert ApiKey.objects.lookup(raw) == api_key and ApiKey.objects.lookup(raw.upper()) is None


def test_create_api_key_prints_the_key_last(client: Client, db) -> None:
    out = io.StringIO()
    call_command("create_api_key", "partner", "--daily-quota", "5", "--expires-days", "30", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    api_key = ApiKey.objects.lookup(raw)
    assert api_key is not None and api_key.name == "partner" and api_key.daily_quota == 5
    assert api_key.expires is not None and api_key.expires > timezone.now() + timedelta(days=29)
    assert post(client, key=raw, image="")["error_code"] == 254701  # accepted key, bad image


def test_create_api_key_refuses_an_expiry_past_the_calendar(db) -> None:
    with pytest.raises(CommandError, match="reaches past the year 9999"):
        call_command("create_api_key", "big", "--expires-days", "3000000", stdout=io.StringIO())
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("name", "said"), [("", "name is empty"), ("   ", "name is empty"), ("n" * 150, "150")])
def test_create_api_key_refuses_a_name_the_admin_could_not_save(db, name: str, said: str) -> None:
    """Blank names were issued, and a 150-character one that the admin then refused to save (QA20)."""
    with pytest.raises(CommandError, match=said):
        call_command("create_api_key", name, stdout=io.StringIO())
    assert not ApiKey.objects.exists()
    call_command("create_api_key", "  partner  ", stdout=io.StringIO())
    assert ApiKey.objects.get().name == "partner"


def test_openapi_description_is_served(client: Client, db) -> None:
    yaml = pytest.importorskip("yaml")
    response = client.get("/snapshop/openapi.yaml")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.") and "/snapshop/query" in document["paths"]


def test_the_description_refuses_other_methods_in_json(db) -> None:
    """A POST got Django's HTML 403 (no CSRF token) where every other answer under /snapshop/ is JSON (QA20)."""
    response = Client(enforce_csrf_checks=True).post("/snapshop/openapi.yaml", {"key": "k"})
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response["Content-Type"].startswith("application/json") and response.json()["error_code"] == 10007


NOT_A_FORM = (
    "send key and image as application/x-www-form-urlencoded form fields in the request body"  # what to do, in reason
)


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("application/json", "json", "the body is JSON"),
        ("application/json; charset=utf-8", "json", "the body is JSON"),
        ("text/plain", "form", "the body is text/plain"),
        ("", "form", "the request has no Content-Type"),
    ],
)
def test_a_body_that_is_not_form_data_is_told_to_send_form_fields(
    client: Client, key: str, content_type: str, body: str, says: str
) -> None:
    """A JSON body with a valid key was told "错误的请求KEY", and its sender went checking the key."""
    fields = {"key": key, "image": b64(jpeg())}
    payload = json.dumps(fields) if body == "json" else urlencode(fields)
    response = client.post(URL, payload, content_type=content_type)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["error_code"] == 10001 and answer["result"] is None
    assert answer["reason"] == f"错误的请求KEY: no key in the form fields ({says}); {NOT_A_FORM}"
    search = Search.objects.get(channel=Search.Channel.API)
    assert search.error_code == "api_10001" and says in search.error_message and key not in search.error_message


def test_the_reasons_details_follow_the_clients_language(client: Client, key: str) -> None:
    """With Accept-Language zh-Hans the image's errors were Chinese, a JSON body's and a wrong path's English (QA20)."""
    chinese = {"Accept-Language": "zh-Hans"}
    answer = client.post(URL, json.dumps({"key": key}), content_type="application/json", headers=chinese).json()
    assert answer["reason"] == (
        "错误的请求KEY: 表单字段中没有 key（请求体是 JSON）；"
        "请把 key 和 image 作为 application/x-www-form-urlencoded 表单字段放在请求体中发送"
    )
    form = "application/x-www-form-urlencoded"
    answer = client.post(
        f"{URL}?key={key}", urlencode({"image": b64(jpeg())}), content_type=form, headers=chinese
    ).json()
    assert answer["reason"].startswith("错误的请求KEY: 表单字段中没有 key（它在 URL 的查询字符串中）；")
    assert client.get(URL, headers=chinese).json()["reason"] == "未知的请求源: 请用 POST 发送表单字段 image 和 key"
    assert client.post("/snapshop/other", headers=chinese).json()["reason"] == "未找到：请使用 POST /snapshop/query"
    assert client.post("/snapshop/other").json()["reason"] == "not found: use POST /snapshop/query"
    form_fields = {"key": key, "image": b64(b"plain text, not a picture")}
    answer = client.post(URL, urlencode(form_fields), content_type=form, headers=chinese).json()
    assert (
        answer["reason"]
        == "图片内容为空/超出限制/格式不正确: 这个文件不是图片。请选择一张照片（JPEG、PNG、WebP 或 HEIC）。"
    )
    answer = client.post(URL, {"key": key, "image": b64(jpeg(20, 20))}, headers=chinese).json()
    assert answer["reason"] == "图片内容为空/超出限制/格式不正确: 图片太小（20×20 像素）；短边至少需要 48 像素。"
    english = client.post(URL, {"key": key, "image": b64(jpeg(20, 20))}).json()["reason"]
    assert english.endswith("The picture is too small (20×20 pixels); its shorter side must be at least 48 pixels.")


def test_a_key_in_the_query_string_is_told_to_move_to_the_form(client: Client, key: str) -> None:
    form = "application/x-www-form-urlencoded"
    answer = client.post(f"{URL}?key={key}", urlencode({"image": b64(jpeg())}), content_type=form).json()
    assert answer == {
        "reason": f"错误的请求KEY: no key in the form fields (it is in the URL's query string); {NOT_A_FORM}",
        "result": None,
        "error_code": 10001,
    }
    # The form's key is what counts: a correct form with something in the query string is answered as before.
    answer = client.post(f"{URL}?key=other", urlencode({"key": key, "image": b64(jpeg())}), content_type=form).json()
    assert answer["error_code"] == 254704  # read and searched: the catalog is empty
    answer = client.post(f"{URL}?key={key}", urlencode({"key": "0" * 32}), content_type=form).json()
    assert answer == {"reason": "错误的请求KEY", "result": None, "error_code": 10001}


def test_an_image_in_the_query_string_is_told_to_move_to_the_form(client: Client, key: str) -> None:
    query = urlencode({"image": b64(jpeg())})
    answer = client.post(f"{URL}?{query}", urlencode({"key": key}), content_type="application/x-www-form-urlencoded")
    assert answer.json() == {
        "reason": f"图片内容为空/超出限制/格式不正确: no image in the form fields (it is in the URL's query string); "
        f"{NOT_A_FORM}",
        "result": None,
        "error_code": 254701,
    }


@pytest.mark.parametrize("as_base64", [False, True], ids=["picture", "base64 text"])
def test_a_multipart_file_part_is_read_as_the_photo(
    client: Client, key: str, small_catalog: list[CatalogItem], as_base64: bool
) -> None:
    """curl -F image=@photo.jpg: the photo itself (or its base64 text) in a file part, not a field."""
    item = small_catalog[1]
    photo = item.picture.read_bytes()
    content = b64(photo).encode() if as_base64 else photo
    upload = SimpleUploadedFile("photo.jpg", content, content_type="image/jpeg")
    answer = client.post(URL, {"key": key, "image": upload}).json()
    assert answer["error_code"] == 0, answer["reason"]
    assert str(answer["result"]["data"][0]["skuId"]) == item.product.sku_id


def test_a_multipart_file_part_that_is_not_a_usable_photo_is_254701(client: Client, key: str, settings) -> None:
    def send(content: bytes) -> dict:
        upload = SimpleUploadedFile("photo.jpg", content, content_type="image/jpeg")
        return client.post(URL, {"key": key, "image": upload}).json()

    not_a_picture = send(b"\x00\x01\x02 not a picture \xff\xfe" * 20)
    assert not_a_picture["error_code"] == 254701 and "missing" not in not_a_picture["reason"]
    empty = send(b"")
    assert empty["error_code"] == 254701 and "empty" in empty["reason"]
    settings.SNAPSHOP_MAX_UPLOAD_BYTES = 10_000
    too_large = send(jpeg(640, 480) * 4)
    assert too_large["error_code"] == 254701 and "too large" in too_large["reason"]


def test_every_code_the_api_answers_is_in_the_openapi_enum_and_described(
    client: Client, key: str, small_catalog: list[CatalogItem], settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rate limit's 10011 was answered (as the README says) but missing from api/openapi.yaml."""
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load(client.get("/snapshop/openapi.yaml").content)
    error_code = document["components"]["schemas"]["Envelope"]["properties"]["error_code"]
    photo = b64(small_catalog[1].picture.read_bytes())
    answered: dict[int, int] = {}  # error_code -> HTTP status

    def note(response) -> None:
        assert response["Content-Type"].startswith("application/json")
        answered[response.json()["error_code"]] = response.status_code

    note(client.post(URL, urlencode({"key": key, "image": photo}), content_type="application/x-www-form-urlencoded"))
    note(client.post("/snapshop/nothing", {"key": key, "image": photo}))
    note(client.post(URL, {"key": "wrong", "image": photo}))
    expired, expired_raw = ApiKey.issue("old", expires_days=1)
    ApiKey.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(seconds=1))
    note(client.post(URL, {"key": expired_raw, "image": photo}))
    note(client.get(URL))
    revoked, revoked_raw = ApiKey.issue("gone")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked=True)
    note(client.post(URL, {"key": revoked_raw, "image": photo}))
    small_raw = ApiKey.issue("small", daily_quota=1)[1]
    note(client.post(URL, {"key": small_raw, "image": "%%%"}))
    note(client.post(URL, {"key": small_raw, "image": photo}))
    with monkeypatch.context() as patch:
        patch.setattr("search.services.search_local", lambda *a, **k: (_ for _ in ()).throw(EngineUnavailable("down")))
        note(client.post(URL, {"key": key, "image": photo}))
    with monkeypatch.context() as patch:
        patch.setattr("api.views.run_search", lambda *a, **k: 1 / 0)
        note(client.post(URL, {"key": key, "image": photo}))
    settings.SNAPSHOP_API_RATE_LIMIT_PER_MINUTE = 1
    cache.clear()
    try:
        note(client.post(URL, {"key": key, "image": photo}, REMOTE_ADDR="198.51.100.9"))
        limited = client.post(URL, {"key": key, "image": photo}, REMOTE_ADDR="198.51.100.9")
        note(limited)
    finally:
        cache.clear()
    assert limited.json() == {"reason": "当前IP请求超过限制", "result": None, "error_code": 10011}
    assert int(limited["Retry-After"]) >= 1

    assert answered == {
        0: 200, 404: 404, 10001: 200, 10003: 200, 10007: 405, 10009: 200, 10011: 200, 10012: 200, 10014: 500,
        254701: 200, 254704: 200,
    }  # fmt: skip
    assert set(answered) == set(error_code["enum"])
    described = {int(line.split()[0]) for line in error_code["description"].splitlines() if line[:1].isdigit()}
    assert described == set(answered)
    assert "Retry-After" in document["paths"]["/snapshop/query"]["post"]["responses"]["200"]["headers"]


def test_the_api_does_not_vary_on_the_user_agent(client: Client, key: str) -> None:
    """Its answer has both links; only the pages that chose one for the device vary on it."""
    response = client.post("/snapshop/query", {"key": key, "image": b64(jpeg())})
    assert "User-Agent" not in response.get("Vary", "")
