"""One contract for every vector store: exact, hnsw, pgvector, milvus.

pgvector: a session fixture starts embedded PostgreSQL under .data/pg (or uses
SNAPSHOP_TEST_PG_DSN). Milvus: run under scripts/with_milvus.sh, which starts a
server in a private network namespace and sets MILVUS_URI. A store whose
server cannot start is skipped with the reason, unless SNAPSHOP_REQUIRE_STORES=1
(CI), which turns that into a failure.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vectors.base import Attributes, Filter, Store, best_per_key
from vectors.copy import copy_store
from vectors.exact import ExactStore
from vectors.factory import open_store
from vectors.hnsw import HnswStore

DIM = 32
N = 400
K = 10
_names = itertools.count()


def _unavailable(reason: str) -> None:
    if os.environ.get("SNAPSHOP_REQUIRE_STORES") == "1":
        pytest.fail(f"required store unavailable: {reason}")
    print(f"SKIP: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    dsn = os.environ.get("SNAPSHOP_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    from vectors.servers import release_postgres, start_postgres

    try:
        dsn = start_postgres()
    except RuntimeError as exc:
        _unavailable(f"pgvector: {exc}")
        raise
    yield dsn
    release_postgres()


@pytest.fixture(scope="session")
def milvus_uri() -> str:
    uri = os.environ.get("MILVUS_URI")
    if not uri:
        why = os.environ.get("SNAPSHOP_MILVUS_ERROR", "MILVUS_URI unset: run under scripts/with_milvus.sh")
        _unavailable(f"milvus: {why}")
    return str(uri)


KINDS = ["exact", "hnsw", "hnsw-small", "hnsw-pca", "pgvector", "milvus"]

Opener = Callable[[], Store]


def _opener(request: pytest.FixtureRequest, kind: str, folder: Path) -> tuple[Opener, list[Store]]:
    name, dsn, uri = f"t{os.getpid()}_{next(_names)}", None, None
    if kind == "pgvector":
        dsn = request.getfixturevalue("pg_dsn")
    elif kind == "milvus":
        uri = request.getfixturevalue("milvus_uri")
    # "hnsw"/"pgvector": exact_below=0 so the ANN paths are the ones tested;
    # "hnsw-small": the default, a small catalog answered by exact search.
    exact_below = None if kind in ("exact", "hnsw-small") else 0
    opened: list[Store] = []

    def make() -> Store:
        if kind == "hnsw-pca":  # graph over a 16-d projection, candidates re-scored
            store: Store = HnswStore(DIM, folder / name, exact_below=0, exact_filtered_below=0, reduce_dim=16)
            opened.append(store)
            return store
        store = open_store(
            kind.split("-")[0], DIM, index_dir=folder, dsn=dsn, milvus_uri=uri, collection=name, exact_below=exact_below
        )
        opened.append(store)
        return store

    return make, opened


def _dispose(opened: list[Store]) -> None:
    if opened and hasattr(opened[-1], "drop"):
        opened[-1].drop()
    for store in opened:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture(params=KINDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    make, opened = _opener(request, request.param, tmp_path)
    yield make
    _dispose(opened)


@pytest.fixture(scope="module", params=KINDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, ExactStore, np.ndarray]]:
    """A filled store for the read-only tests (one fill per store and module)."""
    make, opened = _opener(request, request.param, tmp_path_factory.mktemp("shared"))
    yield _filled(make)
    _dispose(opened)


def _data(n: int = N, seed: int = 0) -> tuple[np.ndarray, list[Attributes]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, DIM))
    v = centres[rng.integers(0, 8, n)] + 0.6 * rng.standard_normal((n, DIM))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    attrs = [
        Attributes(
            product=1000 + i,
            cid1=["家用电器", "服饰", "数码"][i % 3],
            cid2=f"c2-{i % 5}",
            cid3=f"c3-{i % 11}",
            price=None if i % 9 == 0 else float(i % 100),
            self_operated=None if i % 13 == 0 else i % 2 == 0,
        )
        for i in range(n)
    ]
    return v, attrs


def _filled(opener: Opener) -> tuple[Store, ExactStore, np.ndarray]:
    v, attrs = _data()
    store, ref = opener(), ExactStore(DIM)
    for s in (store, ref):
        s.add(list(range(200)), v[:200], attrs[:200])
        s.add(list(range(200, N)), v[200:], attrs[200:])
    store.save()
    return store, ref, v


def _queries(v: np.ndarray, count: int = 12) -> np.ndarray:
    rng = np.random.default_rng(5)
    q = v[rng.integers(0, len(v), count)] + 0.3 * rng.standard_normal((count, DIM))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def _agree(store: Store, ref: ExactStore, q: np.ndarray, flt: Filter | None = None) -> None:
    """Same hits as exact search (>= 95 %), best first, true cosine scores, within the filter."""
    got, want = store.search(q, K, flt), ref.search(q, K, flt)
    overlap = 0
    for row, g, w in zip(q, got, want, strict=True):
        assert len(g) == len(w), "a filtered search must not silently return fewer hits"
        scores = [m.score for m in g]
        assert scores == sorted(scores, reverse=True), "best first"
        if flt is not None:
            assert all(flt.matches(ref.attributes(m.key) or Attributes(product=-1)) for m in g)
        exact = {m.key: m.score for m in ref.search(row[None, :], N)[0]}
        assert all(abs(m.score - exact[m.key]) < 5e-3 for m in g)  # halfvec: ~3 digits
        overlap += len({m.key for m in g} & {m.key for m in w})
    assert overlap >= 0.95 * sum(len(w) for w in want)


def test_top_k_order_matches_exact(shared: tuple[Store, ExactStore, np.ndarray]) -> None:
    store, ref, v = shared
    assert len(store) == N and store.keys() == set(range(N))
    _agree(store, ref, _queries(v))
    first = store.search(v[17:18], 1)[0]
    assert first[0].key == 17 and first[0].score == pytest.approx(1.0, abs=2e-3)
    assert store.search(v[:1], 0) == [[]]


@pytest.mark.parametrize(
    "flt",
    [
        Filter(cid1="服饰"),
        Filter(cid2="c2-3"),
        Filter(cid1="数码", cid3="c3-4"),
        Filter(price_min=20.0, price_max=35.5),
        Filter(price_max=5.0),
        Filter(self_operated=True),
        Filter(self_operated=False, price_min=50.0),
        Filter(cid1="数码", cid2="c2-1", cid3="c3-7", self_operated=True),  # ~3 rows
        Filter(cid1="no such category"),
    ],
    ids=repr,
)
def test_filters_are_exact(shared: tuple[Store, ExactStore, np.ndarray], flt: Filter) -> None:
    store, ref, v = shared
    _agree(store, ref, _queries(v, 6), flt)


@pytest.mark.parametrize("flt", [None, Filter(cid1="服饰"), Filter(cid1="数码", cid2="c2-1", cid3="c3-7")], ids=repr)
def test_search_best_is_the_merged_search(shared: tuple[Store, ExactStore, np.ndarray], flt: Filter | None) -> None:
    """A photo's several vectors: each key once with its best score over them, as merging the rows would."""
    store, ref, v = shared
    q = _queries(v, 5)
    best = store.search_best(q, K, flt)
    merged = best_per_key(store.search(q, K, flt), K)
    assert [m.key for m in best] == [m.key for m in merged]
    assert [m.score for m in best] == pytest.approx([m.score for m in merged], abs=1e-6)
    exact = best_per_key(ref.search(q, N, flt), K)
    assert len(best) == len(exact) and len({m.key for m in best} & {m.key for m in exact}) >= 0.95 * len(exact)
    if flt is not None:
        assert all(flt.matches(ref.attributes(m.key) or Attributes(product=-1)) for m in best)
    assert store.search_best(q, 0, flt) == []


