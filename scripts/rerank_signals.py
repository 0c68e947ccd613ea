"""Dump the re-rank's signals of every query photo, to study score fusion offline.

    .venv/bin/python scripts/rerank_signals.py ../shared/eval/grocery/catalog.csv \
        ../shared/eval/grocery/queries-val.csv /tmp/fusion/val.npz [--limit N]

Builds the throw-away catalog exactly as `manage.py evaluate` does (catalog.memory.build_memory_searcher),
prepares each photo as `run_search` does, and saves, per query photo:
- `windows[q, w, p]`: cosine of each of the query's windows with each catalog picture's store vector
  (the store's score is the max over w);
- `views[q, v, p]`: the best cosine of the query's windows with each extra view v of picture p;
- `colour[q, p]`: the colour similarity (Bhattacharyya of the HSV histograms) with every picture;
- `pool[q, :depth]`: the store's top `rerank_depth` pictures (column indices), best first, and for them
  `inliers`, `mutual` (mutual ratio-test matches before RANSAC) and `homography` (1 if the inliers came
  from a plausible homography, 0 from the similarity fallback or none);
- `query_keypoints[q]`, `catalog_keypoints[p]`, `truth[q]` (column of the right picture), `cid1`;
- with `--vectors`, `query_vectors[q, w]` (float16, the query's window vectors), so that other catalog
  views (vision.catalog's view functions on the catalog pictures) can be scored offline on the same photos.
Nothing is fitted here: the file only lets formulas be compared on fixed signals.

    .venv/bin/python scripts/rerank_signals.py --score /tmp/fusion/val.npz

scores a dump with the engine's own fusion (vision.engine's constants), as a check that the signals
reproduce `evaluate` and as the starting point for other formulas.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision import geometry, local  # noqa: E402


def mutual_matches(query: local.LocalFeatures, catalog: list[local.LocalFeatures]) -> list[tuple[int, int, int]]:
    """local.verify's steps, keeping (mutual matches, inliers, homography?) per catalog picture."""
    out = []
    for (src, dst), cand in zip(local.mutual_matches(query, catalog), catalog, strict=True):
        if len(src) < 6:
            out.append((len(src), 0, 0))
            continue
        homography, inliers = geometry.find_homography(src, dst, local.RANSAC_PIXELS)
        if homography is not None and inliers is not None and local._plausible(homography, cand.shape, query.shape):
            out.append((len(src), int(inliers.sum()), 1))
            continue
        out.append((len(src), local.consistent_inliers(src, dst, cand.shape, query.shape), 0))
    return out


def engine_fusion(data: np.lib.npyio.NpzFile) -> np.ndarray:
    """(queries, depth) fused scores of the pool, as vision.engine.Engine.rerank computes them."""
    from vision import engine

    rows = np.arange(len(data["truth"]))[:, None]
    pool = data["pool"].astype(int)
    store = data["windows"].max(axis=1)[rows, pool]
    views = data["views"].max(axis=1)[rows, pool]
    n = data["inliers"].astype(int)
    best = np.maximum(n.max(axis=1, keepdims=True), 1)
    bonus = np.vectorize(engine.inlier_bonus)(n) + (n >= engine.MIN_INLIERS) * engine.RELATIVE_GAIN * n / best
    weight = np.vectorize(engine.colour_weight)(data["catalog_keypoints"][pool])
    return np.maximum(store, views) + weight * data["colour"][rows, pool] + bonus


def score(path: Path) -> None:
    with np.load(path) as data:
        fused = engine_fusion(data)
        hit = data["pool"] == data["truth"][:, None]
        truth = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
        mine = fused[np.arange(len(fused)), np.maximum(truth, 0)]
        later = np.arange(fused.shape[1])[None] < truth[:, None]  # stable order: ties keep the store's order
        rank = np.where(truth >= 0, 1 + (fused > mine[:, None]).sum(1) + ((fused == mine[:, None]) & later).sum(1), 99)
        cid1 = data["cid1"]
        print(f"{path}: pool R@{fused.shape[1]} {(truth >= 0).mean():.3f}", end="")
        for k in (1, 5, 10):
            print(f"  R@{k} {(rank <= k).mean():.3f}", end="")
        print("".join(f"  {g} R@1 {(rank[cid1 == g] <= 1).mean():.3f}" for g in sorted(set(cid1.tolist()))))


