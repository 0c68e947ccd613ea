"""Properties of prepare_image over random bytes and random small pictures (hypothesis)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vision.prepare import DEFAULT_MAX_SIDE, MIN_SIDE, ImageRejected, prepare_image

pytestmark = pytest.mark.timeout(300)

FAST = settings(max_examples=300, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {"empty", "not_image", "unsupported_format", "too_small", "too_large", "corrupt", "bad_image"}
FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]
MODES = ["RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "I;16", "I", "F"]


def check(data: bytes) -> None:
    """The whole contract: a clean RGB picture, or ImageRejected with a known code and a message."""
    try:
        photo = prepare_image(data, max_pixels=4_000_000)
    except ImageRejected as exc:
        assert exc.code in CODES
        assert exc.message and isinstance(exc.message, str)
        return
    image = photo.image
    assert image.mode == "RGB"
    width, height = image.size
    assert width >= 1 and height >= 1 and max(width, height) <= DEFAULT_MAX_SIDE
    assert min(width, height) >= MIN_SIDE or max(width, height) == DEFAULT_MAX_SIDE
    image.getpixel((0, 0))  # really decoded
    assert photo.source_format


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)


MAGIC = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"II*\x00"]


@FAST
@given(st.sampled_from(MAGIC), st.binary(max_size=2048))
def test_random_bytes_behind_a_real_magic_number(magic: bytes, tail: bytes) -> None:
    check(magic + tail)


@st.composite
def pictures(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    seed = draw(st.binary(min_size=3, max_size=3))
    image = Image.new("RGB", (width, height), tuple(seed))
    image.paste(tuple(255 - b for b in seed), (0, 0, width // 2, height // 3))
    try:
        image = image.convert(mode)
    except ValueError:
        image = image.convert("RGB")
    kwargs: dict[str, object] = {}
    if draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 9))  # orientation, including invalid 0 and 9
        kwargs["exif"] = exif.tobytes()
    out = io.BytesIO()
    try:
        image.save(out, format=fmt, **kwargs)
    except (OSError, ValueError, KeyError, TypeError):  # this format cannot hold this mode
        out = io.BytesIO()
        image.convert("RGB").save(out, format=fmt)
    data = out.getvalue()
    # Sometimes damage it: cut it short or flip bytes.
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if damage == "truncate" and len(data) > 8:
        data = data[: draw(st.integers(1, len(data) - 1))]
    elif damage == "flip" and len(data) > 8:
        position = draw(st.integers(0, len(data) - 1))
        data = data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
    return data


@FAST
@given(pictures())
def test_random_small_pictures(data: bytes) -> None:
    check(data)


@settings(max_examples=100, deadline=2000, database=None)
@given(st.integers(MIN_SIDE, 200), st.integers(MIN_SIDE, 200), st.sampled_from(["JPEG", "PNG", "WEBP"]))
def test_intact_pictures_big_enough_are_always_accepted_with_their_size(width: int, height: int, fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, format=fmt)
    photo = prepare_image(out.getvalue())
    assert photo.size == (width, height) and photo.image.mode == "RGB"


@settings(max_examples=60, deadline=2000, database=None)
@given(st.integers(1, 60000), st.integers(1, 60000))
def test_huge_headers_are_refused_before_decoding(width: int, height: int) -> None:
    """A PNG header claiming any size, with almost no data: never decoded, never a crash."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
    try:
        prepare_image(data, max_pixels=4_000_000)
    except ImageRejected as exc:
        if width * height > 4_000_000:
            assert exc.code == "too_large"
        elif min(width, height) < MIN_SIDE:
            assert exc.code == "too_small"
        else:
            assert exc.code == "corrupt"
    else:
        raise AssertionError("a PNG without its pixel data was accepted")
