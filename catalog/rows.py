"""Reading catalog files: CSV, JSON Lines, or a JSON array of objects, with the Juhe field names.

Columns: skuId, skuName, skuPrice, wareLabel, cid1Name, cid2Name, cid3Name,
imageUrl, detailUrl, detailAppUrl, description (JSON may add allImageUrls).
A bad row becomes a `RowError` with its line number (in a JSON array, its item number too); it never stops
the file. A skuId seen before in the same file is such a row too (the first one counts). Files are UTF-8, or
GB18030 (what Excel writes on a Chinese Windows) when they are not UTF-8; a file that is neither is refused
whole rather than imported with replacement characters. A .json file is one JSON array, or JSON Lines when
it starts with "{"; an array that is not valid JSON as a whole is refused whole too.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
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
    item: int | None = None  # position (from 1) in a JSON array, where several rows can share a line

    def problem(self, reason: str) -> RowError:
        """A RowError about this row, named as a report names it (the line, and the item in a JSON array)."""
        return RowError(self.line, _in_item(self.item, reason))


def _in_item(item: int | None, reason: str) -> str:
    """A reason about an item of a JSON array names it: a one-line array has every item on line 1."""
    return reason if item is None else f"item {item}: {reason}"


def _place(line: int, item: int | None) -> str:
    return f"on line {line}" if item is None else f"in item {item}, on line {line}"


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
    if sku_id in {".", ".."}:  # a product page's address cannot hold it: browsers remove the segment
        raise RowError(line, f"skuId cannot be {sku_id!r}")
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
    """Rows of a .csv, .jsonl/.ndjson or .json file, in order; bad rows come back as RowError. `encoding`: the
    file's text_encoding when the caller has it already (the detection reads the whole file)."""
    if encoding is None:
        try:
            encoding = text_encoding(path)
        except UnreadableText as exc:
            yield exc
            return
    # Where each skuId was first seen: (line, item), as the rows of a one-line JSON array share their line.
    first_seen: dict[str, tuple[int, int | None]] = {}
    for row in _read_rows(path, encoding):
        if isinstance(row, CatalogRow):
            here = (row.line, row.item)
            first = first_seen.setdefault(row.sku_id, here)
            if first != here:
                yield row.problem(f"skuId {row.sku_id!r} is already {_place(*first)} (that row counts)")
                continue
        yield row


def _read_rows(path: Path, encoding: str) -> Iterator[CatalogRow | RowError]:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return _read_jsonl(path, encoding)
    if suffix != ".json":
        return _read_csv(path, encoding)
    # A .json file is most often one document, an array of rows; one that starts with an object is JSON Lines.
    first = _first_character(path, encoding)
    if first == "[":
        return _read_json_array(path, encoding)
    if first in {"{", ""}:
        return _read_jsonl(path, encoding)
    return iter([RowError(1, f"none of the file is imported: {_NOT_JSON_CATALOG}, not a file starting {first!r}")])


_NOT_JSON_CATALOG = "a .json catalog is an array of objects ([{...}, {...}]) or JSON Lines (one object per line)"


def _first_character(path: Path, encoding: str) -> str:
    """The file's first character that is not white space; "" for a blank file."""
    with path.open(encoding=encoding) as handle:
        while chunk := handle.read(1 << 16):
            if stripped := chunk.lstrip():
                return stripped[0]
    return ""


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


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's white space


def _skip_space(text: str, pos: int) -> int:
    """The position of the first character at or after `pos` that is not JSON white space."""
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _read_json_array(path: Path, encoding: str) -> Iterator[CatalogRow | RowError]:
    """The items of a file that is one JSON array, each with the line it starts on and its position.

    The file is read and parsed whole (unlike JSON Lines, which streams): an array is one document, and its
    rows are only known to be good once all of it parsed, so a file cut short or mistyped is refused whole
    (one RowError at the mistake) instead of imported in part. A catalog too large for memory belongs in
    JSON Lines.
    """
    try:
        with path.open(encoding=encoding) as handle:
            items = _array_items(handle.read())  # the text is not kept: the items hold what is needed of it
    except json.JSONDecodeError as exc:
        reason = (
            f"the file is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}), so none of it is imported"
        )
        yield RowError(exc.lineno, f"{reason}; {_NOT_JSON_CATALOG}")
        return
    for number, (line, raw) in enumerate(items, start=1):
        if not isinstance(raw, dict):
            yield RowError(line, _in_item(number, "not a JSON object"))
            continue
        try:
            row = parse_row(line, raw)
        except RowError as exc:
            yield RowError(line, _in_item(number, exc.reason))
            continue
        row.item = number
        yield row


def _array_items(text: str) -> list[tuple[int, object]]:
    """The values of the JSON array `text` with the line each starts on (json.loads would not tell the lines).

    Raises json.JSONDecodeError, whose line and column point at the first mistake.
    """
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        raise json.JSONDecodeError("Expecting '['", text, pos)
    pos = _skip_space(text, pos + 1)
    items: list[tuple[int, object]] = []
    line, counted = 1, 0
    if not text.startswith("]", pos):
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            value, pos = decoder.raw_decode(text, pos)
            items.append((line, value))
            pos = _skip_space(text, pos)
            if text.startswith("]", pos):
                break
            if not text.startswith(",", pos):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            comma, pos = pos, _skip_space(text, pos + 1)
            if text.startswith("]", pos):  # JavaScript allows it, JSON does not: say so rather than "Expecting value"
                raise json.JSONDecodeError("a ',' after the last item", text, comma)
    pos = _skip_space(text, pos + 1)
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return items
