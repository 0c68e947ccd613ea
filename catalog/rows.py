"""Reading catalog files: CSV or JSON Lines with the Juhe field names.

Columns: skuId, skuName, skuPrice, wareLabel, cid1Name, cid2Name, cid3Name,
imageUrl, detailUrl, detailAppUrl, description (JSONL may add allImageUrls).
A bad row becomes a `RowError` with its line number; it never stops the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from search.hits import parse_price

FIELDS = (
    "skuId",
    "skuName",
    "skuPrice",
    "wareLabel",
    "cid1Name",
    "cid2Name",
    "cid3Name",
    "imageUrl",
    "detailUrl",
    "detailAppUrl",
    "description",
)
LABELS = {"自营": "自营", "非自营": "非自营", "self": "自营", "self-operated": "自营", "third-party": "非自营", "": ""}


class RowError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass
class CatalogRow:
    line: int
    sku_id: str
    name: str
    price: Decimal | None
    ware_label: str
    cid1: str
    cid2: str
    cid3: str
    image_refs: list[str]
    detail_url: str
    detail_app_url: str
    description: str
    extra: dict[str, object] = field(default_factory=dict)


def _text(raw: dict[str, object], key: str, limit: int) -> str:
    value = raw.get(key)
    text = "" if value is None else str(value).strip()
    return text[:limit]


def _link(raw: dict[str, object], key: str, line: int) -> str:
    url = _text(raw, key, 1000)
    if url and not url.lower().startswith(("http://", "https://", "/")):
        raise RowError(line, f"{key} must be an http(s) URL, not {url[:40]!r}")
    return url


def parse_row(line: int, raw: dict[str, object]) -> CatalogRow:
    sku_id = _text(raw, "skuId", 200)
    if not sku_id:
        raise RowError(line, "skuId is empty")
    if len(sku_id) > 64:
        raise RowError(line, "skuId is longer than 64 characters")
    name = _text(raw, "skuName", 500)
    if not name:
        raise RowError(line, "skuName is empty")
    price_text = _text(raw, "skuPrice", 40)
    price = parse_price(price_text)
    if price_text and price is None:
        raise RowError(line, f"skuPrice {price_text!r} is not a price")
    if price is not None and price >= Decimal("1e10"):
        raise RowError(line, f"skuPrice {price_text!r} is too large")
    label_text = _text(raw, "wareLabel", 32)
    label = LABELS.get(label_text.lower() if label_text.isascii() else label_text)
    if label is None:
        raise RowError(line, f"wareLabel must be 自营 or 非自营, not {label_text!r}")
    refs = [r.strip() for r in _text(raw, "imageUrl", 4000).split("|") if r.strip()]
    more = raw.get("allImageUrls")
    if isinstance(more, list):
        refs += [str(u).strip() for u in more if str(u).strip() and str(u).strip() not in refs]
    if not refs:
        raise RowError(line, "imageUrl is empty")
    return CatalogRow(
        line=line,
        sku_id=sku_id,
        name=name,
        price=price,
        ware_label=label,
        cid1=_text(raw, "cid1Name", 100),
        cid2=_text(raw, "cid2Name", 100),
        cid3=_text(raw, "cid3Name", 100),
        image_refs=refs[:10],
        detail_url=_link(raw, "detailUrl", line),
        detail_app_url=_link(raw, "detailAppUrl", line),
        description=_text(raw, "description", 5000),
    )


def read_catalog(path: Path) -> Iterator[CatalogRow | RowError]:
    """Rows of a .csv or .jsonl/.ndjson file, in order; bad rows come back as RowError."""
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        yield from _read_jsonl(path)
    else:
        yield from _read_csv(path)


def _read_csv(path: Path) -> Iterator[CatalogRow | RowError]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.DictReader(handle)
        missing = {"skuId", "skuName", "imageUrl"} - set(reader.fieldnames or [])
        if missing:
            yield RowError(1, f"the header lacks {', '.join(sorted(missing))}")
            return
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowError(reader.line_num, f"unreadable CSV ({exc})")
                continue
            line = reader.line_num
            if None in raw:
                yield RowError(line, "more columns than the header")
                continue
            try:
                yield parse_row(line, dict(raw))
            except RowError as exc:
                yield exc


def _read_jsonl(path: Path) -> Iterator[CatalogRow | RowError]:
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowError(line, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(raw, dict):
                yield RowError(line, "not a JSON object")
                continue
            try:
                yield parse_row(line, raw)
            except RowError as exc:
                yield exc
