"""Photo-quality hints: too dark, too blurry, subject too small. Advice only: a search is never refused for them.

Measured on a grey copy at most 320 px on its long side (the search's preview, vision.prepare.PREVIEW_SIDE,
also its history thumbnail) so that the blur figure does not depend on the camera's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from vision.engine import Box

DARK_LUMINANCE = 60.0  # mean luma (0..255) below this: too dark
# Variance of the Laplacian below this: too blurry. 25 at 512 px before; 31 at 320 px gives the same verdict
# on 97 % of 1,950 photos (demo, grocery val and 300 train photos, each also blurred by 1.5 and 3 px).
BLUR_VARIANCE = 31.0
SMALL_SUBJECT = 0.04  # the main subject covers less than this fraction of the photo
ANALYSIS_SIDE = 320
HINTS = ("dark", "blurry", "small_subject")


def grey(image: Image.Image, side: int = ANALYSIS_SIDE) -> np.ndarray:
    picture = image.convert("L")
    scale = side / max(picture.size)
    if scale < 1:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
    return np.asarray(picture, dtype=np.float32)


def luminance(pixels: np.ndarray) -> float:
    return float(pixels.mean())


def laplacian_variance(pixels: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low when there are no sharp edges."""
    if pixels.shape[0] < 3 or pixels.shape[1] < 3:
        return 0.0
    lap = pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:] - 4.0 * pixels[1:-1, 1:-1]
    return float(lap.var())


def subject_fraction(subjects: Sequence[Box]) -> float | None:
    if not subjects:
        return None
    box = subjects[0].clamp()
    return (box.x1 - box.x0) * (box.y1 - box.y0)


def photo_hints(image: Image.Image, subjects: Sequence[Box] = ()) -> list[str]:
    """Codes of what could make the photo search better, most important first (empty when it looks fine)."""
    return look_hints(image) + subject_hints(subjects)


def look_hints(image: Image.Image) -> list[str]:
    """The hints of the picture itself (too dark, too blurry), which need no subjects."""
    pixels = grey(image)
    hints: list[str] = []
    if luminance(pixels) < DARK_LUMINANCE:
        hints.append("dark")
    if laplacian_variance(pixels) < BLUR_VARIANCE:
        hints.append("blurry")
    return hints


def subject_hints(subjects: Sequence[Box]) -> list[str]:
    fraction = subject_fraction(subjects)
    return ["small_subject"] if fraction is not None and fraction < SMALL_SUBJECT else []
