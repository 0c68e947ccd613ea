"""The query photo as the result page shows it: the box searched (or the detected subject), the other
subjects as chips, and at most one quality tip."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from search.models import Search

HINT_TEXT = {
    "dark": _("Tip: the photo is dark. More light gives better matches."),
    "blurry": _("Tip: the photo looks blurry. Hold the phone still, or tap the product to focus."),
    "small_subject": _("Tip: the product is small in the photo. Move closer, or drag the box around it."),
}
FULL = [0.0, 0.0, 1.0, 1.0]


def box_text(values: list[float]) -> str:
    return ",".join(f"{float(v):.4f}" for v in values)


def box_values(region: object) -> list[float] | None:
    if isinstance(region, dict):
        try:
            return [float(region[k]) for k in ("x0", "y0", "x1", "y1")]
        except (KeyError, TypeError, ValueError):
            return None
    if isinstance(region, list | tuple) and len(region) == 4:
        try:
            return [float(v) for v in region]
        except (TypeError, ValueError):
            return None
    return None


def is_full(values: list[float] | None) -> bool:
    return values is None or (values[0] <= 0.001 and values[1] <= 0.001 and values[2] >= 0.999 and values[3] >= 0.999)


def same_box(a: list[float], b: list[float] | None, tolerance: float = 0.01) -> bool:
    return b is not None and all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@dataclass
class Subject:
    number: int
    box: str
    active: bool


@dataclass
class QueryPhoto:
    search_pk: int
    url: str
    width: int | None
    height: int | None
    box: str  # the box drawn on the photo: the region searched, or the main subject when the whole photo was
    whole: bool  # the whole photo was searched
    subjects: list[Subject] = field(default_factory=list)
    hint: str = ""
    product_name: str = ""  # "more like this": the photo is this catalog product's picture, not the shopper's

    @classmethod
    def of(cls, search: Search) -> QueryPhoto | None:
        if not search.thumbnail:
            return None
        region = box_values(search.region)
        boxes = [values for item in (search.subjects or []) if (values := box_values(item)) is not None][:5]
        whole = is_full(region)
        shown = boxes[0] if whole and boxes else (region or FULL)
        hints = [code for code in (search.hints or []) if code in HINT_TEXT]
        return cls(
            search_pk=search.pk,
            url=search.thumbnail.url,
            width=search.photo_width,
            height=search.photo_height,
            box=box_text(shown),
            whole=whole,
            subjects=[
                Subject(number, box_text(values), not whole and same_box(values, region))
                for number, values in enumerate(boxes, start=1)
            ],
            hint=str(HINT_TEXT[hints[0]]) if hints else "",
            product_name=search.like_name(),
        )


# Stored copies of uploaded photos --------------------------------------------------------------
# A search keeps the shopper's photo (for the admin and for searching a region of it again). Re-encoding
# it costs more CPU than the rest of the web stack together, so an ordinary upright JPEG is kept as
# uploaded, minus every segment that can carry personal data: APP1 (EXIF with GPS, XMP), APP3..APP13
# and APP15 (maker notes, IPTC, Photoshop), COM, and anything after the picture (motion-photo videos,
# maker trailers). What is kept decodes to the same pixels: the tables, the frame and scans, APP0 (JFIF),
# APP2 ICC profiles (colours) and APP14 Adobe (the colour transform).
STORED_ORIGINAL_MAX_SIDE = 2048  # larger uploads are stored re-encoded at the query size instead
STORED_ORIGINAL_MAX_BYTES = 2 * 1024 * 1024
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length


def _kept_segment(marker: int, payload: bytes) -> bool:
    if marker == 0xFE or 0xE1 <= marker <= 0xEF:  # COM, APP1..APP15
        if marker == 0xE2:
            return payload.startswith(b"ICC_PROFILE\x00")
        if marker == 0xEE:
            return payload.startswith(b"Adobe")
        return False
    if marker == 0xE0:
        return payload.startswith((b"JFIF\x00", b"JFXX\x00"))
    return True


def strip_jpeg_metadata(data: bytes) -> bytes | None:
    """The JPEG without metadata segments or trailing data (see above); None when the bytes are not
    a well-formed JPEG this walk understands (the caller then re-encodes)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    out = [b"\xff\xd8"]
    pos, size = 2, len(data)
    while pos < size:
        if data[pos] != 0xFF:
            return None
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI: the picture ends here, whatever follows is dropped
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _STANDALONE or marker == 0xD8:
            return None
        if pos + 2 > size:
            return None
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > size:
            return None
        if _kept_segment(marker, data[pos + 2 : end]):
            out.append(bytes((0xFF, marker)) + data[pos:end])
        pos = end
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker that is not a stuffed byte or RSTn
            scan = pos
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    return None
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1 if following == 0xFF else 2
                    continue
                break
            out.append(data[scan:pos])
    return None
