from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from api.models import ApiKey


class Command(BaseCommand):
    help = "Create a key for the Juhe-compatible API (/snapshop/query). The key is printed on the last line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="who will use the key")
        parser.add_argument("--daily-quota", type=int, default=None, help="requests per day (default: unlimited)")
        parser.add_argument("--expires-days", type=int, default=None, help="valid for N days (default: forever)")

    def handle(self, *args: Any, **options: Any) -> None:
        quota, days, name = options["daily_quota"], options["expires_days"], options["name"].strip()
        limit_of_name = ApiKey._meta.get_field("name").max_length or 100
        if not name:
            raise CommandError("the name is empty: say who will use the key")
        if len(name) > limit_of_name:  # the admin could not save such a key again (SQLite does not enforce it)
            raise CommandError(f"the name has {len(name)} characters; at most {limit_of_name}")
        if quota is not None and quota < 0:
            raise CommandError("--daily-quota must be 0 or more")
        if days is not None and days < 1:
            raise CommandError("--expires-days must be 1 or more")
        try:
            key, raw = ApiKey.issue(name, daily_quota=quota, expires_days=days)
        except OverflowError as exc:  # past datetime's year 9999
            raise CommandError(f"--expires-days {days} reaches past the year 9999; pass a smaller number") from exc
        expires = f"{key.expires:%Y-%m-%d %H:%M} UTC" if key.expires else "never"
        limit = "unlimited" if quota is None else str(quota)
        self.stdout.write(f"API key #{key.pk} for {key.name!r}: daily quota {limit}, expires {expires}.")
        self.stdout.write("Store it now; only its hash is kept:")
        self.stdout.write(raw)
