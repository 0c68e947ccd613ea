"""Research harness for the retrieval engine: the exact search path, measured.

    .venv/bin/python scripts/eval_vision.py --split val [--step 4] [--model models/efficientnet_lite2_380.onnx]

It drives vision.engine.Engine end to end, the way the search service does: catalog
features into an ExactStore, per-key max over the query's vectors, the top
`rerank_depth` candidates re-ranked with their extras. Prints recall@1/5/10, MRR
(overall and per cid1) and per-query latency (decode + features + search + rerank).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vectors.base import Attributes  # noqa: E402
from vectors.exact import ExactStore  # noqa: E402
from vision import catalog as catalog_module  # noqa: E402
from vision import engine as engine_module  # noqa: E402
from vision import local  # noqa: E402
from vision.engine import Candidate, Engine  # noqa: E402
from vision.model import FeatureNet  # noqa: E402
from vision.prepare import prepare_image  # noqa: E402

DATA = Path("/work/shared/eval/grocery")


def search(
    engine: Engine, store: ExactStore, extras: dict[int, bytes], data: bytes, rerank: bool
) -> tuple[list[int], float]:
    """Keys best first and the top final score."""
    image = prepare_image(data).image
    query = engine.query_features(image)
    best: dict[int, float] = {}
    for row in store.search(query.vectors, len(store)):
        for match in row:
            best[match.key] = max(best.get(match.key, -1.0), match.score)
    ranked = sorted(best, key=lambda key: -best[key])
    if not rerank or engine.rerank_depth <= 0:
        return ranked, best[ranked[0]]
    depth = engine.rerank_depth
    top = engine.rerank(query, [Candidate(key, best[key], extras[key]) for key in ranked[:depth]])
    return [c.key for c in top] + ranked[depth:], top[0].score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="val")
    parser.add_argument("--step", type=int, default=1, help="every n-th query only")
    parser.add_argument("--model", type=Path, default=ROOT / "models/efficientnet_lite2_380.onnx")
    parser.add_argument("--no-rerank", action="store_true")
    parser.add_argument("--verify-depth", type=int, default=None)
    parser.add_argument("--query-sift-side", type=int, default=None)
    parser.add_argument("--query-keypoints", type=int, default=None)
    parser.add_argument("--colour-weight", type=float, default=None)
    parser.add_argument("--min-inliers", type=int, default=None)
    parser.add_argument("--no-similarity-fallback", action="store_true", help="homography-only SIFT check")
    parser.add_argument(
        "--catalog-views", action="store_true", help="add vision.catalog.catalog_views to extras that lack them"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    engine = Engine(FeatureNet(args.model))
    if args.colour_weight is not None:
        engine_module.COLOUR_WEIGHT = args.colour_weight
    if args.query_sift_side is not None:
        local.QUERY_SIFT_SIDE = args.query_sift_side
    if args.query_keypoints is not None:
        local.QUERY_KEYPOINTS = args.query_keypoints
    if args.min_inliers is not None:
        engine_module.MIN_INLIERS = args.min_inliers
    if args.no_similarity_fallback:
        local.SIMILARITY_FALLBACK = False
    if args.verify_depth is not None:
        engine.verify_depth = args.verify_depth
    with open(DATA / "catalog.csv", encoding="utf-8") as fh:
        catalog = list(csv.DictReader(fh))
    cid1 = {int(r["skuId"]): r["cid1Name"] for r in catalog}
    images = [prepare_image((DATA / r["imageUrl"]).read_bytes()).image for r in catalog]
    t0 = time.perf_counter()
    feats = engine.catalog_features(images)
    if args.catalog_views:  # catalog.catalog_extras stores these views now; kept to compare older blobs
        products = [catalog_module.product_crop(image) for image in images]
        for feat, views in zip(feats, catalog_module.catalog_views(engine.net, products), strict=True):
            blob = local.LocalFeatures.from_bytes(feat.extras)
            blob.views = views
            feat.extras = blob.to_bytes()
    print(
        f"catalog: {len(feats)} pictures in {time.perf_counter() - t0:.1f}s, "
        f"extras {np.mean([len(f.extras) for f in feats]) / 1024:.1f} KB avg",
        file=sys.stderr,
    )
    keys = [int(r["skuId"]) for r in catalog]
    store = ExactStore(engine.dim)
    store.add(keys, np.stack([f.vector for f in feats]), [Attributes(product=k, cid1=cid1[k]) for k in keys])
    extras = {k: f.extras for k, f in zip(keys, feats, strict=True)}

    with open(DATA / f"queries-{args.split}.csv", encoding="utf-8") as fh:
        queries = list(csv.DictReader(fh))[:: args.step]
    ranks, times, groups, tops = [], [], [], []
    for i, row in enumerate(queries):
        data = (DATA / row["imageUrl"]).read_bytes()
        start = time.perf_counter()
        ranked, top_score = search(engine, store, extras, data, not args.no_rerank)
        tops.append(top_score)
        times.append((time.perf_counter() - start) * 1000)
        truth = int(row["skuId"])
        ranks.append(ranked.index(truth) if truth in ranked else len(ranked))
        groups.append(cid1[truth])
        if i % 50 == 0:
            print(f"{i}/{len(queries)} r1 so far {np.mean(np.array(ranks) < 1):.3f}", file=sys.stderr)

    ranks_a, groups_a = np.array(ranks), np.array(groups)

    def metrics(mask: np.ndarray) -> dict[str, float]:
        r = ranks_a[mask]
        return {
            "n": int(mask.sum()),
            "r1": round(float(np.mean(r < 1)), 3),
            "r5": round(float(np.mean(r < 5)), 3),
            "r10": round(float(np.mean(r < 10)), 3),
            "mrr": round(float(np.mean(1.0 / (r + 1))), 3),
        }

    result: dict[str, object] = dict(metrics(np.ones(len(ranks_a), dtype=bool)))
    result["p50_ms"] = round(float(np.median(times)), 1)
    result["p95_ms"] = round(float(np.percentile(times, 95)), 1)
    result["per_cid1"] = {g: metrics(groups_a == g) for g in sorted(set(groups))}
    result["engine"] = engine.version
    hit, scores = ranks_a == 0, np.array(tops)
    result["top1_score_quartiles"] = {
        "right": [round(float(x), 3) for x in np.percentile(scores[hit], [25, 50, 75])] if hit.any() else [],
        "wrong": [round(float(x), 3) for x in np.percentile(scores[~hit], [25, 50, 75])] if (~hit).any() else [],
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
