"""How busy the machine's processors are, for the re-rank brownout (catalog.local_engine).

The share of all cores' time spent busy over the last half second or so, from /proc/stat (Linux):
one signal for every process of a server and for whatever else runs beside it, unlike the count of
searches in flight, which each process only knows of itself. Where /proc/stat cannot be read the
machine always looks idle, and the brownout rests on the in-flight count alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 0.5  # long enough to average over a few searches, short enough to follow a burst


def read_jiffies(path: Path = PROC_STAT) -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot, or None if unreadable."""
    try:
        with path.open("rb") as handle:
            fields = handle.readline().split()
        # cpu  user nice system idle iowait irq softirq steal (guest time is already in user)
        ticks = [int(value) for value in fields[1:9]]
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != b"cpu" or len(ticks) < 5:
        return None
    total = sum(ticks)
    return total - ticks[3] - ticks[4], total


class CpuMeter:
    """`busy()`: the busy share (0..1) over the last completed sample of at least `interval` seconds.

    Cheap to ask on every search: /proc/stat is read at most once per interval."""

    def __init__(
        self,
        path: Path = PROC_STAT,
        interval: float = SAMPLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last = read_jiffies(path)
        self._last_time = clock()
        self._busy = 0.0

    def busy(self) -> float:
        now = self.clock()
        with self._lock:
            if now - self._last_time >= self.interval:
                current = read_jiffies(self.path)
                if current is not None and self._last is not None and current[1] > self._last[1]:
                    self._busy = (current[0] - self._last[0]) / (current[1] - self._last[1])
                self._last, self._last_time = current, now
            return self._busy


# One per process, shared by its searchers.
PROCESS_CPU = CpuMeter()