def main() -> None:
    import os

    if len(sys.argv) == 3 and sys.argv[1] == "--score":
        score(Path(sys.argv[2]))
        return

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "snapshop_site.settings")
    import django

    django.setup()
    from django.conf import settings

    from catalog.evaluation import read_queries, spread
    from catalog.memory import MemorySource, build_memory_searcher
    from catalog.rows import RowError, read_catalog
    from search.services import prepare_query_photo
    from vision.engine import Candidate, get_engine

    parser = argparse.ArgumentParser()
    parser.add_argument("catalog", type=Path)
    parser.add_argument("queries", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--check", action="store_true", help="also run engine.rerank and record its top picture")
    parser.add_argument("--vectors", action="store_true", help="also save the query window and store vectors")
    args = parser.parse_args()

    engine = get_engine(Path(settings.SNAPSHOP_MODEL_PATH))
    rows = [r for r in read_catalog(args.catalog) if not isinstance(r, RowError)]
    cid1_of = {r.sku_id: r.cid1 for r in rows}
    searcher, problems = build_memory_searcher(engine, args.catalog)
    for problem in problems:
        print("catalog:", problem, file=sys.stderr)
    source, store = searcher.source, searcher.store
    if not isinstance(source, MemorySource):
        raise TypeError("expected the evaluation's in-memory catalog")
    keys = sorted(source.info)
    column = {key: i for i, key in enumerate(keys)}
    skus = [source.info[k].hit.sku_id for k in keys]
    column_of_sku = {sku: i for i, sku in enumerate(skus)}
    parsed = [local.LocalFeatures.from_bytes(source.blobs[k]) for k in keys]
    view_stack = np.stack([p.views for p in parsed], axis=1)  # (views, pictures, dim)
    depth = engine.rerank_depth

    queries = spread(read_queries(args.queries), args.limit)
    n, w, v, m = len(queries), len(engine._windows), view_stack.shape[0], len(keys)
    windows = np.zeros((n, w, m), np.float32)
    views = np.zeros((n, v, m), np.float32)
    colour = np.zeros((n, m), np.float32)
    pool = np.zeros((n, depth), np.int16)
    inliers = np.zeros((n, depth), np.int16)
    mutual = np.zeros((n, depth), np.int16)
    homography = np.zeros((n, depth), np.int8)
    query_keypoints = np.zeros(n, np.int16)
    truth = np.zeros(n, np.int16)
    engine_top = np.full(n, -1, np.int16)
    query_vectors = np.zeros((n if args.vectors else 0, w, engine.dim), np.float16)
    started = time.perf_counter()
    for q, (path, sku) in enumerate(queries):
        photo = prepare_query_photo(path.read_bytes())
        query = engine.query_features(photo.image)
        for row, window_matches in enumerate(store.search(query.vectors, m, None)):  # every picture, per window
            for match in window_matches:
                windows[q, row, column[match.key]] = match.score
        if args.vectors:
            query_vectors[q] = query.vectors
        views[q] = (query.vectors @ view_stack.reshape(-1, view_stack.shape[2]).T).reshape(w, v, m).max(axis=0)
        matches = store.search_best(query.vectors, depth, None)  # as catalog.local_engine.LocalSearcher
        pool[q] = [column[mt.key] for mt in matches]
        qf = engine._query_local(query)
        colour[q] = [local.colour_similarity(qf.hist, p.hist) for p in parsed]
        found = mutual_matches(qf, [parsed[c] for c in pool[q]])
        mutual[q], inliers[q], homography[q] = (np.array(x) for x in zip(*found, strict=True))
        query_keypoints[q] = len(qf.points)
        truth[q] = column_of_sku.get(sku, -1)
        if args.check:
            ranked = engine.rerank(query, [Candidate(mt.key, mt.score, source.blobs[mt.key]) for mt in matches])
            engine_top[q] = column[ranked[0].key]
        if q % 100 == 99:
            print(f"{q + 1}/{n} {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        windows=windows,
        views=views,
        colour=colour,
        pool=pool,
        inliers=inliers,
        mutual=mutual,
        homography=homography,
        query_keypoints=query_keypoints,
        catalog_keypoints=np.array([len(p.points) for p in parsed], np.int16),
        truth=truth,
        engine_top=engine_top,
        skus=np.array(skus),
        cid1=np.array([cid1_of.get(sku, "") for _, sku in queries]),
        cid1_of_picture=np.array([cid1_of.get(s, "") for s in skus]),
        engine=np.array(engine.version),
        query_vectors=query_vectors,
    )
    print(f"{n} queries in {time.perf_counter() - started:.0f} s -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
