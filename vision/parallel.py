"""Threads that let one search use both cores: its photo's SIFT beside the network pass, the last steps of
that SIFT (orientations, descriptors) shared with the search's thread once its pass is done (Helpers), and
half of its re-rank's candidates beside the other half.

A search's parts were run one after another, so on 2 cores one stood idle for most of a search. The
network (ONNX Runtime), the blurs and matrix products of SIFT and the matching all release the GIL.
The pool is per process and small: a search with the full re-rank uses it, and a web or API search for what
it keeps of its photo (search.keeping). The brownout (catalog.local_engine) gives the full re-rank to one
search at a time per process, so its tasks rarely queue behind another search's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Generic, TypeVar, cast

A = TypeVar("A")
T = TypeVar("T")

WORKERS = 2
POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="search-side")


class Beside(Generic[T]):
    """`work()` started on the pool now, its value taken later. If no pool thread has started it by then (the
    pool busy with another search), it runs in the thread asking: a caller that is itself a pool thread (the
    photo's SIFT) never waits on a task queued behind it, and no caller waits on another search."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._pending = POOL.submit(work)
        self._ran_here: Future[T] | None = None

    def result(self) -> T:
        """The value (or the exception) of `work()`, the same at every call."""
        if self._ran_here is None and not self._pending.cancel():
            return self._pending.result()
        if self._ran_here is None:
            self._ran_here = Future()
            try:
                self._ran_here.set_result(self._work())
            except BaseException as exc:  # noqa: BLE001 - raised again below, as the pool's future would
                self._ran_here.set_exception(exc)
        return self._ran_here.result()


def side_by_side(work: Callable[[A], T], first: A, second: A) -> tuple[T, T]:
    """(work(first), work(second)), the second on the pool meanwhile (see Beside)."""
    pending = Beside(partial(work, second))
    return work(first), pending.result()


class _Offer(Generic[A, T]):
    """One part of a computation, run by whichever thread claims it first."""

    def __init__(self, work: Callable[[A], T], part: A) -> None:
        self.work, self.part = work, part
        self._claim = threading.Lock()
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def claim(self) -> bool:
        return self._claim.acquire(blocking=False)

    def run(self) -> None:
        try:
            self._value = self.work(self.part)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the thread that offered it (result)
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


class Helpers:
    """Work a search's photo SIFT offers to the search's own thread once its network pass is done.

    The SIFT outlasts the pass beside it, and the search's thread then only waited for it. Handing half of
    the SIFT's last steps to the pool instead made three threads share two cores while the pass still ran.
    Parts nobody has claimed when the offering thread gets to them it runs itself, so it never waits on a
    thread that is busy elsewhere.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._offers: deque[_Offer[Any, Any]] = deque()

    def map(self, work: Callable[[A], T], parts: Sequence[A]) -> list[T]:
        """[work(part) for part in parts], the parts after the first offered to a helper meanwhile."""
        offers = [_Offer(work, part) for part in parts[1:]]
        with self._changed:
            self._offers.extend(offers)
            self._changed.notify_all()
        results = [work(parts[0])] if parts else []
        for offer in offers:
            if offer.claim():
                offer.run()
        return results + [offer.result() for offer in offers]

    def help_until(self, future: Future[Any]) -> None:
        """Run offered parts until `future` is done (its result is then ready)."""

        def wake(_: Future[Any]) -> None:
            with self._changed:
                self._changed.notify_all()

        future.add_done_callback(wake)
        while True:
            with self._changed:
                while not self._offers and not future.done():
                    self._changed.wait()
                if future.done():
                    return
                offer = self._offers.popleft()
            if offer.claim():
                offer.run()
