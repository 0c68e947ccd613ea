"""purge_history removes old searches, their hits and their photo files, and nothing newer."""

from __future__ import annotations

import os
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from search.hits import ProductHit
from search.models import Search, SearchHit
from search.services import SearchOutcome, record_search
from tests.images import jpeg
from vision.prepare import prepare_image

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def saved_search(age_days: float, seed: int) -> Search:
    data = jpeg(200, 160, seed)
    outcome = SearchOutcome(backend="local", photo=prepare_image(data), answered_by="local")
    outcome.hits = [ProductHit(sku_id=str(seed), sku_name=f"product {seed}", similarity=0.9)]
    search = record_search(outcome, data, session_key="s")
    Search.objects.filter(pk=search.pk).update(created=timezone.now() - timedelta(days=age_days))
    return Search.objects.get(pk=search.pk)


def files_of(search: Search) -> list[Path]:
    return [Path(search.photo.path), Path(search.thumbnail.path)]


def run(*args: str) -> str:
    out = StringIO()
    call_command("purge_history", *args, stdout=out)
    return out.getvalue()


def test_default_retention_comes_from_settings(settings) -> None:
    settings.SNAPSHOP_HISTORY_RETENTION_DAYS = 30
    old, recent = saved_search(31, 1), saved_search(29, 2)
    assert all(p.is_file() for p in files_of(old) + files_of(recent))
    output = run()
    assert "deleted 1 search and 2 photo files older than 30 days" in output
    assert list(Search.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not SearchHit.objects.filter(search_id=old.pk).exists()
    assert not any(p.exists() for p in files_of(old))
    assert all(p.is_file() for p in files_of(recent))


def test_days_option_and_dry_run() -> None:
    searches = [saved_search(age, seed) for seed, age in enumerate([1, 5, 10, 20])]
    assert "would delete 2 searches and 4 photo files" in run("--days", "7", "--dry-run")
    assert Search.objects.count() == 4
    assert "deleted 2 searches and 4 photo files" in run("--days", "7")
    assert set(Search.objects.values_list("pk", flat=True)) == {searches[0].pk, searches[1].pk}
    assert "deleted 2 searches" in run("--days", "0")
    assert not Search.objects.exists()


def test_rows_without_photos_and_missing_files_are_fine() -> None:
    refused = record_search(SearchOutcome(backend="local", error_code="empty", error_message="empty"), b"")
    Search.objects.filter(pk=refused.pk).update(created=timezone.now() - timedelta(days=400))
    gone = saved_search(400, 9)
    files_of(gone)[0].unlink()  # someone removed the photo by hand
    assert "deleted 2 searches and 1 photo file" in run("--days", "90")
    assert not Search.objects.exists()


def test_negative_days_is_refused() -> None:
    with pytest.raises(CommandError):
        run("--days", "-1")


def test_help_names_the_retention_in_force(capsys: pytest.CaptureFixture[str], settings) -> None:
    with pytest.raises(SystemExit):
        call_command("purge_history", "--help")
    assert f"now {settings.SNAPSHOP_HISTORY_RETENTION_DAYS}" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("days", ["1000000", "999999999999"])
def test_days_reaching_back_past_the_calendar_are_refused(days: str) -> None:
    with pytest.raises(CommandError, match=f"--days {days} reaches back before the year 1"):
        run("--days", days, "--dry-run")


def test_each_count_agrees_with_its_own_noun() -> None:
    """It said "deleted 1 searches and 0 photo files older than 1 days": each number takes its own noun's form."""
    saved_search(3, 1)
    assert "would delete 1 search and 2 photo files older than 1 day (before " in run("--days", "1", "--dry-run")
    assert "would delete 0 searches and 0 photo files older than 5 days (before " in run("--days", "5", "--dry-run")
    assert "deleted 1 search and 2 photo files older than 1 day (before " in run("--days", "1")
    assert "deleted 0 searches and 0 photo files older than 0 days (before " in run("--days", "0")
    refused = record_search(SearchOutcome(backend="local", error_code="empty", error_message="empty"), b"")
    Search.objects.filter(pk=refused.pk).update(created=timezone.now() - timedelta(days=10))
    one_file_gone = saved_search(10, 2)
    files_of(one_file_gone)[0].unlink()
    assert "deleted 2 searches and 1 photo file older than 1 day" in run("--days", "1")


def test_old_photo_files_no_search_refers_to_go_too(settings) -> None:
    """record_search writes the files before the row: a process killed in between left photos that no purge reached."""
    recent = saved_search(1, seed=1)
    long_ago = (timezone.now() - timedelta(days=40)).timestamp()
    media = Path(settings.MEDIA_ROOT)
    left_behind = [media / "searches/2026/10/01/killed.jpg", media / "searches/thumbs/2026/10/01/killed.jpg"]
    being_saved = media / "searches/2026/11/29/being-saved.jpg"
    for path in [*left_behind, being_saved]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(64, 64))
    for path in [*left_behind, *files_of(recent)]:  # the recent search's files old on disk (restored from a backup)
        os.utime(path, (long_ago, long_ago))

    assert "would delete 0 searches and 2 photo files" in run("--days", "30", "--dry-run")
    assert all(path.exists() for path in left_behind)
    assert "deleted 0 searches and 2 photo files" in run("--days", "30")
    assert not any(path.exists() for path in left_behind)
    assert being_saved.exists() and all(path.exists() for path in files_of(recent))
    assert Search.objects.get() == recent
