"""A client for the Juhe 拍照购 API (POST /snapshop/query): one transport module, its own exceptions.

- The photo is prepared to the API's limits (JPEG, longest side ≤ 4096 px,
  base64 ≤ 3 MB, shorter side ≥ 48 px) instead of failing upstream.
- Explicit (connect, read) timeouts and an overall deadline per attempt.
- Retries with backoff only where retrying helps: connection errors and
  254703 (network), 10014/10020 once. Never on key or quota errors.
- Every documented error code has its own exception (a `SearchFailed`), with a
  message a shopper or an administrator can act on.
- The key never appears in logs, history or error messages.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image
from urllib3.exceptions import HTTPError, ReadTimeoutError

from search.hits import ProductHit
from search.juhe_errors import (
    BY_CODE,
    BadResponse,
    JuheError,
    NotConfigured,
    ServerError,
    Timeout,
    UnknownErrorCode,
    Unreachable,
)

logger = logging.getLogger(__name__)

MAX_SIDE = 4096
MIN_SIDE = 48
MAX_BASE64_BYTES = 3 * 1024 * 1024
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
QUALITIES = (90, 80, 70, 60)


@dataclass
class JuheResult:
    hits: list[ProductHit]
    request_id: str
    reason: str = ""
    attempts: int = 1


def encode_for_juhe(image: Image.Image) -> bytes:
    """JPEG bytes whose base64 fits the API: longest side ≤ 4096 px, ≤ 3 MB encoded, shorter side ≥ 48 px."""
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    while True:
        image = _padded(image)
        for quality in QUALITIES:
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=quality, optimize=True)
            if (len(out.getvalue()) + 2) // 3 * 4 <= MAX_BASE64_BYTES:
                return out.getvalue()
        width, height = image.size
        image = image.resize((int(width * 0.75), int(height * 0.75)), Image.Resampling.LANCZOS)


def _padded(image: Image.Image) -> Image.Image:
    """A panorama brought down to 4096 px (or the 3 MB) can end thinner than Juhe's 48 px: white bars make up
    the short side, the picture itself is sent whole (the local engine searches such photos too)."""
    width, height = image.size
    if min(width, height) >= MIN_SIDE:
        return image
    canvas = Image.new("RGB", (max(width, MIN_SIDE), max(height, MIN_SIDE)), (255, 255, 255))
    canvas.paste(image, ((canvas.width - width) // 2, (canvas.height - height) // 2))
    return canvas


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


class JuheClient:
    def __init__(
        self,
        url: str,
        key: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.25,
    ) -> None:
        self.url, self.key = url, key
        self.timeout = (connect_timeout, read_timeout)
        self.retries, self.backoff = retries, backoff
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "SnapShop"

    def __repr__(self) -> str:  # never show the key
        return f"JuheClient({self.url!r})"

    def query(self, image: Image.Image) -> JuheResult:
        """Search with a picture, prepared to the API's limits first."""
        if not self.key:
            raise NotConfigured()
        return self.query_encoded(base64.b64encode(encode_for_juhe(image)).decode("ascii"))

    def query_encoded(self, image_base64: str) -> JuheResult:
        """Search with an already base64-encoded image (sent as is)."""
        if not self.key:
            raise NotConfigured()
        body = {"image": image_base64, "key": self.key}
        attempt, connection_retries, code_retries = 0, 0, 0
        while True:
            attempt += 1
            try:
                result = self._parse(*self._post(body))
            except Unreachable:
                if connection_retries >= self.retries:
                    raise
                connection_retries += 1
            except JuheError as exc:
                if code_retries >= min(exc.retries, self.retries):
                    raise
                code_retries += 1
            else:
                result.attempts = attempt
                return result
            time.sleep(self.backoff * 2 ** (attempt - 1))

    def _post(self, body: dict[str, str]) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.timeout[0] + self.timeout[1]
        try:
            with self.session.post(self.url, data=body, timeout=self.timeout, stream=True) as response:
                return response.status_code, self._read(response, deadline)
        except requests.ConnectionError as exc:
            logger.warning("Juhe unreachable at %s: %s", self.url, scrub(str(exc), self.key))
            raise Unreachable() from None
        except requests.Timeout:
            logger.warning("Juhe timed out at %s", self.url)
            raise Timeout() from None
        except requests.RequestException as exc:
            logger.warning("Juhe request failed: %s", scrub(str(exc), self.key))
            raise Unreachable() from None

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        """The body, bounded in size, and in time overall (a server may trickle bytes within the read timeout)."""
        chunks, size = [], 0
        try:
            while chunk := response.raw.read1(64 * 1024, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise BadResponse(_("The Juhe service sent an answer that is too large."))
                if time.monotonic() > deadline:
                    logger.warning("Juhe at %s answered too slowly", self.url)
                    raise Timeout()
        except ReadTimeoutError:
            logger.warning("Juhe timed out at %s", self.url)
            raise Timeout() from None
        except HTTPError as exc:
            logger.warning("Juhe answer broken off: %s", type(exc).__name__)
            raise Unreachable() from None
        return b"".join(chunks)

    def _parse(self, status: int, content: bytes) -> JuheResult:
        try:
            payload: Any = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            payload = None
        if not isinstance(payload, dict) or "error_code" not in payload:
            if status >= 400:
                logger.warning("Juhe answered HTTP %s", status)
                raise ServerError(reason=f"HTTP {status}")
            logger.warning("Juhe answered HTTP %s with an unreadable body (%d bytes)", status, len(content))
            raise BadResponse()
        reason = scrub(str(payload.get("reason") or ""), self.key)[:300]
        try:
            error_code = int(payload["error_code"])
        except (TypeError, ValueError):
            raise BadResponse() from None
        if error_code != 0:
            logger.warning("Juhe error %s: %s", error_code, reason)
            cls = BY_CODE.get(error_code)
            if cls is None:
                raise UnknownErrorCode(reason=f"{error_code} {reason}".strip())
            raise cls(reason=reason)
        result = payload.get("result") or {}
        if not isinstance(result, dict):
            raise BadResponse()
        data = result.get("data") or []
        if not isinstance(data, list):
            raise BadResponse()
        hits = [ProductHit.from_juhe(item) for item in data if ProductHit.usable_juhe_item(item)]
        return JuheResult(hits=hits, request_id=str(result.get("request_id") or "")[:64], reason=reason)


_local = threading.local()


def get_client() -> JuheClient:
    """One client (and its connection pool) per thread and per configuration."""
    config = (
        settings.JUHE_API_URL,
        settings.JUHE_API_KEY,
        float(settings.JUHE_CONNECT_TIMEOUT),
        float(settings.JUHE_READ_TIMEOUT),
        int(getattr(settings, "JUHE_RETRIES", 2)),
        float(getattr(settings, "JUHE_RETRY_BACKOFF", 0.25)),
    )
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != config:
        client = JuheClient(
            config[0],
            config[1],
            connect_timeout=config[2],
            read_timeout=config[3],
            retries=config[4],
            backoff=config[5],
        )
        _local.client = (config, client)
        return client
    return cached[1]
