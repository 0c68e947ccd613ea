"""vision.quality: hints for dark, blurry and small-subject photos."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from vision.engine import Box
from vision.quality import photo_hints


def checkerboard(level: int = 255) -> Image.Image:
    cells = (np.indices((256, 256)).sum(axis=0) // 16 % 2) * level
    return Image.fromarray(cells.astype(np.uint8)).convert("RGB")


def test_a_sharp_bright_photo_has_no_hint():
    assert photo_hints(checkerboard()) == []


def test_dark_photo():
    assert "dark" in photo_hints(checkerboard(40))


def test_blurry_photo():
    assert "blurry" in photo_hints(checkerboard().filter(ImageFilter.GaussianBlur(8)))


def test_small_subject():
    assert photo_hints(checkerboard(), [Box(0.4, 0.4, 0.5, 0.5)]) == ["small_subject"]
