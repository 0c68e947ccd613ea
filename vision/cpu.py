"""Which exported model this processor should run: int8 only where ONNX Runtime computes it exactly.

ONNX Runtime's uint8 x int8 convolutions on an x86 processor without VNNI use VPMADDUBSW, which
adds each pair of products in 16 bits and saturates. Measured on an AMD EPYC with AVX2 only
(2026-11-27): the int8 model's pooled vectors fell to cosine 0.70-0.99 of the float model's
(0.99 with VNNI), val R@1 to 0.588 against 0.645 with the float model, and it ran no faster
(67 against 60 ms a 380 px pass). With AVX-512 VNNI or AVX-VNNI (x86), or the dot-product
instructions of ARM64, products accumulate in 32 bits: there the int8 model matched the float
one (val R@1 0.581 against 0.584) at 2.5x the speed.

Light on purpose: the settings module imports it.
"""

from __future__ import annotations

import platform
from pathlib import Path

FLOAT_MODEL = "efficientnet_lite2_380.onnx"
INT8_MODEL = "efficientnet_lite2_380_int8.onnx"
# /proc/cpuinfo's flags (x86) and Features (ARM64) naming 32-bit int8 dot products.
EXACT_INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "asimddp"})


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of /proc/cpuinfo's first processor ("flags" on x86, "Features" on ARM64)."""
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() in {"flags", "features"}:
            return set(value.split())
    return set()


def read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:  # not Linux: no flags known, so the float model (right everywhere)
        return ""


def int8_is_exact(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    machine = (machine or platform.machine()).lower()
    if machine not in {"x86_64", "amd64", "aarch64", "arm64"}:
        return False
    return bool(cpu_flags(read_cpuinfo() if cpuinfo is None else cpuinfo) & EXACT_INT8_FLAGS)


def default_model_path(models: Path, cpuinfo: str | None = None, machine: str | None = None) -> Path:
    """The int8 export where this processor computes it exactly and the file exists, else the float one."""
    int8 = models / INT8_MODEL
    if int8.is_file() and int8_is_exact(cpuinfo, machine):
        return int8
    return models / FLOAT_MODEL
