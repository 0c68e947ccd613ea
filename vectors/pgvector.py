"""PostgreSQL + pgvector store: halfvec column, HNSW index, exact-level filters.

The store manages its own table (not a Django model), so any libpq URI works.
Searches first ask the planner how many rows pass (the whole table when
unfiltered). Fewer than `exact_below` (default 2000: a sequential scan of
1280-d halfvec rows is far slower per row than the index) are searched
exactly, the ORDER BY written so the HNSW index cannot serve it; more use an
iterative index scan (`hnsw.iterative_scan = relaxed_order`, results re-sorted), and if that
still returns fewer than k the exact query answers, so no hit is lost. A filter keeping a share s
of the rows puts its k-th best hit near rank k/s of the whole table, so a filtered scan's
hnsw.ef_search is 4k/s (at least ef_search, at most pgvector's 1000): at 1M rows and a 5 %
filter, 2x ef_search (400) found 0.94 of the exact hits, 800 found 0.965.

Bulk loads: `clear()` drops the HNSW index with the rows, and `save()` builds
it again over everything added since, in one CREATE INDEX with enough
maintenance_work_mem for the whole graph and `build_workers` parallel workers
(1M rows, 2 busy cores: 50 s of inserts and a 14-minute build, where adding
into a live graph took 310 s for the first 100k rows, slowing as it grew). Until
then searches are exact (sequential scans): right, only slow. A table that
was never cleared keeps its index and takes adds into it one by one.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import psycopg
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg import sql

from vectors.base import Attributes, Filter, Match, StoreUnavailable, best_per_key

MAX_EF_SEARCH = 1_000  # pgvector's limit for hnsw.ef_search
BUILD_MEMORY_CAP_MB = 8_192  # beyond it the graph goes on on disk: slower, not wrong
COLUMNS = ("key", "embedding", "product", "cid1", "cid2", "cid3", "price", "self_operated")


class PgVectorStore:
    def __init__(
        self,
        dim: int,
        dsn: str,
        *,
        table: str = "snapshop_vec_default",
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 200,
        exact_below: int = 2_000,
        build_workers: int = 1,
        build_memory_mb: int | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,50}", table):
            raise ValueError(f"bad table name {table!r}")
        self.dim, self.dsn, self.table = dim, dsn, table
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.exact_below = exact_below
        # CREATE INDEX: parallel workers beside the leader, and maintenance_work_mem (None: sized from the
        # row count, so the graph is built in memory; past it pgvector goes on on disk, many times slower).
        self.build_workers, self.build_memory_mb = build_workers, build_memory_mb
        self._index = sql.Identifier(f"{table}_hnsw")
        self._lock = threading.RLock()
        self._t = sql.Identifier(table)
        try:
            self._conn = psycopg.connect(dsn, autocommit=True)
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(self._conn)
            self._create()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {dsn!r}: {exc}") from exc

    def _create(self) -> None:
        t = self._t
        new = self._conn.execute("SELECT to_regclass(%s) IS NULL", (self.table,)).fetchone()
        self._conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (key bigint PRIMARY KEY,"
                " embedding halfvec({}) NOT NULL, product bigint NOT NULL,"
                " cid1 text NOT NULL DEFAULT '', cid2 text NOT NULL DEFAULT '',"
                " cid3 text NOT NULL DEFAULT '', price double precision, self_operated boolean)"
            ).format(t, sql.Literal(self.dim))
        )
        # 1280 halfvec = 2.5 kB: keep it in the row, not TOAST, or every exact scan detoasts.
        self._conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN embedding SET STORAGE PLAIN").format(t))
        row = self._conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'embedding'",
            (self.table,),
        ).fetchone()
        if row is None or int(row[0]) != self.dim:
            raise ValueError(f"table {self.table} holds vectors of dimension {row and row[0]}, not {self.dim}")
        if new and new[0]:
            self._build_index()
        for col in ("cid1", "cid2", "cid3", "price"):
            self._conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(f"{self.table}_{col}"), t, sql.Identifier(col)
                )
            )

    def has_index(self) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND c.relname = %s",
            (self.table, f"{self.table}_hnsw"),
        ).fetchone()
        return row is not None

    def _build_index(self) -> None:
        """CREATE INDEX over the rows there are, the graph in memory (see the module doc)."""
        if self.build_memory_mb is not None:
            memory_mb = self.build_memory_mb
        else:
            rows = self._conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone()
            # An element: its halfvec, 2m neighbours on layer 0 (more above), pgvector's bookkeeping;
            # +50 % for pgvector's own accounting, which counts its allocator's rounding.
            per_row = 2 * self.dim + 2 * self.m * 12 + 160
            memory_mb = min(BUILD_MEMORY_CAP_MB, int((rows[0] if rows else 0) * per_row * 1.5 / 2**20) + 64)
        with self._conn.transaction():
            self._conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(f"{memory_mb}MB")))
            self._conn.execute(
                sql.SQL("SET LOCAL max_parallel_maintenance_workers = {}").format(sql.Literal(self.build_workers))
            )
            self._conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding halfvec_ip_ops)"
                    " WITH (m = {}, ef_construction = {})"
                ).format(self._index, self._t, sql.Literal(self.m), sql.Literal(self.ef_construction))
            )

    def _run(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            try:
                return fn(*args)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL: {exc}") from exc

    # -- writes ------------------------------------------------------------
    def add(self, keys: Sequence[int], vectors: np.ndarray, attrs: Sequence[Attributes]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not (len(keys) == len(vectors) == len(attrs)):
            raise ValueError("keys, vectors and attrs differ in length")
        latest = {int(k): i for i, k in enumerate(keys)}
        self._run(self._add, latest, vectors.astype(np.float16), attrs)

    def _add(self, latest: dict[int, int], vectors: np.ndarray, attrs: Sequence[Attributes]) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:])
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TEMP TABLE _load (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(self._t))
            with cur.copy(sql.SQL("COPY _load ({}) FROM STDIN WITH (FORMAT BINARY)").format(cols)) as copy:
                copy.set_types(["int8", "halfvec", "int8", "text", "text", "text", "float8", "bool"])
                for key, i in latest.items():
                    a = attrs[i]
                    copy.write_row(
                        (key, HalfVector(vectors[i]), a.product, a.cid1, a.cid2, a.cid3, a.price, a.self_operated)
                    )
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM _load ON CONFLICT (key) DO UPDATE SET {}").format(
                    self._t, cols, cols, updates
                )
            )

    def delete(self, keys: Sequence[int]) -> None:
        self._run(
            self._conn.execute, sql.SQL("DELETE FROM {} WHERE key = ANY(%s)").format(self._t), ([int(k) for k in keys],)
        )

    def clear(self) -> None:
        """Remove every row and the HNSW index with them: what is added next is indexed in one build by save()."""

        def clear() -> None:
            with self._conn.transaction():
                self._conn.execute(sql.SQL("TRUNCATE {}").format(self._t))
                self._conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._index))

        self._run(clear)

    def drop(self) -> None:
        """Remove the table (and its indexes) altogether."""
        self._run(self._conn.execute, sql.SQL("DROP TABLE IF EXISTS {}").format(self._t))

    def close(self) -> None:
        self._conn.close()

    def save(self) -> None:
        """Rows are durable on commit. Builds the HNSW index if clear() dropped it, and refreshes the
        planner statistics for the filter estimates."""

        def save() -> None:
            if not self.has_index():
                self._build_index()
            self._conn.execute(sql.SQL("ANALYZE {}").format(self._t))

        self._run(save)

    # -- reads -------------------------------------------------------------
    def __len__(self) -> int:
        row = self._run(lambda: self._conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone())
        return int(row[0])

    def keys(self) -> set[int]:
        rows = self._run(lambda: self._conn.execute(sql.SQL("SELECT key FROM {}").format(self._t)).fetchall())
        return {int(r[0]) for r in rows}

    def attributes(self, key: int) -> Attributes | None:
        q = sql.SQL("SELECT product, cid1, cid2, cid3, price, self_operated FROM {} WHERE key = %s")
        row = self._run(lambda: self._conn.execute(q.format(self._t), (int(key),)).fetchone())
        return None if row is None else Attributes(*row)

    def export(self, batch: int = 10_000) -> Iterator[tuple[list[int], np.ndarray, list[Attributes]]]:
        conn = psycopg.connect(self.dsn)
        register_vector(conn)
        try:
            with conn.cursor(name="snapshop_export") as cur:
                cur.execute(
                    sql.SQL("SELECT {} FROM {} ORDER BY key").format(
                        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), self._t
                    )
                )
                while rows := cur.fetchmany(batch):
                    yield (
                        [int(r[0]) for r in rows],
                        np.stack([r[1].to_numpy() for r in rows]).astype(np.float32),
                        [Attributes(*r[2:]) for r in rows],
                    )
        finally:
            conn.close()

    def _where(self, flt: Filter | None) -> tuple[sql.Composable, list[Any]]:
        parts: list[sql.Composable] = []
        params: list[Any] = []
        if flt is not None:
            for col in ("cid1", "cid2", "cid3"):
                if getattr(flt, col) is not None:
                    parts.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
                    params.append(getattr(flt, col))
            if flt.price_min is not None:
                parts.append(sql.SQL("price >= %s"))
                params.append(flt.price_min)
            if flt.price_max is not None:
                parts.append(sql.SQL("price <= %s"))
                params.append(flt.price_max)
            if flt.self_operated is not None:
                parts.append(sql.SQL("self_operated = %s"))
                params.append(flt.self_operated)
        if not parts:
            return sql.SQL(""), []
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params

    def _estimate(self, where: sql.Composable, params: list[Any]) -> float:
        q = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}{}").format(self._t, where)
        row = self._conn.execute(q, params).fetchone()
        plan = json.loads(row[0]) if row and isinstance(row[0], str) else row[0] if row else None
        if not plan:
            return 0.0
        return float(plan[0]["Plan"]["Plan Rows"])

    def search(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[list[Match]]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        return self._run(self._search, queries, k, flt)

    def search_best(self, queries: np.ndarray, k: int, flt: Filter | None = None) -> list[Match]:
        return best_per_key(self.search(queries, k, flt), k)

    def _search(self, queries: np.ndarray, k: int, flt: Filter | None) -> list[list[Match]]:
        where, params = self._where(flt)
        passing = self._estimate(where, params)
        exact = passing < self.exact_below
        filtered = bool(params)
        ef = max(self.ef_search, k)
        if filtered and not exact:
            share = passing / max(self._estimate(sql.SQL(""), []), 1.0)
            ef = max(ef, math.ceil(4 * k / max(share, 1e-6)))
        ef = min(ef, MAX_EF_SEARCH)
        iterative = filtered or k > ef  # past ef, an index scan would stop short of k
        out = []
        for q in queries:
            hv = HalfVector(q.astype(np.float16))
            if exact:
                out.append(self._query(hv, k, where, params, exact=True))
                continue
            res = self._query(hv, k, where, params, exact=False, ef=ef, iterative=iterative)
            if filtered and len(res) < k:
                res = self._query(hv, k, where, params, exact=True)
            out.append(res)
        return out

    def _query(
        self,
        hv: HalfVector,
        k: int,
        where: sql.Composable,
        params: list[Any],
        *,
        exact: bool,
        ef: int = 0,
        iterative: bool = False,
    ) -> list[Match]:
        # "+ 0" hides the operator from the planner, so it cannot use (approximate) HNSW.
        order = sql.SQL("(embedding <#> %s) + 0" if exact else "embedding <#> %s")
        q = sql.SQL("SELECT key, (embedding <#> %s) FROM {}{} ORDER BY {} LIMIT %s").format(self._t, where, order)
        with self._conn.transaction():
            if ef:
                self._conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
            if iterative:
                self._conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = self._conn.execute(q, [hv, *params, hv, k]).fetchall()
        rows.sort(key=lambda r: (r[1], r[0]))  # relaxed order: re-sort by distance
        return [Match(int(key), float(-d)) for key, d in rows]
