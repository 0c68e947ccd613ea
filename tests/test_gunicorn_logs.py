"""gunicorn.conf.py as `make serve` and an operator run it: the app's own log lines reach gunicorn's error log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


@pytest.mark.slow
@pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn is not installed beside this Python")
def test_the_apps_warnings_go_to_the_error_logfile(tmp_path: Path) -> None:
    """With --error-logfile (a daemon's stderr is /dev/null), Django's tracebacks and the engine's warnings went to
    stderr alone: the file showed gunicorn's start-up lines and nothing else (QA20). A worker whose model file is
    missing logs "engine warm-up failed" as it starts."""
    log = tmp_path / "error.log"
    env = dict(
        os.environ,
        SNAPSHOP_DATA_DIR=str(tmp_path / "data"),
        SNAPSHOP_MODEL_PATH=str(tmp_path / "missing.onnx"),
        SNAPSHOP_BACKEND="local",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="1",
    )
    server = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "--error-logfile", str(log)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "engine warm-up failed" not in (log.read_text() if log.exists() else ""):
            assert server.poll() is None, log.read_text() if log.exists() else "gunicorn exited"
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert "Booting worker" in text and "engine warm-up failed" in text, text
    assert "missing.onnx" in text  # the reason, with its traceback
