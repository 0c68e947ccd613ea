"""safe_fetch connects to the address it checked, not to whatever a second DNS answer says (DNS rebinding).

The HTTP(S) side is real: small servers on loopback addresses (127.0.0.1, 127.0.0.2). DNS is the far
side we control: socket.getaddrinfo answers chosen names with a queue of answers (the last one repeats),
the first answer being the one a check would see and the later ones what a rebinding server says next.
Numeric addresses go to the real resolver.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from catalog.fetch import FetchError, FetchFailed, FetchRefused, safe_fetch

PUBLIC = "93.184.215.14"  # a global address: passes the check; the test never expects to reach it


@dataclass
class Resolver:
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    resolver = Resolver()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in resolver.answers:
            return real(host, port, *args, **kwargs)
        resolver.asked.append(name)
        queue = resolver.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port))) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return resolver


class Host:
    """A real HTTP server on one loopback address; records (path, Host header) and, over TLS, the SNI name."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[tuple[str, str]] = []
        self.sni: list[str | None] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host.seen.append((self.path, self.headers.get("Host", "")))
                status, headers, body = host.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    started: list[Host] = []
    yield started
    for host in started:
        host.stop()


def test_the_connection_goes_to_the_address_that_was_checked(settings, dns: Resolver, hosts: list[Host]) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = True  # both servers are on loopback; what matters is which one
    good = Host("127.0.0.1")
    evil = Host("127.0.0.2", good.port)
    hosts += [good, evil]
    good.routes["/a.jpg?size=2"] = (200, {}, b"checked host")
    evil.routes["/a.jpg?size=2"] = (200, {}, b"rebound host")
    dns.answers["shop.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    assert safe_fetch(f"http://shop.example:{good.port}/a.jpg?size=2") == b"checked host"
    assert good.seen == [("/a.jpg?size=2", f"shop.example:{good.port}")]
    assert evil.seen == []
    assert dns.asked == ["shop.example"]  # resolved once, for the check and the connection


def test_rebinding_to_loopback_after_the_check_reaches_nothing(settings, dns: Resolver, hosts: list[Host]) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = False
    inside = Host("127.0.0.1")
    hosts.append(inside)
    inside.routes["/a.jpg"] = (200, {}, b"internal secret")
    dns.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    try:  # the connection goes to the public address, which is not ours: it fails (or answers something else)
        body = safe_fetch(f"http://rebind.example:{inside.port}/a.jpg", timeout=1.0)
    except FetchError:
        body = None
    assert body != b"internal secret"
    assert inside.seen == []
    assert dns.asked == ["rebind.example"]


def test_a_private_answer_is_refused_before_connecting(settings, dns: Resolver, hosts: list[Host]) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = False
    inside = Host("127.0.0.1")
    hosts.append(inside)
    dns.answers["mixed.example"] = [[PUBLIC, "127.0.0.1"]]
    with pytest.raises(FetchRefused):
        safe_fetch(f"http://mixed.example:{inside.port}/a.jpg", timeout=1.0)
    assert inside.seen == []


def test_each_redirect_hop_connects_to_its_own_checked_address(settings, dns: Resolver, hosts: list[Host]) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = True
    shop = Host("127.0.0.1")
    cdn = Host("127.0.0.2", shop.port)
    hosts += [shop, cdn]
    shop.routes["/hop"] = (302, {"Location": f"http://cdn.example:{shop.port}/pic"}, b"")
    cdn.routes["/pic"] = (200, {}, b"from the cdn")
    dns.answers["shop.example"] = [["127.0.0.1"]]
    dns.answers["cdn.example"] = [["127.0.0.2"], ["127.0.0.1"]]
    assert safe_fetch(f"http://shop.example:{shop.port}/hop") == b"from the cdn"
    assert shop.seen == [("/hop", f"shop.example:{shop.port}")]
    assert cdn.seen == [("/pic", f"cdn.example:{shop.port}")]
    assert dns.asked == ["shop.example", "cdn.example"]


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate (and key) for shop.example, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    pem = tmp_path / "shop.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(pem), "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=shop.example",
         "-addext", "subjectAltName=DNS:shop.example"],
        check=True, capture_output=True,
    )  # fmt: skip
    pem.write_text(pem.read_text() + (tmp_path / "cert.pem").read_text())
    return pem


def test_https_connects_to_the_checked_address_with_the_name_for_sni_and_certificate(
    settings, dns: Resolver, hosts: list[Host], certificate: Path, tmp_path: Path
) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = True
    settings.SNAPSHOP_FETCH_CA_BUNDLE = str(tmp_path / "cert.pem")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate)
    good = Host("127.0.0.1", tls=tls)
    evil = Host("127.0.0.2", good.port)
    hosts += [good, evil]
    good.routes["/a.jpg"] = (200, {}, b"over tls")
    dns.answers["shop.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    assert safe_fetch(f"https://shop.example:{good.port}/a.jpg") == b"over tls"
    assert good.sni == ["shop.example"]
    assert good.seen == [("/a.jpg", f"shop.example:{good.port}")]
    assert evil.seen == []
    # The certificate is still checked against the name: another name on the same address fails.
    dns.answers["other.example"] = [["127.0.0.1"]]
    with pytest.raises(FetchFailed):
        safe_fetch(f"https://other.example:{good.port}/a.jpg")
    assert len(good.seen) == 1


def test_an_address_that_refuses_gives_way_to_the_next_checked_one(settings, dns: Resolver, hosts: list[Host]) -> None:
    settings.SNAPSHOP_FETCH_ALLOW_PRIVATE = True
    good = Host("127.0.0.1")
    hosts.append(good)
    good.routes["/a.jpg"] = (200, {}, b"second address")
    dns.answers["shop.example"] = [["127.0.0.3", "127.0.0.1"]]  # nothing listens on 127.0.0.3
    assert safe_fetch(f"http://shop.example:{good.port}/a.jpg") == b"second address"
    assert dns.asked == ["shop.example"]
