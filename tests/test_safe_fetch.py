"""catalog.fetch.safe_fetch: only http(s), no private addresses (first URL and redirects), bounded size and time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog.fetch import FetchFailed, FetchRefused, FetchTooLarge, check_url, safe_fetch
from tests.fake_juhe import FakeServer, Reply


@pytest.fixture
def host(settings) -> Iterator[FakeServer]:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = True
    server = FakeServer().start()
    yield server
    server.stop()


def test_fetches_a_body(host: FakeServer) -> None:
    host.routes["/a.jpg"] = Reply(body=b"picture bytes")
    assert safe_fetch(host.base_url + "/a.jpg") == b"picture bytes"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "javascript:alert(1)", "/relative"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchRefused):
        safe_fetch(url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://localhost:8000/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
     "http://[::1]/", "http://192.168.0.1/", "http://0.0.0.0/"],
)  # fmt: skip
def test_private_addresses_refused_by_default(url: str, settings) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = False
    with pytest.raises(FetchRefused):
        check_url(url)


def test_loopback_refused_before_any_request(settings) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = False
    server = FakeServer().start()
    try:
        server.routes["/a.jpg"] = Reply(body=b"x")
        with pytest.raises(FetchRefused):
            safe_fetch(server.base_url + "/a.jpg")
        assert server.seen == []
    finally:
        server.stop()


def test_redirects_are_checked_again(host: FakeServer) -> None:
    host.routes["/hop"] = Reply(status=302, body=b"", headers={"Location": "/a.jpg"})
    host.routes["/a.jpg"] = Reply(body=b"after a hop")
    assert safe_fetch(host.base_url + "/hop") == b"after a hop"
    host.routes["/evil"] = Reply(status=302, body=b"", headers={"Location": "file:///etc/passwd"})
    with pytest.raises(FetchRefused):
        safe_fetch(host.base_url + "/evil")


def test_redirect_loops_end(host: FakeServer) -> None:
    host.routes["/loop"] = Reply(status=302, body=b"", headers={"Location": "/loop"})
    with pytest.raises(FetchRefused, match="redirects"):
        safe_fetch(host.base_url + "/loop")


def test_too_large_is_refused(host: FakeServer) -> None:
    host.routes["/big"] = Reply(body=b"x" * 5000)
    with pytest.raises(FetchTooLarge):
        safe_fetch(host.base_url + "/big", max_bytes=1000)


def test_http_errors_and_slow_hosts_fail(host: FakeServer) -> None:
    with pytest.raises(FetchFailed, match="404"):
        safe_fetch(host.base_url + "/missing")
    host.routes["/slow"] = Reply(body=b"x" * 200, trickle=0.02)
    with pytest.raises(FetchFailed, match="timed out"):
        safe_fetch(host.base_url + "/slow", timeout=0.5)
