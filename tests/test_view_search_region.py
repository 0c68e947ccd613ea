"""POST /search/ with a saved search's id (and a region): the stored photo searched again, a new history row."""

from __future__ import annotations

import pytest

from search.models import Search
from search.services import record_search, run_search
from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)


@pytest.fixture
def saved(client, small_catalog) -> Search:
    session = client.session
    session.save()
    data = small_catalog[4].picture.read_bytes()
    search = record_search(run_search(data, limit=100), data, session_key=session.session_key)
    search.subjects = [[0.1, 0.1, 0.6, 0.6], [0.5, 0.5, 0.9, 0.9]]
    search.save()
    return search


def post_region(client, saved: Search, region: str = "0.1,0.1,0.6,0.6"):
    return client.post("/search/", {"search": saved.pk, "region": region}, headers=HTMX)


def test_records_a_new_search_with_the_region(client, saved):
    post_region(client, saved)
    new = Search.objects.exclude(pk=saved.pk).get()
    assert new.region == {"x0": 0.1, "y0": 0.1, "x1": 0.6, "y1": 0.6}


def test_new_search_has_its_own_copy_of_the_photo(client, saved):
    post_region(client, saved)
    new = Search.objects.exclude(pk=saved.pk).get()
    assert new.photo and new.photo.name != saved.photo.name


def test_permalink_is_pushed(client, saved):
    response = post_region(client, saved)
    new = Search.objects.exclude(pk=saved.pk).get()
    assert response["HX-Push-Url"] == f"/s/{new.pk}/"


def test_subjects_are_kept_and_the_chosen_chip_is_pressed(client, saved):
    html = post_region(client, saved).content.decode()
    assert 'aria-pressed="true" data-chip="1"' in html and 'aria-pressed="false" data-chip="2"' in html


def test_the_caption_says_what_was_searched_and_what_the_box_is(client, saved):
    """On a whole-photo search the box starts on a detected subject, which may be another object than the results
    show (a pencil beside the tablet): the caption must not let it pass for the part searched."""
    whole = client.get(f"/s/{saved.pk}/").content.decode()
    assert "Your whole photo was searched. The box marks one thing found in it" in whole
    part = post_region(client, saved, "0.5,0.5,0.9,0.9").content.decode()
    assert "The part of your photo searched." in part and "whole photo" not in part


def test_a_tiny_region_is_refused_with_a_message(client, saved):
    response = post_region(client, saved, "0.1,0.1,0.105,0.105")
    assert response.status_code == 422 and 'data-error-code="bad_region"' in response.content.decode()


@pytest.mark.parametrize("region", ["nan,0,1,1", "0,0,nan,nan", "-inf,-inf,inf,inf", "0,0,1", "0,0,1,1,1", "a,b,c,d"])
def test_a_region_that_is_not_four_finite_numbers_is_refused_as_such(client, saved, region):
    """Not "too small, make the box larger" (QA19): no box size would help a value that is not a box."""
    response = post_region(client, saved, region)
    html = response.content.decode()
    assert response.status_code == 422 and 'data-error-code="bad_region_value"' in html
    assert "draw the box again" in html and "too small" not in html


def test_another_sessions_search_is_404(saved):
    from django.test import Client

    assert Client().post("/search/", {"search": saved.pk, "region": "0,0,1,1"}).status_code == 404


def test_without_htmx_it_redirects_to_the_permalink(client, saved):
    response = client.post("/search/", {"search": saved.pk})
    new = Search.objects.exclude(pk=saved.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/s/{new.pk}/"


@pytest.mark.parametrize("size", [(1000, 55), (55, 1000)])
def test_a_panorama_searched_once_can_be_searched_again(client, small_catalog, size):
    """A 1000 x 55 PNG was searched, but stored at the query size (800 x 44) and then refused as too small."""
    from tests.images import encode, textured
    from tests.ui_fixtures import upload

    first = client.post(
        "/search/", {"photo": upload(encode(textured(*size), "PNG"), "wide.png", "image/png")}, headers=HTMX
    )
    assert first.status_code == 200
    saved = Search.objects.get()
    again = client.post("/search/", {"search": saved.pk}, headers=HTMX)
    part = client.post(
        "/search/", {"search": saved.pk, "region": "0,0,0.5,1" if size[0] > size[1] else "0,0,1,0.5"}, headers=HTMX
    )
    assert again.status_code == 200 and part.status_code == 200, again.content.decode()[:300]
