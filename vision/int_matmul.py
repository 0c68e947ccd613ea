"""Integer matrix products for SIFT matching, run by ONNX Runtime's MatMulInteger.

Matching a photo's keypoints against its 30 candidates' is one product of ~24,000 x 128 by 128 x 1,000;
numpy's float32 product took ~70 ms of it on the AMD EPYC's one core. The descriptors are stored as bytes
anyway (vision.local), and ONNX Runtime multiplies uint8 by int8 about 3x faster (MLAS). Its AVX2 kernel
adds pairs of byte products in int16 with saturation, so both sides must stay below 128: the product is
then exact. RootSIFT components stay below 0.33 (SIFT clips its histogram at 0.2), i.e. below 85 in the
0..255 scale, so nothing is lost by clipping at 127.

The one-node model is written here in protobuf's wire format, so serving needs no `onnx` package.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

CODE_MAX = 127  # see above: larger values would saturate the int16 pair sums
_UINT8, _INT8, _INT32 = 2, 3, 6  # onnx.TensorProto element types


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _number(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _message(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _tensor(name: str, element: int, dims: tuple[str | int, str | int]) -> bytes:
    """A ValueInfoProto: a tensor's name, element type and shape (named or fixed dimensions)."""
    shape = b"".join(_message(1, _message(2, d) if isinstance(d, str) else _number(1, d)) for d in dims)
    tensor_type = _number(1, element) + _message(2, shape)
    return _message(1, name) + _message(2, _message(1, tensor_type))


def model_bytes() -> bytes:
    """Y = MatMulInteger(A, B): A uint8 (M, 128), B int8 (128, N), Y int32 (M, N); opset 17."""
    node = _message(1, "A") + _message(1, "B") + _message(2, "Y") + _message(4, "MatMulInteger")
    graph = (
        _message(1, node)
        + _message(2, "sift_match")
        + _message(11, _tensor("A", _UINT8, ("M", 128)))
        + _message(11, _tensor("B", _INT8, (128, "N")))
        + _message(12, _tensor("Y", _INT32, ("M", "N")))
    )
    return _number(1, 8) + _message(7, graph) + _message(8, _message(1, "") + _number(2, 17))


_session: Any = None  # an onnxruntime.InferenceSession, made on first use
_session_lock = threading.Lock()


def _get_session() -> Any:
    global _session
    with _session_lock:
        if _session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # a search's matching already runs in two halves on two threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _session = ort.InferenceSession(model_bytes(), options, providers=["CPUExecutionProvider"])
        return _session


def codes(unit_rows: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """Unit descriptors (n, 128) as the bytes the products take: round(scale x), at most CODE_MAX."""
    return np.minimum(np.rint(np.asarray(unit_rows) * scale), CODE_MAX).clip(0).astype(np.uint8)


def fine_codes(unit_rows: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo's side of a product: its own scale, so that its largest component is CODE_MAX (~400
    for RootSIFT instead of the stored pictures' 255): finer steps, and still exact products."""
    scale = CODE_MAX / max(float(np.max(unit_rows, initial=0.0)), 1e-6)
    return codes(unit_rows, scale), scale


def products(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """rows (m, 128) uint8 and columns (n, 128) uint8 codes, all at most CODE_MAX -> (m, n) int32 dot
    products (255² for two equal unit vectors)."""
    a = np.ascontiguousarray(rows, dtype=np.uint8)
    b = np.ascontiguousarray(columns.T, dtype=np.uint8).view(np.int8)  # the same values: all below 128
    (out,) = _get_session().run(None, {"A": a, "B": b})
    return np.asarray(out)
