"""Fetch a picture from a URL someone else gave us (Juhe results, catalog imports), safely.

Only http(s); private, loopback, link-local, multicast and reserved addresses are
refused (unless SNAPSHOP_FETCH_ALLOW_PRIVATE), on the first URL and on every
redirect; the body is bounded in bytes and the whole fetch in time.

Each hop resolves its host once, checks every address, and connects to a checked
address itself (urllib3, no proxies): the name is never looked up again, so a DNS
answer that changes after the check (DNS rebinding) cannot steer the connection
inward. The request still names the host (Host header; over https, SNI and the
certificate check are for the name, against SNAPSHOP_FETCH_CA_BUNDLE or certifi's).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
from django.conf import settings
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import ConnectTimeoutError, HTTPError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
REDIRECTS = {301, 302, 303, 307, 308}
HEADERS = {
    "User-Agent": "SnapShop picture fetcher",
    "Accept": "*/*",
    "Accept-Encoding": "identity",  # no compressed bodies: the byte bound holds on what is read
}


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


def ca_bundle() -> str:
    return str(getattr(settings, "SNAPSHOP_FETCH_CA_BUNDLE", "") or certifi.where())


@dataclass(frozen=True)
class Target:
    """A checked URL: the addresses to connect to (resolved once, all vetted) and what to ask there."""

    scheme: str
    host: str  # the name in ASCII (IDNA): Host header, SNI and the certificate's name
    port: int
    path: str  # path and query, as the request line has them
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == (443 if self.scheme == "https" else 80) else f"{name}:{self.port}"


def check_url(url: str) -> Target:
    """Resolve the URL's host once; raise FetchRefused unless it is http(s) to public addresses only."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": an unclosed IPv6 bracket
        raise FetchRefused(f"not a usable URL: {url[:200]!r}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchRefused(f"only http(s) URLs can be fetched: {url[:200]!r}")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (UnicodeError, ValueError):
        raise FetchRefused(f"not a usable host and port: {url[:200]!r}") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchFailed(f"cannot resolve {host!r}: {exc}") from None
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in {socket.AF_INET, socket.AF_INET6}:
            continue
        text = str(sockaddr[0])
        if not allow_private():
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            if not address.is_global or address.is_multicast:
                raise FetchRefused(f"{host} resolves to a non-public address ({address})")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise FetchFailed(f"cannot resolve {host!r}: no address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(addresses))


def _pool(target: Target, address: str, timeout: Timeout) -> HTTPConnectionPool:
    """A one-connection pool to `address` itself (no name lookup), speaking to `target.host`."""
    if target.scheme == "https":
        return HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_bundle(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)


def _get(target: Target, deadline: float) -> tuple[HTTPConnectionPool, BaseHTTPResponse]:
    """GET the target from the first checked address that takes the connection (as a browser falls back
    from IPv6 to IPv4); the caller closes the pool."""
    failure = "no address"
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchFailed("timed out")
        pool = _pool(target, address, Timeout(connect=min(remaining, 5.0), read=remaining))
        try:
            response = pool.urlopen(
                "GET",
                target.path,
                headers={**HEADERS, "Host": target.host_header},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
        except ConnectTimeoutError as exc:  # this address does not answer (includes refused): the next one
            pool.close()
            failure = type(exc).__name__
            continue
        except (HTTPError, OSError) as exc:
            pool.close()
            raise FetchFailed(f"request failed: {type(exc).__name__}") from None
        return pool, response
    raise FetchFailed(f"request failed: {failure}")


def safe_fetch(url: str, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The body of `url`, at most `max_bytes`, within `timeout` seconds overall; raises FetchError."""
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        target = check_url(url)
        pool, response = _get(target, deadline)
        try:
            location = response.headers.get("Location", "")
            if response.status in REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchFailed(f"HTTP {response.status}")
            return _read_bounded(response, max_bytes, deadline)
        finally:
            response.close()
            pool.close()
    raise FetchRefused("too many redirects")


def _read_bounded(response: BaseHTTPResponse, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLarge(f"{declared} bytes is more than {max_bytes}")
    chunks, size = [], 0
    try:
        while chunk := response.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise FetchTooLarge(f"more than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchFailed("timed out")
            chunks.append(chunk)
    except (HTTPError, OSError) as exc:
        raise FetchFailed(f"download failed: {type(exc).__name__}") from None
    return b"".join(chunks)
