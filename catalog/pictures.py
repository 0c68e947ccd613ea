"""One catalog picture on its way in: read or fetched, decoded to the size the catalog stores, embedded.

Kept apart from the import pipeline (catalog.importer) because more than the import treats pictures
this way: the in-memory catalog of `evaluate` and `benchmark` (catalog.memory) loads its pictures
with load_picture, and the benchmark measures the import's own decoding and embedding with them.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image

from vision import catalog
from vision.engine import Engine
from vision.model import FeatureNet
from vision.prepare import ImageRejected, encode_jpeg, prepare_image, shrink

STORED_PICTURE_SIDE = 1024
# A JPEG whose DCT scaling lands its longer side in this range (at or below the stored side) is kept
# at that size, without resampling: a 1600 px picture decodes straight to 800 px in ~3 ms, where
# decoding it whole and scaling it to 1024 took ~17 (Pillow's resampling is slow on these cores).
# 720 px still fills a card twice over on a high-density screen.
STORED_DCT_SIDES = (720, STORED_PICTURE_SIDE)


@dataclass
class LoadedPicture:
    ref: str
    data: bytes
    image: Image.Image
    digest: str
    _stored: bytes | None = None

    def stored_jpeg(self) -> bytes:
        """The copy kept in MEDIA_ROOT (made once; the import makes it in its loader threads)."""
        if self._stored is None:
            self._stored = encode_jpeg(self.image)
        return self._stored


class PictureUnavailable(Exception):
    """A picture that cannot be used; `rejected` is the decoder's refusal, when that was why (its code lets the admin
    say it in the page's language)."""

    def __init__(self, message: str, rejected: ImageRejected | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected


def load_picture(ref: str, base_dir: Path) -> LoadedPicture:
    if ref.lower().startswith(("http://", "https://")):
        from catalog.fetch import FetchError, safe_fetch

        try:
            data = safe_fetch(ref, max_bytes=settings.SNAPSHOP_MAX_UPLOAD_BYTES, timeout=10.0)
        except FetchError as exc:
            raise PictureUnavailable(f"{ref}: {exc}") from exc
    else:
        path = (base_dir / ref).resolve()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PictureUnavailable(f"{ref}: cannot read the file ({exc.strerror})") from exc
    return decode_picture(ref, data)


def decode_picture(ref: str, data: bytes) -> LoadedPicture:
    try:
        # Decoded at up to twice the stored side (JPEGs scale while decoding, at once to the stored
        # size when STORED_DCT_SIDES allows), then scaled down here rather than by prepare_image.
        decode_side = 2 * STORED_PICTURE_SIDE
        prepared = prepare_image(
            data,
            max_pixels=settings.SNAPSHOP_MAX_IMAGE_PIXELS,
            max_side=decode_side,
            dct_range=(STORED_DCT_SIDES[0] / decode_side, STORED_DCT_SIDES[1] / decode_side),
        )
    except ImageRejected as exc:
        raise PictureUnavailable(f"{ref}: {exc.message}", exc) from exc
    return LoadedPicture(
        ref=ref,
        data=data,
        # Area averaging (Pillow's box filter, after an integer box reduction from half size down): no
        # aliasing, 8.8 ms for a 1600 px picture (OpenCV's bilinear took ~3 but aliases below half size,
        # its area filter 11), 3.3 ms for an exact halving of a 2048 px one (Pillow's bilinear: 13 and 18).
        image=shrink(prepared.image, STORED_PICTURE_SIDE, Image.Resampling.BOX),
        digest=hashlib.sha256(data).hexdigest(),
    )


class PictureVectors:
    """Catalog pictures -> vectors, as Engine.catalog_features makes them (without the extras).

    Each calling thread runs its own single-threaded session of the engine's model: two of them side
    by side cost ~15 % less CPU per picture than one session's runs spread over two threads.
    """

    def __init__(self, engine: Engine) -> None:
        self.path = engine.net.path
        self._local = threading.local()

    def net(self) -> FeatureNet:
        """The calling thread's own session (phase 2 uses them for the extra views too)."""
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = FeatureNet(self.path, threads=1)
        return net

    def __call__(self, images: list[Image.Image]) -> list[np.ndarray]:
        return catalog.catalog_vectors(self.net(), [catalog.product_crop(image) for image in images])
