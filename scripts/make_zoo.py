#!/usr/bin/python3
"""Builds the test-zoo models under models/zoo/: small networks of four architecture families,
each trained briefly on Fashion-MNIST so that their outputs mean something (conformance against
onnxruntime now, quantization experiments later).

    /usr/bin/python3 scripts/make_zoo.py                 # train + export all four, rewrite README
    /usr/bin/python3 scripts/make_zoo.py --only vit lstm # just these
    /usr/bin/python3 scripts/make_zoo.py --readme-only   # regenerate models/zoo/README.md

Every model takes "input" float32 [batch,1,28,28] (pixel/255) and returns "logits" [batch,10].
Each export is checked for the op types its family is meant to exercise (e.g. ResNet must keep
BatchNormalization nodes, MobileNetV2 must have grouped convs and Clip) and its metrics are
written next to it as <name>.json, from which models/zoo/README.md is generated.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_common import (REPO_ROOT, evaluate, export_onnx, histogram_text, load_fashion,  # noqa: E402
                        op_histogram, param_count, setup_torch, train)

import torch  # noqa: E402
from torch import nn  # noqa: E402

ZOO_DIR = os.path.join(REPO_ROOT, "models", "zoo")


# ---- a) ResNet: basic blocks, BatchNormalization kept as separate nodes -------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(cin, w, 1 if i == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)  # exported as GlobalAveragePool
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


# ---- b) MobileNetV2: inverted residuals, depthwise convs, ReLU6 (Clip 0..6) ---------------------

class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))  # linear bottleneck

    def forward(self, x):
        return x + self.body(x) if self.use_residual else self.body(x)


class MobileNetV2(nn.Module):
    # (out channels, stride, expansion) per block
    CONFIG = [(16, 1, 1), (24, 2, 4), (24, 1, 4), (32, 2, 4), (32, 1, 4), (64, 1, 4)]

    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6()]
        cin = 16
        for cout, stride, expand in self.CONFIG:
            layers.append(InvertedResidual(cin, cout, stride, expand))
            cin = cout
        layers += [nn.Conv2d(cin, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


# ---- c) ViT: patch embedding, hand-written multi-head attention, LayerNorm, GELU ----------------

class Attention(nn.Module):
    """Written out (not nn.MultiheadAttention) so the ONNX graph holds the attention MatMuls,
    Transposes, Reshapes and the Softmax as separate nodes."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                              # [b, heads, t, head_dim]
        attn = torch.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim)), dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)


