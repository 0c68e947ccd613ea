"""Move a catalog's vectors from one store to another, in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from vectors.base import Attributes, Store
from vectors.exact import ExactStore

Batch = tuple[list[int], np.ndarray, list[Attributes]]


def iter_items(store: Store, batch: int = 5_000) -> Iterator[Batch]:
    """Every (keys, vectors, attrs) of `store`, `batch` at a time."""
    export = getattr(store, "export", None)
    if export is not None:
        yield from export(batch)
        return
    if isinstance(store, ExactStore):  # the contract's reference store has no export()
        keys = sorted(store.keys())
        for start in range(0, len(keys), batch):
            part = keys[start : start + batch]
            hits = [(k, store.attributes(k)) for k in part]
            rows = [store._row[k] for k in part]
            yield part, store._vectors[rows].copy(), [a for _, a in hits if a is not None]
        return
    raise TypeError(f"{type(store).__name__} cannot list its items")


def copy_store(
    src: Store,
    dst: Store,
    batch: int = 5_000,
    progress: Callable[[int, int], None] | None = None,
    *,
    clear: bool = True,
) -> int:
    """Copy every item of `src` into `dst` (emptied first unless clear=False).

    progress(done, total) is called after each batch (e.g. a tqdm's update).
    Returns the number of items copied; dst is saved at the end.
    """
    if src.dim != dst.dim:
        raise ValueError(f"dimension {src.dim} cannot go into a store of dimension {dst.dim}")
    total = len(src)
    if clear:
        dst.clear()
    done = 0
    for keys, vectors, attrs in iter_items(src, batch):
        dst.add(keys, vectors, attrs)
        done += len(keys)
        if progress is not None:
            progress(done, total)
    dst.save()
    return done
