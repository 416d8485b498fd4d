#!/usr/bin/env python3
"""Writes a mid-sized CNN with random weights for the calibration benchmark (not a trained model:
calibration cost does not depend on accuracy). A ResNet-18-like stack at 64x64 input, 1 channel:
conv 64 -> 4 stages of two residual blocks (64, 128, 256, 512 channels) -> pool -> fc 10.

    /usr/bin/python3 bench/make_bench_model.py build/bench-models/resnet18_64.onnx
"""
import sys

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (self.down(x) if self.down is not None else x))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "resnet18_64.onnx"
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    model = nn.Sequential(*layers).eval()
    x = torch.rand(1, 1, 64, 64)
    torch.onnx.export(model, x, out, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)


if __name__ == "__main__":
    main()
