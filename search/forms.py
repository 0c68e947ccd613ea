"""The photo upload form, and the words a shopper reads when a search cannot be answered."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

# One sentence per error code, in every UI language. The engine's own message is
# more specific (it names sizes and formats) but is English only, so it is shown
# as-is when the page is in English and replaced by these lines otherwise.
ERROR_MESSAGES = {
    "required": _("Choose a photo first."),
    "empty": _("The file is empty. Choose a photo and try again."),
    "not_image": _("This file is not a picture. Choose a photo (JPEG, PNG, WebP or HEIC)."),
    "unsupported_format": _("This kind of file is not supported. Use a JPEG, PNG, WebP, HEIC or BMP photo."),
    "too_small": _("The picture is too small. Its shorter side must be at least 48 pixels."),
    "too_large": _("The picture is too large. Try a smaller photo."),
    "corrupt": _("The picture is damaged or incomplete and cannot be read. Try another photo."),
    "bad_image": _("This picture cannot be searched. Try another photo."),
    "no_results": _("No matching products were found. Try a closer photo of one product."),
    "engine_unavailable": _("The search engine is not available right now. Please try again later."),
    "bad_region": _("That part of the photo is too small to search. Make the box larger."),
    "bad_region_value": _("The box sent is not a part of the photo. Reload the page and draw the box again."),
    "photo_gone": _("The photo of this search is no longer available. Search with a new photo."),
    "product_gone": _("This product is no longer in the catalog. Search with a photo or by name."),
    "no_picture": _("This product has no picture to compare with. Search with a photo or by name."),
    "search_gone": _("This search was deleted from your recent searches. Search with a photo or by name."),
    "no_words": _("Type what you are looking for, or search with a photo."),
    "no_text_results": _("No product names or descriptions have all of these words."),
}
GENERIC_ERROR = _("The search could not be completed. Please try again.")


# The engine's refusals that name sizes (vision.prepare), as every UI language can say them: without these a
# Chinese page lost the sizes the English one gives ("图片太小。" for a 30×30 photo).
DETAILED_MESSAGES = (
    (
        "too_small",
        re.compile(
            r"too small \((?P<width>\d+)×(?P<height>\d+) pixels\); its shorter side must be at least (?P<side>\d+)"
        ),
        _("The picture is too small (%(width)s×%(height)s pixels); its shorter side must be at least %(side)s pixels."),
    ),
    (
        "too_large",
        re.compile(r"too large \((?P<width>\d+)×(?P<height>\d+) pixels\); the limit is (?P<limit>\d+) megapixels"),
        _("The picture is too large (%(width)s×%(height)s pixels); the limit is %(limit)s megapixels."),
    ),
)


def error_text(code: str, message: str = "") -> str:
    """What to show the shopper for an error code (the detailed English message when the page is English; in
    another language the engine's sizes where it named them, else the code's one sentence)."""
    if message and (get_language() or "en").startswith("en"):
        return message
    for detailed_code, pattern, text in DETAILED_MESSAGES:
        found = pattern.search(message) if code == detailed_code else None
        if found:
            return str(text) % found.groupdict()
    return str(ERROR_MESSAGES.get(code, message or GENERIC_ERROR))


def too_large_message() -> str:
    # Not its size beside the limit: both rounded, a file just over it read "20.0 MB; the limit is 20.0 MB".
    return _("The file is larger than the %(limit)s limit. Try a smaller photo.") % {
        "limit": filesizeformat(settings.SNAPSHOP_MAX_UPLOAD_BYTES)
    }


class PhotoForm(forms.Form):
    """A photo to search with. Judging the bytes (format, size, damage) is the search service's job;
    this form only makes sure a file came and that it is not too big to read."""

    photo = forms.FileField(
        label=_("Photo"),
        error_messages={"required": ERROR_MESSAGES["required"], "empty": ERROR_MESSAGES["empty"]},
        widget=forms.FileInput(attrs={"accept": "image/*"}),
    )

    def clean_photo(self) -> UploadedFile:
        photo: UploadedFile = self.cleaned_data["photo"]
        if photo.size is not None and photo.size > settings.SNAPSHOP_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(too_large_message(), code="too_large")
        return photo

    def photo_bytes(self) -> bytes:
        photo: UploadedFile = self.cleaned_data["photo"]
        photo.seek(0)
        return photo.read()

    def error(self) -> tuple[str, str]:
        """(code, message) of the first error, for the error fragment."""
        for error in self.errors.as_data().get("photo", []):
            code = error.code or "bad_image"
            return code, " ".join(error.messages)
        return "bad_image", str(GENERIC_ERROR)