def test_update_replaces_vector_and_attributes(opener: Opener) -> None:
    store, ref, v = _filled(opener)
    moved = Attributes(product=77, cid1="新类目", price=12.5, self_operated=True)
    store.add([5], v[300:301], [moved])
    ref.add([5], v[300:301], [moved])
    store.save()
    assert len(store) == N
    top = {m.key for m in store.search(v[300:301], 2)[0]}
    assert top == {5, 300}
    assert [m.key for m in store.search(v[300:301], K, Filter(cid1="新类目"))[0]] == [5]
    assert 5 not in {m.key for m in store.search(v[5:6], N, Filter(cid1=_data()[1][5].cid1))[0]}
    _agree(store, ref, _queries(v))


def test_delete_and_re_add(opener: Opener) -> None:
    store, ref, v = _filled(opener)
    gone = list(range(0, N, 4))
    store.delete(gone + [10**9])  # unknown keys are ignored
    ref.delete(gone)
    store.save()
    assert len(store) == N - len(gone) and store.keys() == ref.keys()
    for res in store.search(v[gone[:5]], K):
        assert not {m.key for m in res} & set(gone)
    _agree(store, ref, _queries(v))
    _agree(store, ref, _queries(v, 4), Filter(cid1="服饰", price_min=10.0))
    _, attrs = _data()
    store.add([0, 4], v[[0, 4]], [attrs[0], attrs[4]])
    ref.add([0, 4], v[[0, 4]], [attrs[0], attrs[4]])
    assert store.search(v[4:5], 1)[0][0].key == 4 and len(store) == len(ref)


