"""Which export a processor runs by default (vision.cpu): int8 only where it is computed exactly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from vision.cpu import FLOAT_MODEL, INT8_MODEL, cpu_flags, default_model_path, int8_is_exact

# Abridged /proc/cpuinfo of this project's machines.
AMD_AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx fma avx2 sha_ni clzero\n\nprocessor\t: 1"
INTEL_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni\n"
ALDER_LAKE = "processor\t: 0\nflags\t\t: fpu avx2 avx_vnni\n"
ARM_DOTPROD = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 asimddp\n"
ARM_OLD = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32\n"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    (tmp_path / FLOAT_MODEL).write_bytes(b"float")
    (tmp_path / INT8_MODEL).write_bytes(b"int8")
    return tmp_path


def test_flags_are_read_from_the_first_processor() -> None:
    assert cpu_flags(AMD_AVX2) == {"fpu", "sse2", "avx", "fma", "avx2", "sha_ni", "clzero"}
    assert "asimddp" in cpu_flags(ARM_DOTPROD)
    assert cpu_flags("") == set()


@pytest.mark.parametrize(
    ("cpuinfo", "machine", "exact"),
    [
        (AMD_AVX2, "x86_64", False),  # VPMADDUBSW saturates
        (INTEL_VNNI, "x86_64", True),
        (ALDER_LAKE, "x86_64", True),
        (ARM_DOTPROD, "aarch64", True),
        (ARM_OLD, "aarch64", False),
        (INTEL_VNNI, "riscv64", False),  # flags of another architecture mean nothing
        ("", "x86_64", False),  # no /proc/cpuinfo: the float model, right everywhere
    ],
)
def test_int8_is_exact_only_with_32_bit_dot_products(cpuinfo: str, machine: str, exact: bool) -> None:
    assert int8_is_exact(cpuinfo, machine) is exact


def test_the_default_model_follows_the_processor(models: Path) -> None:
    assert default_model_path(models, AMD_AVX2, "x86_64") == models / FLOAT_MODEL
    assert default_model_path(models, INTEL_VNNI, "x86_64") == models / INT8_MODEL


def test_without_the_int8_file_the_float_model_is_the_default(models: Path) -> None:
    (models / INT8_MODEL).unlink()
    assert default_model_path(models, INTEL_VNNI, "x86_64") == models / FLOAT_MODEL


def test_the_settings_use_this_processors_choice() -> None:
    """Without SNAPSHOP_MODEL_PATH the app runs what vision.cpu picks for the processor it is on."""
    if os.environ.get("SNAPSHOP_MODEL_PATH"):
        pytest.skip("SNAPSHOP_MODEL_PATH is set")
    assert default_model_path(Path(settings.BASE_DIR) / "models") == settings.SNAPSHOP_MODEL_PATH
