"""vision.int_matmul: SIFT matching's byte products in ONNX Runtime, exact for codes below 128."""

from __future__ import annotations

import numpy as np

from vision import int_matmul


def test_products_are_exact_up_to_the_largest_code():
    rng = np.random.default_rng(7)
    rows = rng.integers(0, int_matmul.CODE_MAX + 1, (300, 128), dtype=np.uint8)
    columns = rng.integers(0, int_matmul.CODE_MAX + 1, (90, 128), dtype=np.uint8)
    rows[0] = columns[0] = int_matmul.CODE_MAX  # the worst case for the kernel's int16 pair sums
    expected = rows.astype(np.int64) @ columns.astype(np.int64).T
    assert np.array_equal(int_matmul.products(rows, columns), expected)


def test_codes_are_clipped_where_products_would_saturate():
    unit = np.zeros((2, 128), np.float32)
    unit[0, 0] = 1.0  # a one-bin descriptor: 255 would saturate the int16 pair sums
    unit[1, :4] = 0.5
    codes = int_matmul.codes(unit)
    assert codes.dtype == np.uint8 and codes.max() == int_matmul.CODE_MAX and codes[1, 0] == int_matmul.CODE_MAX


def test_the_photo_side_uses_the_whole_range_and_keeps_cosines():
    rng = np.random.default_rng(3)
    raw = np.sqrt(rng.random((50, 128)))  # RootSIFT-like: non-negative, unit rows
    unit = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    fine, scale = int_matmul.fine_codes(unit)
    assert fine.max() == int_matmul.CODE_MAX and scale > 255
    stored = int_matmul.codes(unit)
    cosines = int_matmul.products(stored, fine) / (np.linalg.norm(stored.astype(float), axis=1)[:, None] * scale)
    assert np.abs(cosines - unit @ unit.T).max() < 0.01
