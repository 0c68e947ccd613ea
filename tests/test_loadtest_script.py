"""scripts/loadtest.py (`make loadtest`) against a live server on loopback: it drives real searches and
checks what it reports against the server's history."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from search.models import Search
from tests.conftest import CatalogItem

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "loadtest.py"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=180, cwd=settings.BASE_DIR
    )


def test_every_search_is_answered_and_in_history(
    live_server, small_catalog: list[CatalogItem], settings, tmp_path: Path
) -> None:
    settings.SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE = 0
    photos = tmp_path / "photos"
    photos.mkdir()
    for item in small_catalog[:3]:
        (photos / item.picture.name).write_bytes(item.picture.read_bytes())

    result = run_script(
        "--url", f"{live_server.url}/search/", "--clients", "2", "--duration", "3", "--rate", "3",
        "--photos", str(photos),
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    answered = re.search(r"answered (\d+), errors 0 ", result.stdout)
    assert answered, result.stdout
    assert int(answered.group(1)) > 0
    assert Search.objects.count() == int(answered.group(1))  # each answer was a real, recorded search
    assert re.search(r"latency ms: p50 \d+", result.stdout)
    # Every answer with cards is counted under the re-rank it had (full, quick or light), once.
    tiers = re.search(r"latency ms by re-rank: (.*)", result.stdout)
    assert tiers, result.stdout
    counts = [int(n) for n in re.findall(r"(?:full|quick|light) (\d+), p50 \d+, p99 \d+", tiers.group(1))]
    empty = re.search(r"with no results: (\d+)", result.stdout)
    assert empty and sum(counts) == int(answered.group(1)) - int(empty.group(1)), result.stdout


def test_it_refuses_a_server_that_is_not_on_loopback(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"not used")
    result = run_script("--url", "http://10.1.2.3/search/", "--duration", "1", "--photos", str(tmp_path))
    assert result.returncode != 0
    assert "only loopback addresses" in result.stderr
