"""libFuzzer target (atheris) for vision.prepare.prepare_image: anything but ImageRejected is a crash.

    .venv/bin/pip install atheris==3.0.0
    mkdir -p build/fuzz-corpus
    .venv/bin/python scripts/fuzz_prepare.py build/fuzz-corpus -max_total_time=300 -rss_limit_mb=2048 -max_len=65536

Crashing inputs are written as crash-<sha1> in the current folder; replay one with
    .venv/bin/python scripts/fuzz_prepare.py crash-<sha1>
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF; that is not a finding

with atheris.instrument_imports():
    from vision.prepare import ImageRejected, prepare_image


def test_one_input(data: bytes) -> None:
    try:
        photo = prepare_image(data, max_pixels=4_000_000)
    except ImageRejected:
        return
    assert photo.image.mode == "RGB"


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
