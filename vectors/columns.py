"""Attributes kept as numpy columns, so a filter becomes one vectorised mask."""

from __future__ import annotations

import json
import math

import numpy as np

from vectors.base import Attributes, Filter


class AttributeColumns:
    """Row-indexed attributes; category strings are interned to int codes."""

    def __init__(self, capacity: int = 0) -> None:
        self.vocab: dict[str, int] = {"": 0}
        self.product = np.zeros(capacity, dtype=np.int64)
        self.cids = np.zeros((capacity, 3), dtype=np.int32)
        self.price = np.full(capacity, np.nan, dtype=np.float64)
        self.self_op = np.full(capacity, -1, dtype=np.int8)  # -1 unknown, 0 no, 1 yes

    def resize(self, capacity: int) -> None:
        old = len(self.product)
        if capacity <= old:
            return
        grow = capacity - old
        self.product = np.concatenate([self.product, np.zeros(grow, dtype=np.int64)])
        self.cids = np.concatenate([self.cids, np.zeros((grow, 3), dtype=np.int32)])
        self.price = np.concatenate([self.price, np.full(grow, np.nan)])
        self.self_op = np.concatenate([self.self_op, np.full(grow, -1, dtype=np.int8)])

    def _code(self, value: str) -> int:
        code = self.vocab.get(value)
        if code is None:
            code = self.vocab[value] = len(self.vocab)
        return code

    def set(self, row: int, attrs: Attributes) -> None:
        self.product[row] = attrs.product
        self.cids[row] = [self._code(attrs.cid1), self._code(attrs.cid2), self._code(attrs.cid3)]
        self.price[row] = np.nan if attrs.price is None else float(attrs.price)
        self.self_op[row] = -1 if attrs.self_operated is None else int(attrs.self_operated)

    def get(self, row: int) -> Attributes:
        names = {code: name for name, code in self.vocab.items()}
        price = float(self.price[row])
        so = int(self.self_op[row])
        return Attributes(
            product=int(self.product[row]),
            cid1=names[int(self.cids[row, 0])],
            cid2=names[int(self.cids[row, 1])],
            cid3=names[int(self.cids[row, 2])],
            price=None if math.isnan(price) else price,
            self_operated=None if so < 0 else bool(so),
        )

    def mask(self, flt: Filter, live: np.ndarray) -> np.ndarray:
        """Boolean row mask of live rows that pass `flt` (same semantics as Filter.matches)."""
        n = len(live)
        m = live.copy()
        for col, value in enumerate((flt.cid1, flt.cid2, flt.cid3)):
            if value is not None:
                code = self.vocab.get(value)
                if code is None:
                    return np.zeros(n, dtype=bool)
                m &= self.cids[:n, col] == code
        with np.errstate(invalid="ignore"):
            if flt.price_min is not None:
                m &= self.price[:n] >= flt.price_min  # NaN (no price) compares False
            if flt.price_max is not None:
                m &= self.price[:n] <= flt.price_max
        if flt.self_operated is not None:
            m &= self.self_op[:n] == int(flt.self_operated)
        return m

    def to_arrays(self, n: int) -> dict[str, np.ndarray]:
        return {
            "product": self.product[:n],
            "cids": self.cids[:n],
            "price": self.price[:n],
            "self_op": self.self_op[:n],
            "vocab": np.array(json.dumps(self.vocab)),
        }

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], capacity: int) -> AttributeColumns:
        cols = cls(0)
        cols.vocab = json.loads(str(data["vocab"]))
        cols.product = data["product"].astype(np.int64)
        cols.cids = data["cids"].astype(np.int32)
        cols.price = data["price"].astype(np.float64)
        cols.self_op = data["self_op"].astype(np.int8)
        cols.resize(capacity)
        return cols
