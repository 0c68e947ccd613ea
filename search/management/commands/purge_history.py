"""Delete searches older than the retention period, with their photos and thumbnails.

    python manage.py purge_history            # older than SNAPSHOP_HISTORY_RETENTION_DAYS (default 90)
    python manage.py purge_history --days 30
    python manage.py purge_history --days 0   # everything up to now
    python manage.py purge_history --dry-run  # only count

Run it daily (cron or a systemd timer). Rows go in batches; a photo file is
deleted once its row is gone, so a crash never leaves a row pointing at nothing.
Photo files older than the retention that no search refers to go too: a process
killed between writing a search's photo and saving its row left them behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import ngettext

from search.models import Search

BATCH = 500
PHOTO_FOLDER = "searches"  # Search.photo's and Search.thumbnail's upload_to start with it


class Command(BaseCommand):
    help = "Delete search history (rows, photos and thumbnails) older than the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        days = settings.SNAPSHOP_HISTORY_RETENTION_DAYS
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep this many days (default: SNAPSHOP_HISTORY_RETENTION_DAYS, now {days}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.SNAPSHOP_HISTORY_RETENTION_DAYS
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        try:
            cutoff = timezone.now() - timedelta(days=days)
        except OverflowError as exc:  # past datetime's year 1 (or timedelta's own limit)
            raise CommandError(f"--days {days} reaches back before the year 1; pass a smaller number.") from exc
        old = Search.objects.filter(created__lt=cutoff)
        if options["dry_run"]:
            searches = old.count()
            files = sum(1 for search in old.only("photo", "thumbnail").iterator() for _ in existing_files(search))
            files += len(orphan_files(cutoff))
            line = ngettext(
                # Translators: %(searches)s and %(files)s are "N searches" and "N photo files", already counted.
                "would delete %(searches)s and %(files)s older than %(days)d day (before %(cutoff)s)",
                "would delete %(searches)s and %(files)s older than %(days)d days (before %(cutoff)s)",
                days,
            )
        else:
            searches, files = purge(old, cutoff)
            line = ngettext(
                # Translators: %(searches)s and %(files)s are "N searches" and "N photo files", already counted.
                "deleted %(searches)s and %(files)s older than %(days)d day (before %(cutoff)s)",
                "deleted %(searches)s and %(files)s older than %(days)d days (before %(cutoff)s)",
                days,
            )
        # Each number agrees with its own noun ("1 search ... 90 days"): one ngettext for each, joined.
        searches_text = ngettext("%(count)d search", "%(count)d searches", searches) % {"count": searches}
        files_text = ngettext("%(count)d photo file", "%(count)d photo files", files) % {"count": files}
        figures = {"searches": searches_text, "files": files_text, "days": days, "cutoff": f"{cutoff:%Y-%m-%d %H:%M}"}
        self.stdout.write(line % figures)


def purge(old: QuerySet[Search], cutoff: datetime) -> tuple[int, int]:
    """Delete the old searches, then their files, then the orphan files: (searches, files) deleted."""
    searches = files = 0
    while True:
        batch = list(old.order_by("pk")[:BATCH].only("pk", "photo", "thumbnail"))
        if not batch:
            break
        with transaction.atomic():
            Search.objects.filter(pk__in=[s.pk for s in batch]).delete()  # hits go with them (CASCADE)
        for search in batch:
            for name in existing_files(search):
                Search.photo.field.storage.delete(name)
                files += 1
        searches += len(batch)
    for name in orphan_files(cutoff):
        Search.photo.field.storage.delete(name)
        files += 1
    return searches, files


def existing_files(search: Search) -> Iterator[str]:
    for field in (search.photo, search.thumbnail):
        if field.name and field.storage.exists(field.name):  # FieldFile is truthy iff it has a name
            yield field.name


def orphan_files(cutoff: datetime) -> list[str]:
    """Photo and thumbnail files of history last written before the cutoff that no search refers to.
    record_search writes them before the row, so a process killed in between left them, and without a
    row they would escape retention for good. A newer one may be a search being saved: left alone."""
    storage = Search.photo.field.storage
    old = [name for name in stored_files(storage, PHOTO_FOLDER) if storage.get_modified_time(name) < cutoff]
    orphans = []
    for start in range(0, len(old), BATCH):
        names = old[start : start + BATCH]
        kept = set(Search.objects.filter(photo__in=names).values_list("photo", flat=True))
        kept |= set(Search.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
        orphans += [name for name in names if name not in kept]
    return orphans


def stored_files(storage: Storage, folder: str) -> Iterator[str]:
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    yield from (f"{folder}/{name}" for name in files)
    for name in folders:
        yield from stored_files(storage, f"{folder}/{name}")
