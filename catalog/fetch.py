"""Fetch a picture from a URL someone else gave us (Juhe results, catalog imports), safely.

Only http(s); private, loopback, link-local, multicast and reserved addresses are
refused (unless SNAPSHOP_FETCH_ALLOW_PRIVATE), on the first URL and on every
redirect; the body is bounded in bytes and the whole fetch in time.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from urllib3.exceptions import HTTPError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0


class FetchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FetchRefused(FetchError):
    """The URL is not one we are willing to fetch (scheme, address, too many redirects)."""


class FetchTooLarge(FetchError):
    pass


class FetchFailed(FetchError):
    """Network error, timeout or an HTTP error status."""


def allow_private() -> bool:
    return bool(getattr(settings, "SNAPSHOP_FETCH_ALLOW_PRIVATE", False))


def check_url(url: str) -> None:
    """Raise FetchRefused unless the URL is http(s) to a public address."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchRefused(f"only http(s) URLs can be fetched: {url[:200]!r}")
    if allow_private():
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchFailed(f"cannot resolve {parts.hostname!r}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise FetchRefused(f"{parts.hostname} resolves to a non-public address ({address})")


def safe_fetch(url: str, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The body of `url`, at most `max_bytes`, within `timeout` seconds overall; raises FetchError."""
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        session.headers["User-Agent"] = "SnapShop picture fetcher"
        session.trust_env = False  # no proxies from the environment: the address check must hold
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(url)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchFailed("timed out")
            try:
                response = session.get(
                    url, stream=True, allow_redirects=False, timeout=(min(remaining, 5.0), remaining)
                )
            except requests.RequestException as exc:
                raise FetchFailed(f"request failed: {type(exc).__name__}") from None
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("Location", ""))
                    continue
                if response.status_code != 200:
                    raise FetchFailed(f"HTTP {response.status_code}")
                return _read_bounded(response, max_bytes, deadline)
    raise FetchRefused("too many redirects")


def _read_bounded(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLarge(f"{declared} bytes is more than {max_bytes}")
    chunks, size = [], 0
    try:
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise FetchTooLarge(f"more than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchFailed("timed out")
            chunks.append(chunk)
    except (requests.RequestException, HTTPError) as exc:
        raise FetchFailed(f"download failed: {type(exc).__name__}") from None
    return b"".join(chunks)
