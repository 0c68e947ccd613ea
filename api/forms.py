"""The Juhe request format: form fields `key` and `image` (base64, without a data: header), or `image` as a
multipart file part."""

from __future__ import annotations

import base64
import binascii
import re

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

# The base64 text of a picture (what a file part holds after `base64 photo.jpg > photo.txt`); no picture file
# (JPEG, PNG, WebP, HEIC, BMP, GIF) is made of these bytes only.
BASE64_TEXT = re.compile(rb"\s*(?:data:[^,]*,)?[A-Za-z0-9+/=_\-\s]+")


def too_large(max_bytes: int) -> forms.ValidationError:
    return forms.ValidationError(
        _("The image is too large; the limit is %(mb)d MB.") % {"mb": max_bytes // (1024 * 1024)}, code="too_large"
    )


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
        raise too_large(max_bytes)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise forms.ValidationError(_("The image field is not valid base64."), code="not_base64") from None


def read_image_upload(upload: UploadedFile, max_bytes: int) -> bytes:
    """`image` sent as a file part (curl -F image=@photo.jpg): the picture itself, or its base64 text."""
    if (upload.size or 0) > max_bytes * 3 // 2:  # base64 text is 4/3 of the picture, more with line breaks
        raise too_large(max_bytes)
    upload.seek(0)
    data = upload.read()
    if BASE64_TEXT.fullmatch(data):
        return decode_base64_image(data.decode("ascii"), max_bytes)
    if not data:
        raise forms.ValidationError(_("The image field is empty."), code="empty")
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data


class QueryForm(forms.Form):
    """Juhe's fields, as form fields; `image` may also come as a file part of a multipart form (the picture's
    bytes, or its base64 text)."""

    key = forms.CharField(required=False, max_length=200, strip=True)
    image = forms.CharField(required=False, strip=False)

    def clean_image(self) -> bytes:
        text = self.cleaned_data["image"]
        max_bytes = settings.SNAPSHOP_MAX_UPLOAD_BYTES
        if text:
            return decode_base64_image(text, max_bytes)
        upload = self.files.get("image")
        if upload is not None:
            return read_image_upload(upload, max_bytes)
        raise forms.ValidationError(_("The image field is missing or empty."), code="required")

    def image_error(self) -> str:
        errors = self.errors.get("image")
        return str(errors[0]) if errors else ""
