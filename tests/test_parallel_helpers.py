"""vision.parallel's hand-overs: a search's thread helping with its photo's SIFT (Helpers) and the re-rank's
two halves (side_by_side). Gates make each interleaving certain instead of hoping the scheduler picks it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from vision import parallel

WAIT = 10.0  # seconds a gate waits before the test fails instead of hanging


@pytest.fixture
def offering() -> Iterator[ThreadPoolExecutor]:
    """A thread of its own for the offering side (the photo's SIFT runs on the pool in a search)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="offering") as executor:
        yield executor


def _noting(runs: dict[int, str], work: Callable[[int], int]) -> Callable[[int], int]:
    def noted(part: int) -> int:
        runs[part] = threading.current_thread().name
        return work(part)

    return noted


def test_a_part_is_run_by_the_helping_thread_while_the_offering_one_is_busy(
    offering: ThreadPoolExecutor,
) -> None:
    helpers = parallel.Helpers()
    second_done = threading.Event()
    runs: dict[int, str] = {}

    def square(part: int) -> int:
        if part == 0:  # the offering thread's own part ends only once another thread has run part 1
            assert second_done.wait(WAIT), "nobody helped with part 1"
        if part == 1:
            second_done.set()
        return part * part

    future = offering.submit(helpers.map, _noting(runs, square), [0, 1, 2, 3])
    helpers.help_until(future)

    assert future.result(timeout=WAIT) == [0, 1, 4, 9]
    assert runs[0].startswith("offering") and runs[1] == "MainThread"
    assert sorted(runs) == [0, 1, 2, 3]  # each part once, whoever claimed it


def test_parts_nobody_claims_are_run_by_the_offering_thread_in_order() -> None:
    runs: dict[int, str] = {}
    results = parallel.Helpers().map(_noting(runs, lambda part: part + 10), [0, 1, 2])
    assert results == [10, 11, 12]
    assert set(runs.values()) == {"MainThread"}
    assert parallel.Helpers().map(_noting(runs, lambda part: part), []) == []


def test_an_error_in_a_helped_part_reaches_the_offering_thread(offering: ThreadPoolExecutor) -> None:
    helpers = parallel.Helpers()
    second_tried = threading.Event()

    def fails_on_one(part: int) -> int:
        if part == 0:
            assert second_tried.wait(WAIT), "nobody helped with part 1"
        if part == 1:
            second_tried.set()
            raise ValueError(f"part {part} of the photo failed")
        return part

    future = offering.submit(helpers.map, fails_on_one, [0, 1])
    helpers.help_until(future)  # the helper's own thread is not the one that sees the error

    with pytest.raises(ValueError, match="part 1 of the photo failed"):
        future.result(timeout=WAIT)


def test_helping_ends_when_the_work_ends_with_nothing_offered(offering: ThreadPoolExecutor) -> None:
    release = threading.Event()
    running: Future[bool] = offering.submit(release.wait, WAIT)
    helper = threading.Thread(target=parallel.Helpers().help_until, args=(running,))
    helper.start()
    release.set()
    helper.join(WAIT)
    assert not helper.is_alive()

    parallel.Helpers().help_until(running)  # already done: returns at once


@contextmanager
def every_pool_thread_in_another_search() -> Iterator[None]:
    release = threading.Event()
    started = threading.Barrier(parallel.WORKERS + 1)

    def other_search() -> None:
        started.wait(WAIT)
        release.wait(WAIT)

    others = [parallel.POOL.submit(other_search) for _ in range(parallel.WORKERS)]
    try:
        started.wait(WAIT)
        yield
    finally:
        release.set()
        for other in others:
            other.result(timeout=WAIT)


def test_side_by_side_runs_the_second_half_here_when_the_pool_is_busy_with_other_searches() -> None:
    runs: dict[int, str] = {}
    with every_pool_thread_in_another_search():
        assert parallel.side_by_side(_noting(runs, lambda part: -part), 1, 2) == (-1, -2)
    assert runs == {1: "MainThread", 2: "MainThread"}


def test_side_by_side_runs_the_second_half_on_the_pool_when_it_is_free() -> None:
    second_started = threading.Event()
    runs: dict[int, str] = {}

    def half(part: int) -> int:
        if part == 1:  # the first half waits for the second, so it cannot be run here after the first
            assert second_started.wait(WAIT), "the pool never took the second half"
        else:
            second_started.set()
        return part

    assert parallel.side_by_side(_noting(runs, half), 1, 2) == (1, 2)
    assert runs[1] == "MainThread" and runs[2].startswith("search-side")


def test_beside_gives_the_same_value_at_every_call_and_runs_the_work_once() -> None:
    calls: list[str] = []

    def work() -> int:
        calls.append(threading.current_thread().name)
        return 7

    beside = parallel.Beside(work)
    assert [beside.result(), beside.result()] == [7, 7]
    assert len(calls) == 1


def test_beside_runs_the_work_in_the_asking_thread_when_no_pool_thread_started_it() -> None:
    calls: list[str] = []

    def work() -> int:
        calls.append(threading.current_thread().name)
        return len(calls)

    with every_pool_thread_in_another_search():
        beside = parallel.Beside(work)
        assert [beside.result(), beside.result()] == [1, 1]
        assert calls == ["MainThread"]  # not queued behind the other searches
    assert calls == ["MainThread"]  # and not run again once the pool is free


def test_beside_raises_the_works_error_at_every_call() -> None:
    def broken() -> int:
        raise ValueError("no")

    beside = parallel.Beside(broken)
    for _ in range(2):
        with pytest.raises(ValueError, match="no"):
            beside.result()
