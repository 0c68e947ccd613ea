"""The Juhe client against a fake Juhe on 127.0.0.1: photo preparation, parsing, errors, retries, timeouts."""

from __future__ import annotations

import base64
import io
import logging
import time
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from search import juhe_errors as juhe
from search.juhe_client import JuheClient, encode_for_juhe, get_client
from tests.fake_juhe import SKU, FakeServer, Reply, closed_port_url, failure, fake_juhe_fixture, success  # noqa: F401
from tests.images import textured

KEY = "secret-juhe-key-0123456789"


def photo() -> Image.Image:
    return textured(320, 240, seed=3)


def test_sends_form_with_plain_base64_jpeg_and_key(fake_juhe: FakeServer) -> None:
    get_client().query(photo())
    [seen] = fake_juhe.posts
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.form["key"] == KEY
    assert not seen.form["image"].startswith("data:")
    sent = Image.open(io.BytesIO(base64.b64decode(seen.form["image"], validate=True)))
    assert sent.format == "JPEG"
    assert sent.size == (320, 240)


def test_parses_hits_and_request_id(fake_juhe: FakeServer) -> None:
    result = get_client().query(photo())
    [hit] = result.hits
    assert hit.sku_id == "30823472863"
    assert hit.sku_price == Decimal("7299.00")
    assert hit.similarity == pytest.approx(0.8242081498230364)
    assert (hit.cid1, hit.cid2, hit.cid3) == ("手机通讯", "手机", "手机")
    assert hit.all_image_urls == SKU["allImageUrls"]
    assert hit.source == "juhe"
    assert result.request_id == "3e1ae8ed24caa67eededd31cc15628a3"
    assert result.attempts == 1


def test_tolerates_missing_extra_and_odd_fields(fake_juhe: FakeServer) -> None:
    odd = {"skuId": 123, "skuName": "Tea", "skuPrice": "¥12.5", "similarity": "0.5", "allImageUrls": None, "new": [1]}
    nameless = [{"skuId": "124", "similarity": 0.9}, {"skuId": "125", "skuName": "  ", "similarity": 0.9}]
    # Ids that are neither a string nor an integer became catalog products "True", "[1]" and "7.5".
    odd_ids = [{"skuId": sku, "skuName": "Odd", "similarity": 0.9} for sku in (True, [1], 7.5, {"a": 1}, " ")]
    body = success(odd, {"skuName": "no sku id"}, *nameless, *odd_ids)  # without an id or a name there is no card
    body["result"]["data"].append("not a dict")
    fake_juhe.queue(Reply(body=body))
    [hit] = get_client().query(photo()).hits
    assert (hit.sku_id, hit.sku_name, hit.sku_price, hit.similarity) == ("123", "Tea", Decimal("12.5"), 0.5)
    assert hit.all_image_urls == []


@pytest.mark.parametrize("result", [None, {}, {"data": None, "request_id": "x"}])
def test_empty_result_is_no_hits(fake_juhe: FakeServer, result: object) -> None:
    fake_juhe.queue(Reply(body={"reason": "success", "result": result, "error_code": 0}))
    assert get_client().query(photo()).hits == []


CODES = [
    (10001, juhe.WrongKey, True),  # our key refused: the local engine answers, the log says why
    (10002, juhe.NoPermission, True),  # our key refused: the local engine answers, the log says why
    (10003, juhe.KeyExpired, True),  # our key refused: the local engine answers, the log says why
    (10004, juhe.WrongOpenId, True),  # our key refused: the local engine answers, the log says why
    (10005, juhe.AppNotReviewed, True),  # our key refused: the local engine answers, the log says why
    (10007, juhe.UnknownSource, True),  # our key refused: the local engine answers, the log says why
    (10008, juhe.BannedIp, True),  # our key refused: the local engine answers, the log says why
    (10009, juhe.BannedKey, True),  # our key refused: the local engine answers, the log says why
    (10011, juhe.IpQuotaExceeded, True),
    (10012, juhe.QuotaExceeded, True),
    (10013, juhe.TestKeyQuotaExceeded, True),
    (10014, juhe.UpstreamInternalError, True),
    (10020, juhe.UnderMaintenance, True),
    (10021, juhe.Discontinued, True),
    (254701, juhe.BadImage, False),
    (254703, juhe.UpstreamNetworkError, True),
    (254704, juhe.QueryFailed, False),
]
EXPECTED_ATTEMPTS = {10014: 2, 10020: 2, 254703: 3}  # retried once, once, twice; everything else never


@pytest.mark.parametrize(("code", "exception", "fallback"), CODES)
def test_each_error_code_has_its_exception(
    fake_juhe: FakeServer, code: int, exception: type[juhe.JuheError], fallback: bool
) -> None:
    fake_juhe.default = Reply(body=failure(code, f"upstream says no to {KEY}"))
    with pytest.raises(exception) as caught:
        get_client().query(photo())
    error = caught.value
    assert error.code == f"juhe_{code}"
    assert error.error_code == code
    assert error.fallback_allowed is fallback
    assert KEY not in error.message and KEY not in str(error) and KEY not in error.reason
    assert str(code) in error.message
    assert len(fake_juhe.posts) == EXPECTED_ATTEMPTS.get(code, 1)


def test_retry_then_success(fake_juhe: FakeServer) -> None:
    fake_juhe.queue(Reply(body=failure(254703)), Reply(body=failure(254703)))
    result = get_client().query(photo())
    assert result.attempts == 3 and len(result.hits) == 1


