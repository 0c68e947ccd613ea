"""Reading catalog files: CSV or JSON Lines with the Juhe field names.

Columns: skuId, skuName, skuPrice, wareLabel, cid1Name, cid2Name, cid3Name,
imageUrl, detailUrl, detailAppUrl, description (JSONL may add allImageUrls).
A bad row becomes a `RowError` with its line number; it never stops the file. A skuId seen before in the
same file is such a row too (the first one counts). Files are UTF-8, or GB18030 (what Excel writes on a
Chinese Windows) when they are not UTF-8; a file that is neither is refused whole rather than imported with
replacement characters.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from search.hits import PRICE_LIMIT, parse_price

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
    if price is not None and price >= PRICE_LIMIT:
        raise RowError(line, f"skuPrice {price_text!r} is too large (at most 9999999999.99)")
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


class UnreadableText(RowError):
    """The whole file, not one row: it is no text in an encoding a catalog comes in."""

    def __init__(self, line: int) -> None:
        super().__init__(line, "the file is neither UTF-8 nor GB18030 text; save it as UTF-8")


def text_encoding(path: Path) -> str:
    """The encoding to read a catalog file with: UTF-8 (with or without BOM), else GB18030.

    Raises UnreadableText, naming the line of the first byte that is neither.
    """
    first_bad = 0
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        offset = 0
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                    offset += len(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError as exc:
            first_bad = max(first_bad, offset + exc.start)
    with path.open("rb") as handle:
        raise UnreadableText(1 + handle.read(first_bad).count(b"\n"))


def read_catalog(path: Path, encoding: str | None = None) -> Iterator[CatalogRow | RowError]:
    """Rows of a .csv or .jsonl/.ndjson file, in order; bad rows come back as RowError. `encoding`: the file's
    text_encoding when the caller has it already (the detection reads the whole file)."""
    if encoding is None:
        try:
            encoding = text_encoding(path)
        except UnreadableText as exc:
            yield exc
            return
    rows = (
        _read_jsonl(path, encoding)
        if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}
        else _read_csv(path, encoding)
    )
    first_line: dict[str, int] = {}
    for row in rows:
        if isinstance(row, CatalogRow):
            first = first_line.setdefault(row.sku_id, row.line)
            if first != row.line:
                yield RowError(row.line, f"skuId {row.sku_id!r} is already on line {first} (that row counts)")
                continue
        yield row


def _read_csv(path: Path, encoding: str) -> Iterator[CatalogRow | RowError]:
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.DictReader(handle)
        missing = {"skuId", "skuName", "imageUrl"} - set(reader.fieldnames or [])
        if missing:
            yield RowError(1, f"the header lacks {', '.join(sorted(missing))}")
            return
        columns = len(reader.fieldnames or [])
        while True:
            start = reader.line_num + 1
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowError(reader.line_num, f"unreadable CSV ({exc})")
                continue
            line = reader.line_num
            if None in raw:
                yield RowError(line, f"more columns than the header{_joined(start, line)}")
                continue
            try:
                yield parse_row(line, dict(raw))
            except RowError as exc:
                fewer = sum(1 for value in raw.values() if value is None)
                if fewer:
                    exc = RowError(line, f"{exc.reason} ({columns - fewer} columns, the header has {columns})")
                if start < line:
                    exc = RowError(line, f"{exc.reason}{_joined(start, line)}")
                yield exc


def _joined(start: int, end: int) -> str:
    """Why a bad row spans several lines: most often a quote that is never closed swallowed the lines after it."""
    if start >= end:
        return ""
    return f'; lines {start}-{end} were read as one row: is a quote (") on line {start} not closed?'


def _read_jsonl(path: Path, encoding: str) -> Iterator[CatalogRow | RowError]:
    with path.open(encoding=encoding) as handle:
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
