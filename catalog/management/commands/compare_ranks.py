from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from catalog.evaluation import paired_r1, read_ranks


class Command(BaseCommand):
    help = (
        "Compare two `evaluate --ranks` files of the same photos: R@1 of each, the photos only one of them "
        "got right, and McNemar's exact p-value (is the difference more than chance?). The last line is JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("first", type=Path)
        parser.add_argument("second", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        runs = []
        for path in (options["first"], options["second"]):
            try:
                runs.append(read_ranks(path))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {path}: {exc}") from exc
        pair = paired_r1(*runs)
        if not pair.n:
            raise CommandError("the two files share no photo (compare runs of the same queries file)")
        figures = {
            "n": pair.n,
            "first": f"{pair.first_r1:.3f}",
            "second": f"{pair.second_r1:.3f}",
            "change": f"{pair.second_r1 - pair.first_r1:+.3f}",
            "first_only": pair.first_only,
            "second_only": pair.second_only,
            "p": f"{pair.p_value:.3g}",
        }
        summary = ngettext(
            "%(n)d photo in both files; R@1 %(first)s against %(second)s (%(change)s); right only in the first: "
            "%(first_only)d, only in the second: %(second_only)d; McNemar's exact p = %(p)s",
            "%(n)d photos in both files; R@1 %(first)s against %(second)s (%(change)s); right only in the first: "
            "%(first_only)d, only in the second: %(second_only)d; McNemar's exact p = %(p)s",
            pair.n,
        )
        self.stdout.write(summary % figures)
        unmatched = len(runs[0].keys() ^ runs[1].keys())
        if unmatched:
            left_out = ngettext(
                "%(count)d photo is in one file only and was left out",
                "%(count)d photos are in one file only and were left out",
                unmatched,
            )
            self.stderr.write(left_out % {"count": unmatched})
        report = {
            "n": pair.n,
            "first_r1": round(pair.first_r1, 4),
            "second_r1": round(pair.second_r1, 4),
            "first_only": pair.first_only,
            "second_only": pair.second_only,
            "p_value": round(pair.p_value, 6),
        }
        self.stdout.write(json.dumps(report))
