"""A small scripted HTTP server on 127.0.0.1 standing in for Juhe (and for picture hosts).

Each request takes the next queued `Reply` (or the default one): a status, a
body, a delay before answering, a slow trickle of the body, or a dropped
connection. Requests are recorded with their parsed form fields.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

SKU = {
    "skuId": 30823472863,
    "skuName": "Apple iphone x 苹果X (A1865) 全网通4G手机 银色 256GB",
    "skuPrice": "7299.00",
    "wareLabel": "非自营",
    "similarity": 0.8242081498230364,
    "imageUrl": "https://img1.360buyimg.com/img/jfs/t20149/5b5bd3e4Nabe29b1b.png",
    "detailUrl": "https://item.jd.com/30823472863.html",
    "detailAppUrl": "https://item.m.jd.com/product/30823472863.html",
    "cid1Name": "手机通讯",
    "cid2Name": "手机",
    "cid3Name": "手机",
    "allImageUrls": ["https://img11.360buyimg.com/img/jfs/t22519/5b5bd3e4N3a549f6a.png"],
}


def success(*items: dict[str, Any], request_id: str = "3e1ae8ed24caa67eededd31cc15628a3") -> dict[str, Any]:
    return {"reason": "success", "result": {"data": list(items), "request_id": request_id}, "error_code": 0}


def failure(code: int, reason: str = "failed") -> dict[str, Any]:
    return {"reason": reason, "result": None, "error_code": code}


@dataclass
class Reply:
    body: bytes | dict[str, Any] = field(default_factory=lambda: success(SKU))
    status: int = 200
    delay: float = 0.0  # seconds before the status line
    trickle: float = 0.0  # seconds between body bytes
    drop: bool = False  # close the connection without answering
    content_type: str = "application/json;charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


class FakeServer:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.routes: dict[str, Reply] = {}  # GET path -> reply, for picture hosting
        self.default = Reply()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                self._answer(server.next_reply(Seen("POST", self.path, dict(self.headers), form)))

            def do_GET(self) -> None:
                seen = Seen("GET", self.path, dict(self.headers), {})
                route = server.routes.get(self.path)
                with server._lock:
                    server.seen.append(seen)
                self._answer(route or Reply(body=b"not found", status=404, content_type="text/plain"))

            def _answer(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                payload = reply.payload()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.trickle:
                    for index in range(len(payload)):
                        self.wfile.write(payload[index : index + 1])
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                else:
                    self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def url(self) -> str:
        return self.base_url + "/snapshop/query"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def next_reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            return self.replies.pop(0) if self.replies else self.default

    @property
    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/snapshop/query"


@pytest.fixture(name="fake_juhe")
def fake_juhe_fixture(settings) -> Iterator[FakeServer]:
    """The fake server, with the juhe client pointed at it (short timeouts, no backoff)."""
    server = FakeServer().start()
    settings.JUHE_API_URL = server.url
    settings.JUHE_API_KEY = "secret-juhe-key-0123456789"
    settings.JUHE_CONNECT_TIMEOUT = 1.0
    settings.JUHE_READ_TIMEOUT = 0.5
    settings.JUHE_RETRY_BACKOFF = 0.0
    yield server
    server.stop()
