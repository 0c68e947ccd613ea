"""Requests that declare a body too large for any photo search are refused before the body is read."""

from __future__ import annotations

from django.conf import settings

from search.models import Search
from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)

HUGE = str(300 * 1024 * 1024)


def declared_post(client, path: str, **headers: str):
    # Only 5 bytes follow the header: the test client's payload raises if more is read, so an answer proves
    # the body was left alone.
    return client.generic(
        "POST", path, b"x=abc", content_type="multipart/form-data; boundary=zz", CONTENT_LENGTH=HUGE, headers=headers
    )


def test_the_web_form_answers_too_large_in_the_results(client, db):
    response = declared_post(client, "/search/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 413 and 'data-error-code="too_large"' in html
    assert "The file is larger than the 20.0\xa0MB limit." in html and not Search.objects.exists()


def test_the_api_answers_in_juhe_s_envelope(client, db):
    response = declared_post(client, "/snapshop/query")
    assert response.status_code == 200 and response.json()["error_code"] == 254701


def test_a_photo_within_the_limit_is_not_affected(client, db):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE > settings.SNAPSHOP_MAX_UPLOAD_BYTES * 1.4
    response = client.post("/search/", {"photo": ""}, headers=HTMX)
    assert response.status_code == 422 and 'data-error-code="too_large"' not in response.content.decode()
