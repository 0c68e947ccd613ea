"""POST /search/ with the `juhe` backend failing: the photo's fault or the service's, told apart."""

from __future__ import annotations

import pytest

from search.models import Search
from tests.fake_juhe import FakeServer, Reply, failure, fake_juhe_fixture  # noqa: F401
from tests.images import jpeg
from tests.ui_fixtures import HTMX, english_afterwards, upload  # noqa: F401 (autouse fixture)


@pytest.fixture
def juhe_backend(fake_juhe: FakeServer, settings) -> FakeServer:
    settings.SNAPSHOP_BACKEND = "juhe"
    return fake_juhe


@pytest.mark.parametrize("code", [10001, 10003, 10009])
def test_a_key_problem_is_search_unavailable_for_the_shopper_and_detailed_in_history(
    client, db, juhe_backend: FakeServer, code: int
) -> None:
    juhe_backend.default = Reply(body=failure(code, "nope"))
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 503
    assert "Search is unavailable" in html and "We could not use this photo" not in html
    assert "JUHE_API_KEY" not in html and "administrator" not in html  # the operator's business
    saved = Search.objects.get()
    assert saved.error_code == f"juhe_{code}" and str(code) in saved.error_message


def test_a_missing_key_is_search_unavailable(client, db, juhe_backend: FakeServer, settings) -> None:
    settings.JUHE_API_KEY = ""
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 503 and "Search is unavailable" in response.content.decode()


def test_a_photo_juhe_cannot_use_is_the_photo(client, db, juhe_backend: FakeServer) -> None:
    juhe_backend.default = Reply(body=failure(254701, "bad image"))
    response = client.post("/search/", {"photo": upload(jpeg())}, headers=HTMX)
    assert response.status_code == 422 and "We could not use this photo" in response.content.decode()
