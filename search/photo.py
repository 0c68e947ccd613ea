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
        )