def test_persists_across_reopen(opener: Opener) -> None:
    store, ref, v = _filled(opener)
    store.delete([1, 2, 3])
    ref.delete([1, 2, 3])
    store.save()
    q = _queries(v)
    before = [[m.key for m in r] for r in store.search(q, K)]
    again = opener()
    assert again.keys() == ref.keys() and len(again) == N - 3
    assert [[m.key for m in r] for r in again.search(q, K)] == before
    _agree(again, ref, q, Filter(cid2="c2-2"))
    again.add([1], v[1:2], [_data()[1][1]])  # still writable after reopening
    assert again.search(v[1:2], 1)[0][0].key == 1


def test_clear(opener: Opener) -> None:
    store, _, v = _filled(opener)
    store.clear()
    assert len(store) == 0 and store.keys() == set()
    assert store.search(v[:2], K) == [[], []]


def test_copy_store_round_trip(opener: Opener) -> None:
    v, attrs = _data()
    ref = ExactStore(DIM)
    ref.add(list(range(N)), v, attrs)
    store = opener()
    seen: list[int] = []
    assert copy_store(ref, store, batch=150, progress=lambda done, _total: seen.append(done)) == N
    assert seen[-1] == N and store.keys() == set(range(N))
    back = ExactStore(DIM)
    copy_store(store, back, batch=150)
    assert back.keys() == set(range(N))
    for key in (0, 9, 13, 399):
        assert back.attributes(key) == attrs[key]
    got = back.search(v[:5], 1)
    assert [r[0].key for r in got] == [0, 1, 2, 3, 4]


def test_pgvector_bulk_load_indexes_on_save(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """clear() drops the HNSW index, rows added after it are searched exactly (no index yet) and
    save() builds the index over all of them at once; the same hits before and after."""
    from vectors.pgvector import PgVectorStore

    make, opened = _opener(request, "pgvector", tmp_path)
    try:
        store = make()
        assert isinstance(store, PgVectorStore) and store.has_index()
        store.clear()
        assert not store.has_index()
        v, attrs = _data()
        ref = ExactStore(DIM)
        for s in (store, ref):
            s.add(list(range(N)), v, attrs)
        q = _queries(v)
        _agree(store, ref, q)
        _agree(store, ref, q, Filter(cid1="服饰", price_min=10.0))
        store.save()
        assert store.has_index()
        _agree(store, ref, q)
        _agree(store, ref, q, Filter(cid1="服饰", price_min=10.0))
        store.add([N], v[:1], [attrs[0]])  # later adds go into the built index
        assert {m.key for m in store.search(v[:1], 2)[0]} == {0, N}
    finally:
        _dispose(opened)


def test_milvus_save_returns_once_the_index_serves(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Milvus serves a freshly flushed segment through a rough interim index until its HNSW index is
    built and loaded; save() waits for that, so the searches after it are the indexed ones."""
    from vectors.milvus import MilvusStore

    make, opened = _opener(request, "milvus", tmp_path)
    try:
        store = make()
        assert isinstance(store, MilvusStore)
        rng = np.random.default_rng(3)
        n = 3 * store.index_min_rows  # large enough for Milvus to index the segment
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        store.add(list(range(n)), v, [Attributes(product=i) for i in range(n)])
        store.save()
        loaded = store._client.list_loaded_segments(store.collection)
        assert sum(s.num_rows for s in loaded) == n
        assert [(s.state_name, s.index_name) for s in loaded] == [("Sealed", "embedding")] * len(loaded)
    finally:
        _dispose(opened)


def test_milvus_token_reaches_the_server(milvus_uri: str, tmp_path: Path) -> None:
    """MILVUS_TOKEN's path to pymilvus: the test server does not check credentials, so Milvus's
    default root ones must be accepted and the store must work as without them."""
    store = open_store(
        "milvus",
        DIM,
        index_dir=tmp_path,
        milvus_uri=milvus_uri,
        milvus_token="root:Milvus",
        collection=f"tok{os.getpid()}",
    )
    try:
        v, attrs = _data(20)
        store.add(list(range(20)), v, attrs)
        assert [m.key for m in store.search(v[:1], 1)[0]] == [0]
    finally:
        store.drop()  # type: ignore[attr-defined]
        store.close()  # type: ignore[attr-defined]
