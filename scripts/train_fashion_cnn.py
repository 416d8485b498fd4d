#!/usr/bin/python3
"""Trains quench's bundled Fashion-MNIST CNN and exports it to models/fashion_cnn.onnx.

Run with Debian's python (torch 1.13); takes a few minutes on one or two cores:
    /usr/bin/python3 scripts/train_fashion_cnn.py [--epochs 6] [--threads 2] [--out models/fashion_cnn.onnx]

The ONNX model takes "input" float32 [batch,1,28,28] holding pixel/255 (no other normalization
outside the model) and returns "logits" [batch,10]. Exported in eval mode at opset 13 with constant
folding, so BatchNormalization is folded into the convolutions. Seeds are fixed; results are
repeatable on the same torch build and thread count.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_common import (REPO_ROOT, evaluate, export_onnx, histogram_text, load_fashion,  # noqa: E402
                        op_histogram, param_count, setup_torch, train)

import torch  # noqa: E402
from torch import nn  # noqa: E402


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class FashionCnn(nn.Module):
    """Three Conv-BN-ReLU stages with 2x2 max pooling (28 -> 14 -> 7 -> 3), then two FC layers."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_relu(1, 32), nn.MaxPool2d(2),
            *conv_bn_relu(32, 64), nn.MaxPool2d(2),
            *conv_bn_relu(64, 64), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 3 * 3, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "models", "fashion_cnn.onnx"))
    args = parser.parse_args()

    setup_torch(args.threads, args.seed)
    data = load_fashion()
    model = FashionCnn()
    print(f"FashionCnn: {param_count(model)} parameters, training {args.epochs} epochs "
          f"on {args.threads} thread(s)")
    train_s = train(model, data, epochs=args.epochs, lr=args.lr)
    acc = evaluate(model, data.test_x, data.test_y)
    print(f"torch FP32 test accuracy: {acc * 100:.2f}% ({round(acc * 10000)}/10000), "
          f"training {train_s:.0f} s")

    proto = export_onnx(model, args.out, opset=13)
    hist = op_histogram(proto)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {size} bytes; ops: {histogram_text(hist)}")
    meta = {"model": os.path.basename(args.out), "torch_test_accuracy": round(acc, 4),
            "test_correct": round(acc * 10000), "epochs": args.epochs, "threads": args.threads,
            "train_seconds": round(train_s), "parameters": param_count(model), "bytes": size,
            "opset": 13, "ops": dict(sorted(hist.items())), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d")}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