class EncoderLayer(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, patch=4, dim=64, depth=3, heads=4, mlp_dim=128):
        super().__init__()
        tokens = (28 // patch) ** 2
        self.embed = nn.Conv2d(1, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.layers = nn.Sequential(*[EncoderLayer(dim, heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)                  # [b, tokens, dim]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.layers(x))
        return self.head(x[:, 0])


# ---- d) LSTM over the 28 image rows -------------------------------------------------------------

class RowLstm(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.lstm = nn.LSTM(28, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(-1, 28, 28))                  # rows are the time steps
        return self.fc(h[-1])


# ---- registry -----------------------------------------------------------------------------------

# name -> (constructor, epochs, lr, export kwargs, ops the export must contain, description)
ZOO = {
    "resnet_fmnist": (
        ResNet, 2, 3e-3,
        dict(opset=13, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False),
        {"BatchNormalization", "Add", "GlobalAveragePool", "Gemm", "Conv"},
        "ResNet-style: stem conv + 3 basic blocks (16/32/64 ch, strides 1/2/2, 1x1 projection "
        "shortcuts), residual Add, GlobalAveragePool, Gemm. BatchNormalization kept as separate "
        "nodes (eval semantics)."),
    "mobilenetv2_fmnist": (
        MobileNetV2, 2, 3e-3, dict(opset=13),
        {"Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"},
        "MobileNetV2-style: stem conv + 6 inverted residual blocks (1x1 expand, 3x3 depthwise "
        "group=channels, 1x1 linear projection), ReLU6 as Clip(0,6), BN folded into convs."),
    "vit_fmnist": (
        ViT, 3, 2e-3, dict(opset=17),
        {"LayerNormalization", "MatMul", "Softmax", "Transpose", "Reshape", "Erf"},
        "ViT: 4x4 stride-4 conv patch embedding (49 tokens + class token, dim 64), 3 pre-norm "
        "encoder layers with 4-head attention written as MatMul/Softmax, GELU MLP (128), "
        "LayerNormalization (opset 17), linear head on the class token."),
    "lstm_fmnist": (
        RowLstm, 3, 3e-3, dict(opset=13),
        {"LSTM", "Reshape", "Gemm"},
        "LSTM over the 28 image rows (sequence 28, input 28, hidden 96, batch_first), "
        "linear head on the final hidden state."),
}


def check_family_ops(name, proto, required):
    hist = op_histogram(proto)
    missing = sorted(required - set(hist))
    if missing:
        raise SystemExit(f"{name}: export lacks required op(s) {missing}; has {dict(hist)}")
    if name == "mobilenetv2_fmnist":
        depthwise = [n for n in proto.graph.node if n.op_type == "Conv" and
                     any(a.name == "group" and a.i > 1 for a in n.attribute)]
        if not depthwise:
            raise SystemExit(f"{name}: no Conv with group > 1 (depthwise) in the export")
    return hist


def build(name, data, threads, epochs_override):
    ctor, epochs, lr, export_kwargs, required, description = ZOO[name]
    epochs = epochs_override or epochs
    setup_torch(threads, seed=0)
    model = ctor()
    print(f"{name}: {param_count(model)} parameters, {epochs} epochs")
    train_s = train(model, data, epochs=epochs, lr=lr)
    acc = evaluate(model, data.test_x, data.test_y)
    path = os.path.join(ZOO_DIR, name + ".onnx")
    kwargs = dict(export_kwargs)
    opset = kwargs.pop("opset")
    proto = export_onnx(model, path, opset=opset, **kwargs)
    hist = check_family_ops(name, proto, required)
    size = os.path.getsize(path)
    print(f"  torch test accuracy {acc * 100:.2f}%, training {train_s:.0f} s, {size} bytes\n"
          f"  ops: {histogram_text(hist)}")
    meta = {"model": name + ".onnx", "description": description,
            "torch_test_accuracy": round(acc, 4), "test_correct": round(acc * 10000),
            "epochs": epochs, "threads": threads, "train_seconds": round(train_s),
            "parameters": param_count(model), "bytes": size, "opset": opset,
            "ops": dict(sorted(hist.items())), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d")}
    with open(os.path.join(ZOO_DIR, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def write_readme():
    lines = [
        "# Test-zoo models",
        "",
        "Generated by `/usr/bin/python3 scripts/make_zoo.py` (this file is rewritten by it; edit the",
        "script, not this file). Each model is trained briefly on Fashion-MNIST, takes `input`",
        "float32 `[batch,1,28,28]` holding pixel/255 and returns `logits` `[batch,10]`. Accuracy is",
        "top-1 on the 10k test set computed with torch before export; the ONNX files are checked",
        "against onnxruntime by `node tests/ort/compare.mjs` and `node tests/ort/eval_accuracy.mjs`.",
        "Training times are wall time on the project's 2-core machine while other jobs shared it",
        "(an idle machine takes about half).",
        "",
        "| model | params | size | opset | epochs | train time | test accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    metas = []
    for name in ZOO:
        path = os.path.join(ZOO_DIR, name + ".json")
        if os.path.exists(path):
            with open(path) as f:
                metas.append(json.load(f))
    for m in metas:
        lines.append(f"| {m['model']} | {m['parameters']:,} | {m['bytes'] / 1024:.0f} KiB | {m['opset']} "
                     f"| {m['epochs']} | {m['train_seconds']} s ({m['threads']} threads) "
                     f"| {m['torch_test_accuracy'] * 100:.2f}% |")
    for m in metas:
        lines += ["", f"## {m['model']}", "", m["description"], "",
                  "Op histogram: " + histogram_text(m["ops"]) + "."]
    with open(os.path.join(ZOO_DIR, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(ZOO), help="build just these models")
    parser.add_argument("--epochs", type=int, default=0, help="override each model's epoch count")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--readme-only", action="store_true")
    args = parser.parse_args()
    if not args.readme_only:
        data = load_fashion()
        for name in args.only or list(ZOO):
            build(name, data, args.threads, args.epochs)
    write_readme()


if __name__ == "__main__":
    main()
