"""The int8 model (`make model`): tagged in the engine version, close to the float model where this
processor computes int8 exactly (the only place it is the default), batch-independent."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision import catalog, regions
from vision.cpu import int8_is_exact
from vision.engine import Engine
from vision.model import FeatureNet

ROOT = Path(__file__).resolve().parent.parent
FLOAT = ROOT / "models/efficientnet_lite2_380.onnx"
INT8 = ROOT / "models/efficientnet_lite2_380_int8.onnx"
GROCERY = ROOT.parent / "shared" / "eval" / "grocery"


@pytest.fixture(scope="module")
def nets() -> tuple[FeatureNet, FeatureNet]:
    if not (FLOAT.is_file() and INT8.is_file()):
        pytest.skip("models/efficientnet_lite2_380{,_int8}.onnx not exported (run `make model`)")
    return FeatureNet(FLOAT), FeatureNet(INT8)


@pytest.fixture(scope="module")
def views() -> np.ndarray:
    """Network inputs the way the engine makes them: catalog products on white, whole pictures squashed."""
    if (GROCERY / "catalog.csv").is_file():
        with (GROCERY / "catalog.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))[::10][:8]
        images = [Image.open(GROCERY / r["imageUrl"]).convert("RGB") for r in rows]
    else:
        rng = np.random.default_rng(0)
        images = [Image.fromarray(rng.integers(0, 256, (200, 160, 3), dtype=np.uint8)) for _ in range(8)]
    out = []
    for image in images:
        out.append(regions.on_white(catalog.product_crop(image), 380, 0.25))
        out.append(np.asarray(image.resize((380, 380), Image.Resampling.BILINEAR)))
    return np.stack(out)


def test_the_int8_file_changes_the_engine_version(nets: tuple[FeatureNet, FeatureNet]) -> None:
    fp32, int8 = nets
    assert (fp32.tag, int8.tag) == ("", "-int8")
    assert (int8.side, int8.dim) == (fp32.side, fp32.dim)
    assert "-int8-" in Engine(int8).version
    assert Engine(int8).version != Engine(fp32).version  # catalog vectors of the other model are recomputed


def test_int8_pooled_vectors_stay_close_to_the_float_model(
    nets: tuple[FeatureNet, FeatureNet], views: np.ndarray
) -> None:
    if not int8_is_exact():
        pytest.skip(
            "no VNNI / ARM dot products: ONNX Runtime's int8 kernels saturate, so the float model is the default"
        )
    fp32, int8 = nets
    a = catalog.l2_normalise(fp32.feature_maps(views).mean(axis=(2, 3)))
    b = catalog.l2_normalise(int8.feature_maps(views).mean(axis=(2, 3)))
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.9 and cosines.mean() > 0.97, cosines
    # Nearest neighbours survive quantisation: each int8 vector is closest to its own float vector.
    assert ((b @ a.T).argmax(axis=1) == np.arange(len(views))).all()


def test_int8_results_do_not_depend_on_the_batch(nets: tuple[FeatureNet, FeatureNet], views: np.ndarray) -> None:
    _, int8 = nets
    batched = int8.feature_maps(views[:5])
    single = np.concatenate([int8.feature_maps(views[i : i + 1]) for i in range(5)])
    assert np.allclose(batched, single, atol=1e-4)