def test_query_failed_carries_the_reason(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(body=failure(254704, "未识别到商品"))
    with pytest.raises(juhe.QueryFailed, match="未识别到商品"):
        get_client().query(photo())


def test_error_code_as_string_is_understood(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(body={"reason": "x", "result": None, "error_code": "10012"})
    with pytest.raises(juhe.QuotaExceeded):
        get_client().query(photo())


def test_unknown_error_code(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(body=failure(99999, "new"))
    with pytest.raises(juhe.UnknownErrorCode) as caught:
        get_client().query(photo())
    assert caught.value.fallback_allowed and "99999" in caught.value.message


def test_5xx_is_a_server_error_without_retry(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(body=b"<html>Bad Gateway</html>", status=502, content_type="text/html")
    with pytest.raises(juhe.ServerError, match="HTTP 502") as caught:
        get_client().query(photo())
    assert caught.value.fallback_allowed
    assert len(fake_juhe.posts) == 1


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'{"reason": "no code"}', b"\xff\xfe"])
def test_malformed_answer(fake_juhe: FakeServer, body: bytes) -> None:
    fake_juhe.default = Reply(body=body)
    with pytest.raises(juhe.BadResponse) as caught:
        get_client().query(photo())
    assert caught.value.fallback_allowed


def test_result_data_of_wrong_type(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(body={"reason": "success", "result": {"data": "oops"}, "error_code": 0})
    with pytest.raises(juhe.BadResponse):
        get_client().query(photo())


def test_slow_answer_times_out_without_retry(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(delay=1.5)
    started = time.monotonic()
    with pytest.raises(juhe.Timeout) as caught:
        get_client().query(photo())
    assert time.monotonic() - started < 1.4
    assert caught.value.fallback_allowed
    assert len(fake_juhe.posts) == 1


def test_trickling_answer_hits_the_overall_deadline(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(trickle=0.02)  # each byte within the read timeout, the whole far beyond it
    started = time.monotonic()
    with pytest.raises(juhe.Timeout):
        get_client().query(photo())
    assert time.monotonic() - started < 3


def test_dropped_connections_are_retried(fake_juhe: FakeServer) -> None:
    fake_juhe.queue(Reply(drop=True), Reply(drop=True))
    result = get_client().query(photo())
    assert result.attempts == 3


def test_dropped_every_time_is_unreachable(fake_juhe: FakeServer) -> None:
    fake_juhe.default = Reply(drop=True)
    with pytest.raises(juhe.Unreachable) as caught:
        get_client().query(photo())
    assert caught.value.fallback_allowed
    assert len(fake_juhe.posts) == 3


def test_closed_port_is_unreachable_and_logs_no_key(settings, caplog: pytest.LogCaptureFixture) -> None:
    settings.JUHE_API_URL = closed_port_url()
    settings.JUHE_API_KEY = KEY
    settings.JUHE_RETRY_BACKOFF = 0.0
    caplog.set_level(logging.DEBUG)
    with pytest.raises(juhe.Unreachable):
        get_client().query(photo())
    assert KEY not in caplog.text


def test_no_retries_when_configured_off(fake_juhe: FakeServer, settings) -> None:
    settings.JUHE_RETRIES = 0
    fake_juhe.default = Reply(body=failure(254703))
    with pytest.raises(juhe.UpstreamNetworkError):
        get_client().query(photo())
    assert len(fake_juhe.posts) == 1


def test_missing_key_sends_nothing(fake_juhe: FakeServer, settings) -> None:
    settings.JUHE_API_KEY = ""
    with pytest.raises(juhe.NotConfigured):
        get_client().query(photo())
    assert fake_juhe.posts == []


def test_key_not_in_repr_or_logs(fake_juhe: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake_juhe.default = Reply(body=failure(10001, f"bad key {KEY}"))
    with pytest.raises(juhe.WrongKey):
        get_client().query(photo())
    assert KEY not in caplog.text
    assert KEY not in repr(get_client())


# Photo preparation ----------------------------------------------------------------------------------


def noise(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_longest_side_capped_at_4096() -> None:
    data = encode_for_juhe(textured(5000, 1000))
    assert Image.open(io.BytesIO(data)).size == (4096, 819)


def test_encoded_size_fits_3_mb() -> None:
    data = encode_for_juhe(noise(3000, 3000))  # incompressible: needs lower quality and a smaller size
    assert len(base64.b64encode(data)) <= 3 * 1024 * 1024
    assert min(Image.open(io.BytesIO(data)).size) >= 48


def test_rgba_becomes_jpeg() -> None:
    data = encode_for_juhe(Image.new("RGBA", (100, 80), (255, 0, 0, 128)))
    assert Image.open(io.BytesIO(data)).format == "JPEG"


def test_too_thin_after_downscale_is_padded_to_48_pixels() -> None:
    """8200 x 60 brought down to 4096 px would be 30 px high: white bars make it 48, the picture is all there."""
    sent = Image.open(io.BytesIO(encode_for_juhe(textured(8200, 60))))
    assert sent.size == (4096, 48)
    band = np.asarray(sent.convert("L"), dtype=float)
    assert band[:4].mean() > 245 and band[-4:].mean() > 245  # the bars
    assert band[12:36].std() > 10  # the picture between them


def test_client_is_reused_per_configuration(fake_juhe: FakeServer, settings) -> None:
    first = get_client()
    assert get_client() is first
    settings.JUHE_READ_TIMEOUT = 2.0
    assert get_client() is not first
    assert isinstance(get_client(), JuheClient)
