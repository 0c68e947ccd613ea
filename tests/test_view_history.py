"""/history/ — the session's recent searches: list, search again, delete one or all (with the photo files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.models import Search
from search.services import record_search, run_search
from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)


@pytest.fixture
def saved(client, small_catalog) -> Search:
    session = client.session
    session.save()
    data = small_catalog[2].picture.read_bytes()
    return record_search(run_search(data), data, session_key=session.session_key)


def files(search: Search, media: Path) -> list[Path]:
    assert search.photo.name is not None and search.thumbnail.name is not None
    return [media / search.photo.name, media / search.thumbnail.name]


def test_lists_the_sessions_searches_with_top_result(client, saved):
    html = client.get("/history/").content.decode()
    assert saved.thumbnail.url in html and saved.hits.get(rank=1).name in html


def test_other_sessions_see_nothing(saved):
    from django.test import Client

    assert saved.thumbnail.url not in Client().get("/history/").content.decode()


def test_delete_one_deletes_the_files(client, saved, settings):
    paths = files(saved, Path(settings.MEDIA_ROOT))
    assert all(p.exists() for p in paths)
    response = client.post(f"/history/{saved.pk}/delete/", headers=HTMX)
    assert response.status_code == 200 and not Search.objects.exists()
    assert not any(p.exists() for p in paths)


def test_delete_all(client, saved, small_catalog):
    data = small_catalog[3].picture.read_bytes()
    record_search(run_search(data), data, session_key=client.session.session_key)
    client.post("/history/delete/", headers=HTMX)
    assert not Search.objects.exists()


def test_cannot_delete_another_sessions_search(saved):
    from django.test import Client

    Client().post(f"/history/{saved.pk}/delete/")
    assert Search.objects.filter(pk=saved.pk).exists()


def test_without_htmx_delete_goes_back_to_the_list(client, saved):
    response = client.post(f"/history/{saved.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/history/"


def test_search_again_button_posts_the_saved_search(client, saved):
    html = client.get("/history/").content.decode()
    assert f'name="search" value="{saved.pk}"' in html


def test_each_items_buttons_are_named_by_its_result_and_time(client, saved):
    """Several searches in one minute: "Delete" and "Search again" alone, or with the minute, name none apart."""
    html = client.get("/history/").content.decode()
    pk = saved.pk
    top = f'<a class="history-top" id="history-top-{pk}" href="/s/{pk}/">{saved.hits.get(rank=1).name}</a>'
    assert top in html and f'<time id="history-time-{pk}"' in html
    for button in ("rerun", "delete"):
        assert f'aria-labelledby="history-{button}-{pk} history-top-{pk} history-time-{pk}"' in html
        assert f'id="history-{button}-{pk}"' in html


def test_deleting_the_last_one_swaps_the_whole_list_for_its_empty_state(client, saved):
    """Removing the last item alone left "Delete all" over an empty list, and no word that it was empty."""
    response = client.post(f"/history/{saved.pk}/delete/", headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#history-list" and response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.strip().startswith('<div id="history-list">')
    assert "No recent searches on this device." in html and "Search with a photo" in html
    assert "data-delete-all" not in html


def test_deleting_one_of_several_removes_only_its_item(client, saved, small_catalog):
    data = small_catalog[3].picture.read_bytes()
    other = record_search(run_search(data), data, session_key=client.session.session_key)
    response = client.post(f"/history/{saved.pk}/delete/", headers=HTMX)
    assert response.content == b"" and "HX-Retarget" not in response  # htmx drops the item it targeted
    assert list(Search.objects.all()) == [other]
