"""The hostile corpus: every kind of bad or odd upload, generated here (no binary fixtures), through
prepare_image, the web form and /snapshop/query. Each is searched (after conversion and orientation)
or refused with its specific code, never a 500, and always quickly."""

from __future__ import annotations

import base64
import csv
import functools
import io
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from api.models import ApiKey
from catalog.index import get_local_index
from search.models import Search
from tests.images import encode, jpeg, textured
from vision.prepare import DEFAULT_MAX_SIDE, ImageRejected, prepare_image

pytestmark = pytest.mark.timeout(60)

MB = 1024 * 1024


# ---------------------------------------------------------------- the corpus


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


@functools.cache
def png_bomb(side: int = 30000) -> bytes:
    """A real, valid side×side one-colour PNG (1-bit grey): ~110 MB of pixels in ~110 KB of file."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


@functools.cache
def png_text_bomb() -> bytes:
    """A small valid PNG with a zTXt chunk that inflates to 200 MB."""
    good = encode(textured(64, 64, 3), "PNG")
    packer = zlib.compressobj(9)
    text = packer.compress(b"A" * 200 * MB) + packer.flush()
    chunk = png_chunk(b"zTXt", b"Comment\x00\x00" + text)
    return good[:33] + chunk + good[33:]  # after the IHDR chunk


def jpeg_header_bomb() -> bytes:
    """A JPEG whose header claims 65500×65500 pixels."""
    data = bytearray(jpeg(64, 64))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    return bytes(data)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (96, 96), colour) for colour in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    out = io.BytesIO()
    frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def cmyk_jpeg() -> bytes:
    return encode(textured(200, 160, 4).convert("CMYK"), "JPEG")


def png16() -> bytes:
    ramp = (np.linspace(0, 65535, 128 * 96).reshape(96, 128)).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def palette_png_with_alpha() -> bytes:
    image = textured(120, 90, 6).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.info["transparency"] = 0
    return encode(image, "PNG", transparency=0)


def rgba_png() -> bytes:
    image = textured(120, 90, 7).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((120, 90)))
    return encode(image, "PNG")


SVG = b"""<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">
<script>alert(document.cookie)</script><rect width="200" height="200" fill="red"/></svg>"""
HTML = b"<!doctype html><html><body><script>alert('x')</script><img src=x onerror=alert(1)></body></html>"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass(frozen=True)
class Case:
    make: Callable[[], bytes]
    code: str  # "" when it must be searched
    name: str = "photo.jpg"


CORPUS: dict[str, Case] = {
    "png_bomb_30000": Case(png_bomb, "too_large", "bomb.png"),
    "jpeg_header_bomb": Case(jpeg_header_bomb, "too_large"),
    "png_ztxt_bomb": Case(png_text_bomb, "corrupt", "text.png"),
    "truncated_jpeg": Case(lambda: jpeg(640, 480)[:3000], "corrupt"),
    "jpeg_header_only": Case(lambda: jpeg(640, 480)[:200], "corrupt"),
    "zero_bytes": Case(lambda: b"", "empty"),
    "html_as_jpg": Case(lambda: HTML, "not_image"),
    "svg_with_script": Case(lambda: SVG, "not_image", "photo.svg"),
    "pdf": Case(lambda: PDF, "not_image", "scan.pdf"),
    "ico": Case(lambda: encode(textured(64, 64), "ICO"), "unsupported_format", "favicon.ico"),
    "random_bytes": Case(lambda: np.random.default_rng(1).bytes(5000), "not_image"),
    "gif": Case(lambda: encode(textured(120, 90, 2), "GIF"), "", "photo.gif"),
    "animated_gif": Case(lambda: animated("GIF"), "", "anim.gif"),
    "animated_webp": Case(lambda: animated("WEBP"), "", "anim.webp"),
    "cmyk_jpeg": Case(cmyk_jpeg, ""),
    "png_16_bit": Case(png16, "", "deep.png"),
    "palette_png_alpha": Case(palette_png_with_alpha, "", "palette.png"),
    "rgba_png": Case(rgba_png, "", "alpha.png"),
    "bmp": Case(lambda: encode(textured(100, 80, 8), "BMP"), "", "photo.bmp"),
    "tiff": Case(lambda: encode(textured(100, 80, 9), "TIFF"), "", "photo.tiff"),
    "one_pixel": Case(lambda: encode(Image.new("RGB", (1, 1), "red"), "PNG"), "too_small", "dot.png"),
    "47x47": Case(lambda: jpeg(47, 47), "too_small"),
    "48x48": Case(lambda: jpeg(48, 48), ""),
    "panorama_5000x50": Case(lambda: jpeg(5000, 50), ""),
    "panorama_50x5000": Case(lambda: jpeg(50, 5000), ""),
    "big_file_25mb": Case(lambda: jpeg(64, 64) + b"\x00" * 25 * MB, "too_large"),
    "hostile_file_name": Case(lambda: jpeg(160, 120, 1), "", "../../../etc/<script>alert(1)</script>\"'.jpg"),
}
REFUSED = {name: case for name, case in CORPUS.items() if case.code}
ACCEPTED = {name: case for name, case in CORPUS.items() if not case.code}


@functools.cache
def corpus_bytes(name: str) -> bytes:
    return CORPUS[name].make()


# ---------------------------------------------------------------- prepare_image directly


def prepare(data: bytes):
    return prepare_image(
        data,
        max_pixels=django_settings.SNAPSHOP_MAX_IMAGE_PIXELS,
        max_bytes=django_settings.SNAPSHOP_MAX_UPLOAD_BYTES,
    )


@pytest.mark.parametrize("name", list(CORPUS))
def test_prepare_image_gives_the_right_outcome_quickly(name: str) -> None:
    data = corpus_bytes(name)
    started = time.perf_counter()
    expected = CORPUS[name].code
    if expected:
        with pytest.raises(ImageRejected) as refused:
            prepare(data)
        assert refused.value.code == expected, refused.value.message
        assert refused.value.message and "Traceback" not in refused.value.message
    else:
        photo = prepare(data)
        assert photo.image.mode == "RGB"
        # At least 48 px a side, unless scaled down to the longest side allowed (a 5000×50 panorama).
        assert min(photo.size) >= 48 or max(photo.size) == DEFAULT_MAX_SIDE
    assert time.perf_counter() - started < 5


def test_the_bomb_is_refused_from_its_header_without_decoding() -> None:
    data = png_bomb()
    assert len(data) < 1 * MB
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as refused:
        prepare(data)
    assert time.perf_counter() - started < 0.5
    assert refused.value.code == "too_large"


def test_animations_are_searched_by_their_first_frame() -> None:
    for fmt in ("GIF", "WEBP"):
        pixel = prepare(animated(fmt)).image.getpixel((48, 48))
        assert pixel[0] > 150 and pixel[1] < 80 and pixel[2] < 80, (fmt, pixel)


def test_transparency_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 32, 64))
    out = prepare(encode(image, "PNG")).image
    assert out.getpixel((10, 10)) == (0, 0, 255)
    assert out.getpixel((50, 10)) == (255, 255, 255)


def test_cmyk_and_16_bit_keep_their_picture() -> None:
    original = np.asarray(textured(200, 160, 4), dtype=float)
    converted = np.asarray(prepare(cmyk_jpeg()).image, dtype=float)
    assert np.abs(converted - original).mean() < 20
    ramp = np.asarray(prepare(png16()).image, dtype=float)[:, :, 0]
    assert ramp[0, 0] < 5 and ramp[-1, -1] > 250  # the whole range, not clipped to white


# EXIF orientation: the tag says how to turn the stored pixels to see the photo upright.
UPRIGHT_FROM_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,  # stored turned 90° anticlockwise: turn it clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def quadrants(width: int = 120, height: int = 80) -> Image.Image:
    """Four solid quadrants, red/green on top and blue/white below: every turn and flip looks different."""
    image = Image.new("RGB", (width, height))
    for (x, y), colour in {(0, 0): "red", (1, 0): "lime", (0, 1): "blue", (1, 1): "white"}.items():
        image.paste(colour, (x * width // 2, y * height // 2, (x + 1) * width // 2, (y + 1) * height // 2))
    return image


def corner_colours(image: Image.Image) -> list[tuple[int, ...]]:
    w, h = image.size
    colours = []
    for p in ((5, 5), (w - 6, 5), (5, h - 6), (w - 6, h - 6)):
        pixel = image.getpixel(p)
        assert isinstance(pixel, tuple), pixel  # a multi-band image
        colours.append(tuple(round(c / 64) for c in pixel))
    return colours


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied(orientation: int, fmt: str) -> None:
    stored = quadrants()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt != "PNG" else {}))
    transform = UPRIGHT_FROM_STORED[orientation]
    expected = stored if transform is None else stored.transpose(transform)
    out = prepare(data).image
    assert out.size == expected.size
    assert corner_colours(out) == corner_colours(expected)


# ---------------------------------------------------------------- through the web form and the API


@pytest.fixture
def tiny_catalog(db, tmp_path: Path) -> list[str]:
    """Three products with generated pictures, imported through the real importer."""
    from catalog.importer import CatalogImporter
    from catalog.rows import read_catalog

    rows = []
    for seed in (1, 2, 3):
        path = tmp_path / f"p{seed}.png"
        textured(320, 240, seed).save(path)
        rows.append({"skuId": f"h{seed}", "skuName": f"Product {seed}", "imageUrl": str(path),
                     "detailUrl": f"https://shop.example.com/{seed}"})  # fmt: skip
    catalog_csv = tmp_path / "catalog.csv"
    with catalog_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = CatalogImporter(get_local_index(), base_dir=tmp_path).run(read_catalog(catalog_csv))
    assert not summary.skipped, summary.skipped
    return [row["skuId"] for row in rows]


def web_post(data: bytes, name: str):
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return Client().post("/search/", {"photo": upload}, headers={"HX-Request": "true"})


@pytest.mark.parametrize("name", list(CORPUS))
def test_web_form(name: str, tiny_catalog: list[str]) -> None:
    case = CORPUS[name]
    started = time.perf_counter()
    response = web_post(corpus_bytes(name), case.name)
    assert time.perf_counter() - started < 20
    body = response.content.decode()
    if case.code:
        assert response.status_code == 422, body[:500]
        assert f'data-error-code="{case.code}"' in body
    else:
        assert response.status_code == 200, body[:500]
        assert 'class="card"' in body
        search = Search.objects.get()
        assert search.error_code == "" and search.result_count == 3 and search.photo
        assert Path(search.photo.path).resolve().is_relative_to(Path(django_settings.MEDIA_ROOT).resolve())
    assert "<script>alert" not in body and "etc/" not in body


def test_refused_web_uploads_keep_a_history_row_with_their_code(tiny_catalog: list[str]) -> None:
    for name in ("truncated_jpeg", "html_as_jpg", "47x47", "png_bomb_30000"):
        web_post(corpus_bytes(name), CORPUS[name].name)
    assert sorted(Search.objects.values_list("error_code", flat=True)) == sorted(
        ["corrupt", "not_image", "too_small", "too_large"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b'--x\r\nContent-Disposition: form-data; name="photo"\r\n\r\nabc'),  # no boundary
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n',
        ),
        ("multipart/form-data; boundary=x", b"garbage without any boundary at all"),
        ("multipart/form-data; boundary=x", b'--y\r\nContent-Disposition: form-data; name="photo"\r\n\r\nabc\r\n--y--'),
        ("multipart/form-data; boundary=" + "b" * 2000, b"--b\r\n"),  # absurd boundary
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n",
        ),  # no name
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="photo"; filename=""\r\n'
            b"Content-Type: image/jpeg\r\n\r\n\r\n--x--\r\n",
        ),  # empty file
        ("application/octet-stream", jpeg(160, 120)),  # raw bytes, no form at all
        ("application/x-www-form-urlencoded", b"photo=%ff%fe%00&&&==="),
    ],
)
def test_malformed_multipart_is_a_clear_4xx(content_type: str, body: bytes) -> None:
    response = Client().generic("POST", "/search/", body, content_type=content_type, HTTP_HX_REQUEST="true")
    assert 400 <= response.status_code < 500, response.status_code
    assert not Search.objects.filter(error_code="").exists()


def test_a_file_name_cannot_choose_where_the_photo_is_stored(tiny_catalog: list[str]) -> None:
    web_post(jpeg(160, 120, 1), "../../../../tmp/evil.jpg")
    search = Search.objects.get()
    assert search.photo.name is not None
    assert ".." not in search.photo.name and "evil" not in search.photo.name
    assert not Path("/tmp/evil.jpg").exists()


@pytest.fixture
def api_key(db) -> str:
    return ApiKey.issue("hostile")[1]


def api_post(key: str, image: str):
    return Client().post(
        "/snapshop/query", urlencode({"key": key, "image": image}), content_type="application/x-www-form-urlencoded"
    )


@pytest.mark.parametrize("name", [n for n in CORPUS if n != "big_file_25mb"] + ["big_file_25mb"])
def test_api(name: str, tiny_catalog: list[str], api_key: str) -> None:
    case = CORPUS[name]
    response = api_post(api_key, base64.b64encode(corpus_bytes(name)).decode())
    assert response.status_code == 200
    answer = response.json()
    if case.code:
        assert answer["error_code"] == 254701, answer
        assert answer["result"] is None and answer["reason"].startswith("图片内容为空/超出限制/格式不正确")
    else:
        assert answer["error_code"] == 0, answer
        assert len(answer["result"]["data"]) == 3


def wrap(text: str, width: int, sep: str) -> str:
    return sep.join(text[i : i + width] for i in range(0, len(text), width))


@pytest.mark.parametrize(
    "shape",
    [
        lambda b: "data:image/jpeg;base64," + b,
        lambda b: "DATA:image/png;base64," + wrap(b, 76, "\r\n"),
        lambda b: wrap(b, 64, "\n"),
        lambda b: "  \r\n" + wrap(b, 60, "\t\r\n") + "\n\n  ",  # inner spaces mean an unencoded "+"
        lambda b: b.rstrip("="),
        lambda b: b.replace("+", "-").replace("/", "_"),
    ],
    ids=["data-prefix", "data-prefix-crlf", "newlines", "tabs-and-outer-spaces", "no-padding", "urlsafe"],
)
def test_api_base64_shapes_are_tolerated(shape, tiny_catalog: list[str], api_key: str) -> None:
    data = encode(textured(320, 240, 2), "JPEG", quality=95)
    answer = api_post(api_key, shape(base64.b64encode(data).decode())).json()
    assert answer["error_code"] == 0, answer
    assert str(answer["result"]["data"][0]["skuId"]) == "h2"


@pytest.mark.parametrize(
    "image", ["", "   ", "data:image/jpeg;base64,", "!!!not base64!!!", "data:,", "QUJD" * 3, "%%%%"]
)
def test_api_bad_base64_is_refused_with_254701(image: str, tiny_catalog: list[str], api_key: str) -> None:
    answer = api_post(api_key, image).json()
    assert answer["error_code"] == 254701, answer


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc'),
        ("multipart/form-data", b"no boundary"),
        ("application/json", b'{"image": "abc"}'),
        ("application/x-www-form-urlencoded", b"%zz=%zz&image"),
    ],
)
def test_api_malformed_bodies_answer_json(content_type: str, body: bytes, db) -> None:
    """A multipart body without a boundary raises MultiPartParserError on request.POST; api/views.py
    answer_query only catches RequestDataTooBig there, so it becomes 10014 with HTTP 500 (Juhe helper's file)."""
    response = Client().generic("POST", "/snapshop/query", body, content_type=content_type)
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    assert response.status_code < 500
    assert response.json()["error_code"] != 0


def test_orientation_and_cmyk_are_searched_correctly_end_to_end(tiny_catalog: list[str]) -> None:
    upright = textured(320, 240, 3)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated_on_disk = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif.tobytes())
    for data in (rotated_on_disk, encode(upright.convert("CMYK"), "JPEG", quality=95)):
        response = web_post(data, "photo.jpg")
        assert response.status_code == 200
        assert Search.objects.first().hits.first().sku_id == "h3"  # type: ignore[union-attr]
