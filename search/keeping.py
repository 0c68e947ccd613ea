"""What a search keeps of its photo besides the results: history's copies of it (the stored photo, the
thumbnail) and what we learn about it (candidate subjects, quality hints).

All of it but one case of the subjects needs only the photo, so a web or API search starts it on the other
core (vision.parallel.Beside) as soon as the photo is decoded, and the network pass hides it: after the
results it cost ~6 ms of a ~70 ms search on this machine's slow days (the preview 2.6, the plain-background
subjects 1.3, the quality hints 1.0, the copies 1.5); beside, a search answered ~3 ms sooner (web search p50
66.6 against 69.9 ms, five alternating runs of 120). Only subjects from the feature map (a photo without a
plain background) wait for the pass, whose map the engine keeps.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from django.conf import settings
from PIL import Image

from catalog.cpu_load import PROCESS_CPU
from search.photo import STORED_ORIGINAL_MAX_BYTES, STORED_ORIGINAL_MAX_SIDE, strip_jpeg_metadata
from vision.engine import Box
from vision.parallel import Beside
from vision.prepare import MIN_SIDE, PreparedImage, encode_jpeg
from vision.quality import look_hints, subject_hints
from vision.regions import plain_background_boxes

logger = logging.getLogger(__name__)

ORIENTATION_TAG = 0x0112
MAX_SUBJECTS = 5
# What a search keeps: nothing (evaluation, a filter's search again), the photo's copies (the API, a search of
# a saved photo's region, whose subjects are its parent's), or the copies and what its photo shows (the web).
Keep = Literal["nothing", "copies", "copies_and_look"]


@dataclass(frozen=True)
class PhotoCopies:
    stored: bytes  # the upload minus its metadata, or the decoded photo re-encoded
    size: tuple[int, int]
    thumbnail: bytes


@dataclass(frozen=True)
class EarlyLook:
    """What the photo shows, found without the network: subjects against a plain background (empty: the feature
    map decides) and the hints that do not depend on the subjects."""

    plain_subjects: list[Box]
    hints: list[str]


@dataclass(frozen=True)
class KeptPhoto:
    copies: PhotoCopies
    look: EarlyLook | None


def start_keeping(data: bytes, photo: PreparedImage, keep: Keep) -> Beside[KeptPhoto] | None:
    """The keeping started on the other core; None when there is nothing to keep or no core to spare, and it
    is made after the search, in its thread (SearchOutcome.photo_copies, analyse). Beside, a search costs ~3 ms
    more CPU (handing over, two cores sharing memory): what a loaded server, whose throughput is its CPU, lacks."""
    if keep == "nothing" or processors_busy():
        return None
    return Beside(partial(keep_photo, data, photo, look=keep == "copies_and_look"))


def processors_busy() -> bool:
    """Busier than the brownout's line (SNAPSHOP_RERANK_MAX_CPU, catalog.local_engine)."""
    limit = settings.SNAPSHOP_RERANK_MAX_CPU / 100
    return limit > 0 and PROCESS_CPU.busy() > limit


def keep_photo(data: bytes, photo: PreparedImage, *, look: bool) -> KeptPhoto:
    return KeptPhoto(copies=photo_copies(data, photo), look=early_look(photo) if look else None)


def photo_copies(data: bytes, photo: PreparedImage) -> PhotoCopies:
    """The stored photo carries no EXIF and no GPS: an upright JPEG is kept minus its metadata segments,
    anything else is re-encoded."""
    kept = stored_original(data, photo)
    if kept is None:
        image = searchable_copy(photo.image)
        stored, size = encode_jpeg(image, quality=85), image.size
    else:
        stored, size = kept
    return PhotoCopies(stored=stored, size=size, thumbnail=thumbnail_jpeg(photo))


def early_look(photo: PreparedImage) -> EarlyLook | None:
    """None when it failed: advice only, looked for again after the pass rather than costing the search."""
    try:
        subjects = [Box(*box) for box in plain_background_boxes(photo.image)]
        return EarlyLook(plain_subjects=subjects, hints=look_hints(photo.preview))
    except Exception:
        logger.warning("photo analysis failed", exc_info=True)
        return None


def analyse(photo: PreparedImage, early: EarlyLook | None = None) -> tuple[list[list[float]], list[str]]:
    """Candidate subjects (up to 5, best first, as [x0, y0, x1, y1]) and quality hints of a photo, from its
    early look when there is one. Advice only: any failure here leaves both empty rather than costing the search."""
    subjects: list[Box] = []
    try:
        from vision.engine import get_engine

        engine = get_engine(Path(settings.SNAPSHOP_MODEL_PATH))
        plain = early.plain_subjects if early is not None else None
        subjects = [box.clamp() for box in engine.detect_subjects(photo.image, plain=plain)][:MAX_SUBJECTS]
    except Exception:  # no model, or a picture the detector cannot read: no chips
        logger.warning("subject detection failed", exc_info=True)
    try:
        hints = (early.hints if early is not None else look_hints(photo.preview)) + subject_hints(subjects)
    except Exception:  # hints are advice
        logger.warning("photo hints failed", exc_info=True)
        hints = []
    usable = [b for b in subjects if (b.x1 - b.x0) * (b.y1 - b.y0) > 0.005]
    boxes = [[round(float(v), 4) for v in (b.x0, b.y0, b.x1, b.y1)] for b in usable]
    return boxes, hints


def searchable_copy(image: Image.Image) -> Image.Image:
    """The query-sized photo as stored: a panorama brought to the query size can have a shorter side below
    what a photo may have (1000 x 55 became 800 x 44), and searching a region of it again was refused as
    "too small". Stored with that side at MIN_SIDE, it is searched as the first time (brought to 800 x 44)."""
    short = min(image.size)
    if short >= MIN_SIDE:
        return image
    scale = MIN_SIDE / max(short, 1)
    size = (max(MIN_SIDE, round(image.width * scale)), max(MIN_SIDE, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def stored_original(data: bytes, photo: PreparedImage) -> tuple[bytes, tuple[int, int]] | None:
    """The upload as stored (metadata stripped) and its size, when it can be kept as it came: a JPEG in
    RGB or grey, upright (EXIF orientation 1 or none), not larger than the limits. None otherwise."""
    if photo.source_format != "JPEG" or len(data) > STORED_ORIGINAL_MAX_BYTES:
        return None
    try:
        header = Image.open(io.BytesIO(data))
        if header.mode not in {"RGB", "L"} or max(header.size) > STORED_ORIGINAL_MAX_SIDE:
            return None
        if header.getexif().get(ORIENTATION_TAG, 1) != 1:
            return None  # the stored copy must look upright without EXIF: re-encode the turned picture
        size = header.size
    except (OSError, ValueError, SyntaxError):
        return None
    stripped = strip_jpeg_metadata(data)
    return (stripped, size) if stripped is not None else None


def thumbnail_jpeg(photo: PreparedImage) -> bytes:
    """The small copy the result page shows (the photo's preview, at most PREVIEW_SIDE)."""
    out = io.BytesIO()
    photo.preview.save(out, format="JPEG", quality=80)
    return out.getvalue()
