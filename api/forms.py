"""The Juhe request format: form fields `key` and `image` (base64, without a data: header)."""

from __future__ import annotations

import base64
import binascii

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """Decode tolerantly: a data: prefix, line breaks, URL-safe letters, missing padding, and the
    spaces left where a client forgot to URL-encode '+' are all accepted."""
    text = text.strip()
    if text[:5].lower() == "data:":
        text = text.partition(",")[2]
    text = "".join(text.split("\n")).replace("\r", "").replace("\t", "").replace(" ", "+")
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    if not text:
        raise forms.ValidationError(_("The image field is empty."), code="empty")
    if len(text) * 3 // 4 > max_bytes:
        raise forms.ValidationError(
            _("The image is too large; the limit is %(mb)d MB.") % {"mb": max_bytes // (1024 * 1024)}, code="too_large"
        )
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise forms.ValidationError(_("The image field is not valid base64."), code="not_base64") from None


class QueryForm(forms.Form):
    key = forms.CharField(required=False, max_length=200, strip=True)
    image = forms.CharField(
        required=True, strip=False, error_messages={"required": _("The image field is missing or empty.")}
    )

    def clean_image(self) -> bytes:
        return decode_base64_image(self.cleaned_data["image"], settings.SNAPSHOP_MAX_UPLOAD_BYTES)

    def image_error(self) -> str:
        errors = self.errors.get("image")
        return str(errors[0]) if errors else ""
