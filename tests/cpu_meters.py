"""CPU meters (catalog.cpu_load) reading a /proc/stat and a clock of their own: a machine exactly as busy as a
test needs, whatever else runs."""

from __future__ import annotations

from pathlib import Path

from catalog.cpu_load import CpuMeter


def write_stat(path: Path, busy: int, idle: int) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice, as Linux writes it
    path.write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {busy} 0 0 {idle} 0 0 0 0 0 0\nintr 1 2 3\n")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def busy_meter(folder: Path, busy: int = 80) -> CpuMeter:
    """A meter whose last half second was `busy` % busy (a /proc/stat of its own, a clock of its own)."""
    stat, clock = folder / "stat", Clock()
    write_stat(stat, busy=0, idle=0)
    meter = CpuMeter(stat, interval=0.5, clock=clock)
    write_stat(stat, busy=busy, idle=100 - busy)
    clock.now += 1
    return meter
