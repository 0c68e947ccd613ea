"""open_store(name, dim, ...): one place that turns settings into a Store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vectors.base import Store

STORE_NAMES = ("exact", "hnsw", "pgvector", "milvus")


def open_store(
    name: str,
    dim: int,
    *,
    index_dir: Path,
    dsn: str | None = None,
    milvus_uri: str | None = None,
    milvus_token: str = "",
    collection: str = "default",
    exact_below: int | None = None,
) -> Store:
    """Open (creating if needed) the store `name` in {exact, hnsw, pgvector, milvus}.

    exact/hnsw keep their files under `index_dir`; pgvector needs `dsn` (a
    libpq URI, e.g. DATABASE_URL) and milvus `milvus_uri` (with `milvus_token`,
    "user:password" or an API key, where the server asks for one). `collection` names
    the table / collection / sub-folder, so several catalogs can share a server.
    `exact_below`: catalogs (or filtered subsets) smaller than this are searched
    exactly; None keeps each store's default, 0 always uses the ANN index
    (Milvus decides this itself and ignores it).
    """
    extra = {} if exact_below is None else {"exact_below": exact_below}
    if name == "exact":
        from vectors.exact import ExactStore

        return ExactStore(dim, Path(index_dir) / f"{collection}.exact.npz")
    if name == "hnsw":
        from vectors.hnsw import HnswStore

        options: dict[str, Any] = {
            "ef_search": int(os.environ.get("SNAPSHOP_HNSW_EF", "64")),
            "mirror_dtype": os.environ.get("SNAPSHOP_HNSW_MIRROR", "float32"),  # float16 halves it
            # The graph walks a 256-d projection (fitted once the catalog reaches
            # exact_below rows); candidates are re-scored on the full vectors.
            "reduce_dim": int(os.environ.get("SNAPSHOP_HNSW_REDUCE", "256" if dim > 512 else "0")),
        }
        if exact_below is not None:
            options.update(exact_below=exact_below, exact_filtered_below=exact_below)
        return HnswStore(dim, Path(index_dir) / f"{collection}.hnsw", **options)
    if name == "pgvector":
        if not dsn:
            raise ValueError("the pgvector store needs a DSN (DATABASE_URL)")
        from vectors.pgvector import PgVectorStore

        return PgVectorStore(dim, dsn, table=f"snapshop_vec_{collection}", **extra)
    if name == "milvus":
        if not milvus_uri:
            raise ValueError("the milvus store needs MILVUS_URI")
        from vectors.milvus import MilvusStore

        return MilvusStore(dim, milvus_uri, collection=f"snapshop_{collection}", token=milvus_token)
    raise ValueError(f"unknown vector store {name!r}; choose from {', '.join(STORE_NAMES)}")
