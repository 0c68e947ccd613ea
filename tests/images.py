"""Pictures made by the tests themselves (no binary fixtures)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def textured(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A picture with structure (blobs and stripes of colour), different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.01, 0.08, 2).tolist() + [rng.uniform(0, 6.28)]
        channels.append(127 + 120 * np.sin(fx * x + fy * y + phase))
    pixels = np.stack(channels, axis=-1).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def jpeg(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    return encode(textured(width, height, seed))
