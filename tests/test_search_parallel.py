"""One search on both cores (vision.parallel): the photo's SIFT beside the network pass, the re-rank's
candidates in two halves, each giving exactly what the one-core order gave."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from catalog.cpu_load import CpuMeter
from catalog.index import get_local_index
from catalog.local_engine import InFlight, LocalSearcher
from tests.conftest import GROCERY, CatalogItem, grocery_rows
from vision import local
from vision.engine import MIN_INLIERS, Engine
from vision.prepare import prepare_image

POOL_THREAD = "search-side"
WAIT = 10.0  # seconds a gate waits before the test fails instead of hanging
T = TypeVar("T")


def _calls_to(monkeypatch: pytest.MonkeyPatch, name: str, note: Callable[..., T]) -> list[T]:
    """What `note` makes of each call's arguments to vision.local.<name> from now on."""
    notes: list[T] = []
    original: Callable[..., object] = getattr(local, name)

    def spy(*args: object, **kwargs: object) -> object:
        notes.append(note(*args, **kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(local, name, spy)
    return notes


def _calls_by_thread(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Names of the threads that call vision.local.<name> from now on."""
    return _calls_to(monkeypatch, name, lambda *args, **kwargs: threading.current_thread().name)


@pytest.fixture(scope="module")
def studio_pictures() -> list[Image.Image]:
    return [Image.open(GROCERY / row["imageUrl"]).convert("RGB") for row in grocery_rows(81)[::9]]


def test_verify_in_two_parts_counts_each_candidate_as_if_alone(
    studio_pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = [local.catalog_local(picture) for picture in studio_pictures]
    photo = studio_pictures[4].rotate(12, expand=True, fillcolor=(90, 110, 70)).crop((20, 20, 260, 260))
    query = local.query_local(photo)

    # The half here waits for the pool to start the other: on a busy machine no pool thread had started it by the
    # time this half was done, so this thread ran it too (as it should: it never waits on a queued task).
    pool_started = threading.Event()

    def thread_name(*args: object, **kwargs: object) -> str:
        name = threading.current_thread().name
        if name.startswith(POOL_THREAD):
            pool_started.set()
        else:
            pool_started.wait(WAIT)
        return name

    threads = _calls_to(monkeypatch, "mutual_matches", thread_name)
    together = local.verify(query, catalog)

    assert len(threads) == 2 and "MainThread" in threads  # one half here, the other on the pool
    assert any(name.startswith(POOL_THREAD) for name in threads)
    assert together == [local.verify(query, [candidate])[0] for candidate in catalog]
    assert together[4] >= MIN_INLIERS and together[4] == max(together)


def test_verify_of_one_or_no_candidate_stays_on_the_calling_thread(
    studio_pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = local.catalog_local(studio_pictures[0])
    threads = _calls_by_thread(monkeypatch, "mutual_matches")
    assert local.verify(local.query_local(studio_pictures[0]), [candidate])[0] >= MIN_INLIERS
    assert local.verify(local.query_local(studio_pictures[0]), []) == []
    assert threads == ["MainThread", "MainThread"]


def test_the_photo_s_local_features_computed_early_equal_the_late_ones(
    engine: Engine, studio_pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = studio_pictures[2].resize((300, 260))
    threads = _calls_by_thread(monkeypatch, "query_local")

    early = engine.query_features(photo, local_early=True)
    late = engine.query_features(photo)
    early_local, late_local = engine._query_local(early), engine._query_local(late)

    assert threads[0].startswith(POOL_THREAD) and threads[1] == "MainThread"
    assert np.array_equal(early.vectors, late.vectors)
    assert np.array_equal(early_local.points, late_local.points)
    assert np.array_equal(early_local.descriptors, late_local.descriptors)
    assert np.array_equal(early_local.hist, late_local.hist)
    assert np.array_equal(engine._query_hist(early), late_local.hist)


def test_a_search_bound_for_the_full_re_rank_starts_its_photo_s_part_early(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = get_local_index().searcher
    image = prepare_image(small_catalog[5].picture.read_bytes()).image
    threads = _calls_by_thread(monkeypatch, "query_local")

    result = served.search(image, limit=5)

    assert not result.rerank_skipped and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert len(threads) == 1 and threads[0].startswith(POOL_THREAD)
    assert "local_future" not in result.query.state  # taken by the re-rank


def test_a_busy_search_does_not_compute_the_photo_s_sift_at_all(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = get_local_index().searcher
    busy = LocalSearcher(served.engine, served.store, served.source)
    busy.forced = "light"
    threads = _calls_by_thread(monkeypatch, "query_local")

    result = busy.search(prepare_image(small_catalog[5].picture.read_bytes()).image, limit=5)

    assert result.rerank_skipped and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert threads == []


class ScriptedMeter(CpuMeter):
    """A CPU meter reading the given busy shares one after another (then the last one again)."""

    def __init__(self, *readings: float) -> None:
        super().__init__()
        self.readings = list(readings)

    def busy(self) -> float:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def _searcher_of_its_own(
    *, max_cpu: float = 0.0, cpu: CpuMeter | None = None, quick: int = 2, max_quick_cpu: float = 0.0
) -> LocalSearcher:
    """The served catalog's searcher with its own count of searches in flight (and CPU limits, if given); up to
    `quick` searches in flight, one beyond the first gets the quick check."""
    served = get_local_index().searcher
    return LocalSearcher(
        served.engine,
        served.store,
        served.source,
        in_flight=InFlight(),
        max_quick_in_flight=quick,
        max_cpu=max_cpu,
        max_quick_cpu=max_quick_cpu,
        cpu=cpu,
    )


def _photo(item: CatalogItem) -> Image.Image:
    return prepare_image(item.picture.read_bytes()).image


def _candidates_verified(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many candidates each SIFT check (vision.local.verify) is given from now on."""
    return _calls_to(monkeypatch, "verify", lambda query, catalog: len(catalog))


def _at_the_end_of_each_pass(
    searcher: LocalSearcher, monkeypatch: pytest.MonkeyPatch, event: Callable[[], object]
) -> None:
    """From now on, `event` happens just after each model pass of the searcher's engine (before the re-rank)."""
    original = searcher.engine.query_features

    def pass_then_event(*args: object, **kwargs: object) -> object:
        features = original(*args, **kwargs)  # type: ignore[arg-type]
        event()
        return features

    monkeypatch.setattr(searcher.engine, "query_features", pass_then_event)


def test_a_search_that_started_its_sift_early_keeps_the_full_re_rank_when_another_enters(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own()
    threads = _calls_by_thread(monkeypatch, "query_local")

    with ExitStack() as arrivals:
        # another search enters the engine during this one's pass
        _at_the_end_of_each_pass(searcher, monkeypatch, lambda: arrivals.enter_context(searcher.in_flight.track()))
        result = searcher.search(_photo(small_catalog[5]), limit=5)
        assert searcher.in_flight.count == 1  # the newcomer, still in the engine

    assert not result.rerank_skipped and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert len(threads) == 1 and threads[0].startswith(POOL_THREAD)  # its early SIFT is the one used
    assert "local_future" not in result.query.state


def test_a_search_that_found_another_in_the_engine_gets_the_quick_check_started_early(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own()
    threads = _calls_by_thread(monkeypatch, "query_local")
    checked = _candidates_verified(monkeypatch)
    monkeypatch.setattr(searcher.engine, "quick_verify_depth", 5)  # of the 12 pictures, all in the full check

    with searcher.in_flight.track():  # already there when this search arrives, and through its pass
        result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank == "quick" and not result.rerank_skipped
    assert result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert len(threads) == 1 and threads[0].startswith(POOL_THREAD)  # beside its pass, as the full check's
    quick = result.query.state["local_quick"]
    assert isinstance(quick, local.LocalFeatures) and "local" not in result.query.state
    assert max(quick.shape) == local.QUICK_SIFT_SIDE and quick.keypoints <= local.QUICK_KEYPOINTS
    assert checked == [5]


def test_a_search_that_found_two_others_in_the_engine_is_light(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own()
    threads = _calls_by_thread(monkeypatch, "query_local")

    with searcher.in_flight.track(), searcher.in_flight.track():
        result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank == "light" and result.rerank_skipped and threads == []


def test_without_the_quick_tier_a_search_that_found_another_in_the_engine_is_light(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own(quick=0)
    threads = _calls_by_thread(monkeypatch, "query_local")

    with searcher.in_flight.track():
        result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank_skipped and threads == []


def test_a_search_that_found_another_on_entering_keeps_the_quick_check_when_alone_after_its_pass(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own()
    threads = _calls_by_thread(monkeypatch, "query_local")
    with ExitStack() as other:
        other.enter_context(searcher.in_flight.track())  # in the engine when this search arrives
        _at_the_end_of_each_pass(searcher, monkeypatch, other.close)  # and gone when its pass is over
        result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert searcher.in_flight.count == 0
    assert result.rerank == "quick" and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert len(threads) == 1  # its quick SIFT only: no full one started one pass late


def test_a_quick_search_keeps_its_check_when_the_machine_is_busy_after_its_pass(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own(max_cpu=0.85, cpu=ScriptedMeter(0.2, 0.95))  # calm before the pass, not after
    checked = _candidates_verified(monkeypatch)

    with searcher.in_flight.track():
        result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank == "quick" and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert checked == [len(small_catalog)]  # its SIFT was paid for beside the pass: only the matching was left


@pytest.mark.parametrize(("load", "tier"), [(0.5, "quick"), (0.8, "light"), (0.9, "light")])
def test_the_quick_check_is_only_for_a_machine_below_its_own_cpu_limit(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch, load: float, tier: str
) -> None:
    searcher = _searcher_of_its_own(max_cpu=0.85, max_quick_cpu=0.75, cpu=ScriptedMeter(load))
    threads = _calls_by_thread(monkeypatch, "query_local")

    with searcher.in_flight.track():
        result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank == tier and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert len(threads) == (tier == "quick")  # no SIFT at all for the light re-rank


def test_a_search_alone_in_the_engine_is_checked_fully_above_the_quick_check_s_cpu_limit(
    small_catalog: list[CatalogItem],
) -> None:
    searcher = _searcher_of_its_own(max_cpu=0.85, max_quick_cpu=0.75, cpu=ScriptedMeter(0.8))

    result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank == "full" and result.hits[0].sku_id == small_catalog[5].product.sku_id


def test_a_machine_busy_after_the_pass_still_sends_an_early_search_to_the_light_re_rank(
    small_catalog: list[CatalogItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = _searcher_of_its_own(max_cpu=0.85, cpu=ScriptedMeter(0.2, 0.95))  # calm before the pass, not after
    threads = _calls_by_thread(monkeypatch, "query_local")

    result = searcher.search(_photo(small_catalog[5]), limit=5)

    assert result.rerank_skipped and result.hits[0].sku_id == small_catalog[5].product.sku_id
    assert len(threads) == 1  # it had started early, and still gives way to the machine's load


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("3", "3")])
def test_numpy_s_blas_gets_one_thread_unless_told_otherwise(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = "import snapshop_site, os; print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [expected, "1"]
