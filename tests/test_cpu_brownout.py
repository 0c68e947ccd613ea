"""The re-rank brownout by machine load (catalog.cpu_load, SNAPSHOP_RERANK_MAX_CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.cpu_load import CpuMeter, read_jiffies
from catalog.index import get_local_index, reset_local_index
from catalog.local_engine import PROCESS_IN_FLIGHT, LocalSearcher
from search.backends.local import search_local
from search.models import Search
from tests.conftest import CatalogItem
from tests.cpu_meters import Clock, busy_meter, write_stat
from vectors.base import Filter
from vision.prepare import prepare_image

BUSY_TEXT = "skipped the detailed picture check"


def test_the_meter_reports_the_busy_share_of_the_last_sample(tmp_path: Path) -> None:
    stat, clock = tmp_path / "stat", Clock()
    write_stat(stat, busy=100, idle=900)
    meter = CpuMeter(stat, interval=0.5, clock=clock)
    assert meter.busy() == 0.0  # nothing measured yet
    write_stat(stat, busy=190, idle=910)
    clock.now += 0.2
    assert meter.busy() == 0.0  # the sample is not over: the file is not read again
    clock.now += 0.4
    assert meter.busy() == pytest.approx(0.9)
    write_stat(stat, busy=200, idle=1000)
    clock.now += 0.1
    assert meter.busy() == pytest.approx(0.9)  # kept until the next sample ends
    clock.now += 0.5
    assert meter.busy() == pytest.approx(0.1)


def test_an_unreadable_or_foreign_stat_file_looks_idle(tmp_path: Path) -> None:
    clock = Clock()
    missing = CpuMeter(tmp_path / "missing", clock=clock)
    garbled = tmp_path / "garbled"
    garbled.write_text("not a stat file\n")
    odd = CpuMeter(garbled, clock=clock)
    clock.now += 5
    assert missing.busy() == odd.busy() == 0.0
    assert read_jiffies(garbled) is None


@contextmanager
def every_core_busy() -> Iterator[None]:
    """A spinning process per core, for as long as the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@pytest.mark.skipif(read_jiffies() is None, reason="no /proc/stat on this system")
def test_the_meter_sees_the_machine_get_busy() -> None:
    meter = CpuMeter(interval=0.3)
    with every_core_busy():
        time.sleep(0.4)
        meter.busy()  # starts a sample with every core spinning
        time.sleep(0.4)
        assert meter.busy() >= 0.75


def test_a_searcher_skips_the_re_rank_only_above_its_limit(small_catalog: list[CatalogItem], tmp_path: Path) -> None:
    meter = busy_meter(tmp_path)
    served = get_local_index().searcher
    image = prepare_image(small_catalog[1].picture.read_bytes()).image

    def searcher(max_cpu: float) -> LocalSearcher:
        return LocalSearcher(served.engine, served.store, served.source, max_cpu=max_cpu, cpu=meter)

    assert searcher(0.7).search(image, limit=5).rerank_skipped
    calm = searcher(0.9).search(image, limit=5)
    off = searcher(0.0).search(image, limit=5)
    assert not calm.rerank_skipped and not off.rerank_skipped
    assert calm.hits[0].sku_id == small_catalog[1].product.sku_id


def test_a_busy_search_that_finds_nothing_says_nothing_of_its_re_rank(
    small_catalog: list[CatalogItem], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = busy_meter(tmp_path)
    served = get_local_index().searcher
    monkeypatch.setattr(served, "cpu", meter)
    monkeypatch.setattr(served, "max_cpu", 0.7)
    photo = prepare_image(small_catalog[1].picture.read_bytes())
    found = search_local(photo, limit=5)
    assert found.hits and BUSY_TEXT in found.notice
    nothing = search_local(photo, limit=5, flt=Filter(cid1="No such category"))
    assert not nothing.hits and nothing.notice == ""


@pytest.mark.skipif(read_jiffies() is None, reason="no /proc/stat on this system")
def test_a_web_search_on_a_busy_machine_skips_the_re_rank_and_says_so(
    small_catalog: list[CatalogItem], settings
) -> None:
    settings.SNAPSHOP_RERANK_MAX_CPU = 60.0
    reset_local_index()
    item = small_catalog[4]
    client = Client()
    with every_core_busy():
        time.sleep(0.6)
        get_local_index().searcher.cpu.busy()  # a sample that starts with every core spinning
        time.sleep(0.6)
        response = client.post(
            "/search/",
            {"photo": SimpleUploadedFile("a.jpg", item.picture.read_bytes(), "image/jpeg")},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200 and BUSY_TEXT in response.content.decode()
    search = Search.objects.get()
    assert BUSY_TEXT in search.notice
    top = search.hits.first()
    assert top is not None and top.sku_id == item.product.sku_id


@pytest.mark.skipif(read_jiffies() is None, reason="no /proc/stat on this system")
def test_a_web_search_beside_another_on_a_busy_machine_gets_no_quick_check(
    small_catalog: list[CatalogItem], settings
) -> None:
    settings.SNAPSHOP_RERANK_QUICK_MAX_CPU = 60.0  # the full check's limit stays off (conftest)
    reset_local_index()
    item = small_catalog[4]
    with every_core_busy(), PROCESS_IN_FLIGHT.track():  # another search is in the engine of this process
        time.sleep(0.6)
        get_local_index().searcher.cpu.busy()
        time.sleep(0.6)
        response = Client().post(
            "/search/",
            {"photo": SimpleUploadedFile("a.jpg", item.picture.read_bytes(), "image/jpeg")},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200 and BUSY_TEXT in response.content.decode()
    assert "shorter picture check" not in response.content.decode()
