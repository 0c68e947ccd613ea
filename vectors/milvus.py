"""Milvus store (pymilvus MilvusClient): for catalogs past one machine.

The same code talks to a standalone server or a cluster: only the URI (and a
token for an authenticated cluster) differ. The first read after opening the
store or after its own write uses consistency_level="Strong" (otherwise a
search right after an insert may not see it); other reads use "Bounded",
because a Strong read waits for Milvus's time tick, ~200 ms a search here
(measured at 10k: Strong p50 200 ms). Filters are boolean expressions evaluated inside Milvus before the
HNSW walk (a bitset), so a filtered search returns the best k within the
filter; Milvus switches to brute force itself when the filter is selective.

At 1M rows (1280-d, milvus 2.3.5 standalone, 2 cores, 2026-11-27, quiet
machine) the index is HNSW M=16, efConstruction=100 per segment: p50 6.4 ms,
p99 16.7 ms, recall@10 0.9925 (filtered 1.0) at ef 64; built in 28.2 min
(7.9 min of inserts, 20.3 min until every segment was indexed and served).
That needs the server's segments sealed at 3 GB (scripts/with_milvus.sh; a
cluster takes the same keys in milvus.yaml): with the defaults 1M rows land
in ~8 segments, each searched on its own and most indexed twice (compaction):
29.5-31.4 min of build for p50 13.7-15.2 ms on the machine before (another
CPU). save() waits until the query node serves the index: until then it
searched through an interim index (p50 50 ms). See the README's "Speed".
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from vectors.base import Attributes, Filter, Match, StoreUnavailable, best_per_key

STRONG = "Strong"
FIELDS = ["key", "product", "cid1", "cid2", "cid3", "price", "has_price", "self_op"]


def _lit(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


class MilvusStore:
    def __init__(
        self,
        dim: int,
        uri: str,
        *,
        collection: str = "snapshop_default",
        token: str = "",
        m: int = 16,
        ef_construction: int = 100,
        ef_search: int = 64,
        timeout: float = 30.0,
        read_consistency: str = "Bounded",
        index_wait: float = 3600.0,
        index_min_rows: int = 1024,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", collection):
            raise ValueError(f"bad collection name {collection!r}")
        self.dim, self.uri, self.collection = dim, uri, collection
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.timeout = timeout
        self.read_consistency = read_consistency
        self.index_wait = index_wait  # save() waits this long (s) for the index to cover what was added
        self.index_min_rows = index_min_rows  # the server's indexCoord.segment.minSegmentNumRowsToEnableIndex
        self._strong_next = True  # the first read after opening, or after our own write
        self._lock = threading.RLock()
        try:
            self._client = MilvusClient(uri=uri, token=token, timeout=timeout)
            self._ensure()
        except MilvusException as exc:
            raise StoreUnavailable(f"Milvus at {uri}: {exc}") from exc

    def _ensure(self) -> None:
        c = self._client
        if c.has_collection(self.collection):
            for field in c.describe_collection(self.collection)["fields"]:
                if field["name"] == "embedding" and int(field["params"]["dim"]) != self.dim:
                    raise ValueError(f"{self.collection} holds dimension {field['params']['dim']}")
        else:
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.INT64, is_primary=True)
            schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=self.dim)
            schema.add_field("product", DataType.INT64)
            for name in ("cid1", "cid2", "cid3"):
                schema.add_field(name, DataType.VARCHAR, max_length=512)
            schema.add_field("price", DataType.DOUBLE)
            schema.add_field("has_price", DataType.BOOL)
            schema.add_field("self_op", DataType.INT8)  # -1 unknown, 0 no, 1 yes
            index = MilvusClient.prepare_index_params()
            index.add_index(
                field_name="embedding",
                index_type="HNSW",
                metric_type="IP",
                params={"M": self.m, "efConstruction": self.ef_construction},
            )
            c.create_collection(self.collection, schema=schema, index_params=index, consistency_level=STRONG)
        c.load_collection(self.collection)

    def _level(self) -> str:
        """Strong right after this client wrote (or opened): a Strong read waits for
        Milvus's time tick (~200 ms a search), so other reads are Bounded (staleness
        of a few seconds for writes made by *other* clients)."""
        level, self._strong_next = (STRONG if self._strong_next else self.read_consistency), False
        return level

    def _wrote(self) -> None:
        self._strong_next = True

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return fn(*args, **kwargs)
            except MilvusException as exc:
                raise StoreUnavailable(f"Milvus: {exc}") from exc

    # -- writes ------------------------------------------------------------
    def add(self, keys: Sequence[int], vectors: np.ndarray, attrs: Sequence[Attributes]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not (len(keys) == len(vectors) == len(attrs)):
            raise ValueError("keys, vectors and attrs differ in length")
        latest = {int(k): i for i, k in enumerate(keys)}
        rows = []
        for key, i in latest.items():
            a = attrs[i]
            rows.append(
                {
                    "key": key,
                    "embedding": vectors[i].tolist(),
                    "product": int(a.product),
                    "cid1": a.cid1,
                    "cid2": a.cid2,
                    "cid3": a.cid3,
                    "price": 0.0 if a.price is None else float(a.price),
                    "has_price": a.price is not None,
                    "self_op": -1 if a.self_operated is None else int(a.self_operated),
                }
            )
        with self._lock:
            # Replace = delete the keys already there, then insert. Not upsert: Milvus 2.3 turns every
            # upserted row into a delete record too, even for a new key, and a segment whose delete
            # records pass 20 % of its rows is compacted and indexed again (a bulk load twice over).
            present = self._present(list(latest))
            if present:
                self._run(self._client.delete, self.collection, ids=sorted(present))
            for start in range(0, len(rows), 2000):  # stay under the gRPC message limit
                self._run(self._client.insert, self.collection, rows[start : start + 2000])
            self._wrote()

    def _present(self, keys: list[int], batch: int = 8_192) -> set[int]:
        """Which of `keys` the collection holds (Strong: this or another client may just have written them)."""
        found: set[int] = set()
        for start in range(0, len(keys), batch):
            rows = self._run(
                self._client.query,
                self.collection,
                ids=keys[start : start + batch],
                output_fields=["key"],
                consistency_level=STRONG,
            )
            found.update(int(r["key"]) for r in rows)
        return found

    def delete(self, keys: Sequence[int]) -> None:
        if keys:
            self._run(self._client.delete, self.collection, ids=[int(k) for k in keys])
            self._wrote()

    def clear(self) -> None:
        with self._lock:
            self._run(self._client.drop_collection, self.collection)
            self._run(self._ensure)
        self._wrote()

    def drop(self) -> None:
        self._run(self._client.drop_collection, self.collection)

    def close(self) -> None:
        self._client.close()

    def save(self) -> None:
        """Writes are durable once acknowledged; flush seals segments so they get indexed, and save
        returns once Milvus has built the index over them and the query node serves it (at most
        `index_wait` seconds). Until then searches go on, right but slow: a segment is searched by
        brute force or through a rough interim index (at 1M rows: p50 50 ms, recall 0.97)."""
        self._run(self._client.flush, self.collection)
        deadline = time.monotonic() + self.index_wait
        # Each check takes the lock for its call only, so searches are not held up by the wait.
        while not (self._indexed() and self._serving_indexed()) and time.monotonic() < deadline:
            time.sleep(1.0)

    def _indexed(self) -> bool:
        info = self._run(self._client.describe_index, self.collection, "embedding")
        return int(info.get("pending_index_rows", 0)) == 0 and int(info["indexed_rows"]) >= int(info["total_rows"])

    def _serving_indexed(self) -> bool:
        """The query node has loaded every flushed segment big enough to be indexed (Milvus's
        minSegmentNumRowsToEnableIndex) with its HNSW index. It loads a segment before its index is
        built and swaps the indexed copy in later, up to ~20 s after the index is done; a small
        segment (a few edits) never gets an index and is not waited for."""
        loaded = {s.segment_id: s for s in self._run(self._client.list_loaded_segments, self.collection)}
        for segment in self._run(self._client.list_persistent_segments, self.collection):
            if segment.num_rows >= self.index_min_rows:
                serving = loaded.get(segment.segment_id)
                if serving is None or not serving.index_name:
                    return False
        return True

    # -- reads -------------------------------------------------------------
    def __len__(self) -> int:
        rows = self._run(
            self._client.query, self.collection, filter="", output_fields=["count(*)"], consistency_level=self._level()
        )
        return int(rows[0]["count(*)"])

    def _iterate(self, fields: list[str], batch: int) -> Iterator[list[dict[str, Any]]]:
        it = self._client.query_iterator(
            self.collection,
            batch_size=batch,
            filter="key >= 0 or key < 0",
            output_fields=fields,
            consistency_level=self._level(),
        )
        try:
            while rows := it.next():
                yield rows
        finally:
            it.close()

    def keys(self) -> set[int]:
        with self._lock:
            return {int(r["key"]) for rows in self._iterate(["key"], 10_000) for r in rows}

    @staticmethod
    def _attrs(r: dict[str, Any]) -> Attributes:
        so = int(r["self_op"])
        return Attributes(
            product=int(r["product"]),
            cid1=r["cid1"],
            cid2=r["cid2"],
            cid3=r["cid3"],
            price=float(r["price"]) if r["has_price"] else None,
            self_operated=None if so < 0 else bool(so),
        )

    def attributes(self, key: int) -> Attributes | None:
        rows = self._run(
            self._client.query, self.collection, ids=[int(key)], output_fields=FIELDS, consistency_level=self._level()
        )
        return self._attrs(rows[0]) if rows else None

    def export(self, batch: int = 2_000) -> Iterator[tuple[list[int], np.ndarray, list[Attributes]]]:
        for rows in self._iterate([*FIELDS, "embedding"], batch):
            yield (
                [int(r["key"]) for r in rows],
                np.asarray([r["embedding"] for r in rows], dtype=np.float32),
                [self._attrs(r) for r in rows],
            )

    @staticmethod
    def expression(flt: Filter | None) -> str:
        if flt is None:
            return ""
        parts = [
            f"{col} == {_lit(getattr(flt, col))}" for col in ("cid1", "cid2", "cid3") if getattr(flt, col) is not None
        ]
        if flt.price_min is not None or flt.price_max is not None:
            parts.append("has_price == true")
        if flt.price_min is not None:
            parts.append(f"price >= {float(flt.price_min)!r}")
        if flt.price_max is not None:
            parts.append(f"price <= {float(flt.price_max)!r}")
        if flt.self_operated is not None:
            parts.append(f"self_op == {int(flt.self_operated)}")
        return " and ".join(parts)

    def search(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[list[Match]]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if k <= 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        hits = self._run(
            self._client.search,
            self.collection,
            data=queries.tolist(),
            limit=k,
            filter=self.expression(flt),
            anns_field="embedding",
            output_fields=[],
            search_params={"metric_type": "IP", "params": {"ef": max(self.ef_search, k)}},
            consistency_level=self._level(),
        )
        out = []
        for row in hits:
            matches = [Match(int(h["id"]), float(h["distance"])) for h in row]
            matches.sort(key=lambda m: (-m.score, m.key))
            out.append(matches)
        return out

    def search_best(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[Match]:
        return best_per_key(self.search(queries, k, flt), k)
