"""Shared helpers for the Fashion-MNIST model scripts (train_fashion_cnn.py, make_zoo.py).

Runs with Debian's /usr/bin/python3 (python3-torch 1.13, python3-onnx 1.12, numpy); needs nothing
from the network: the data comes from the IDX files Debian ships under
/usr/share/datasets/fashion-mnist.

Usage:
    from zoo_common import setup_torch, load_fashion, train, evaluate, export_onnx, op_histogram
    setup_torch(threads=2, seed=0)
    data = load_fashion()
    train(model, data, epochs=3, lr=1e-3)
    acc = evaluate(model, data.test_x, data.test_y)
"""

import collections
import gzip
import os
import random
import time

# The machine's two cores are shared with compiling helpers: a spinning OpenMP pool would steal
# their time, so threads sleep as soon as their work runs out. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup_torch(threads=2, seed=0):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def read_idx(path):
    """Parses an IDX file (the MNIST container format): big-endian magic 0x0000 <dtype> <ndim>,
    then ndim big-endian uint32 dims, then the raw data. Only uint8 data (dtype 0x08) occurs here."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: magic {raw[:4].hex()} is not an IDX uint8 file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count:
        raise ValueError(f"{path}: {len(raw) - offset} data bytes, dims {dims} need {count}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


class FashionData:
    """Fashion-MNIST as float32 tensors [N,1,28,28] with values pixel/255, labels int64 [N]."""

    def __init__(self, train_x, train_y, test_x, test_y):
        self.train_x, self.train_y, self.test_x, self.test_y = train_x, train_y, test_x, test_y


def load_fashion(data_dir=DATA_DIR):
    def images(name):
        a = read_idx(os.path.join(data_dir, name)).astype(np.float32) / 255.0
        return torch.from_numpy(a).unsqueeze(1)

    def labels(name):
        return torch.from_numpy(read_idx(os.path.join(data_dir, name)).astype(np.int64))

    return FashionData(images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
                       images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def train(model, data, epochs, lr=1e-3, batch=128, weight_decay=1e-4, flip=True, max_train=None,
          log=print):
    """AdamW with a one-cycle schedule; optional horizontal flips (clothes are left/right
    symmetric, so this is free augmentation). Returns the wall time in seconds."""
    n = data.train_x.shape[0] if max_train is None else min(max_train, data.train_x.shape[0])
    steps_per_epoch = (n + batch - 1) // batch
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    gen = torch.Generator().manual_seed(1234)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(data.train_x.shape[0], generator=gen)[:n]
        total_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            x, y = data.train_x[idx], data.train_y[idx]
            if flip:
                mask = torch.rand(x.shape[0], generator=gen) < 0.5
                x = torch.where(mask[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item()
        log(f"  epoch {epoch + 1}/{epochs}: loss {total_loss / steps_per_epoch:.4f}, "
            f"{time.time() - start:.0f} s")
    model.eval()
    return time.time() - start


@torch.no_grad()
def predict(model, x, batch=500):
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def evaluate(model, x, y):
    """Top-1 accuracy as a fraction in [0,1]."""
    return (predict(model, x).argmax(1) == y).float().mean().item()


def export_onnx(model, path, opset=13, **kwargs):
    """Exports with input "input" [batch,1,28,28] and output "logits" [batch,10]."""
    model.eval()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    dummy = torch.zeros(2, 1, 28, 28)
    torch.onnx.export(model, dummy, path, opset_version=opset, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def op_histogram(model_proto):
    """Counts of each op type in the main graph (subgraphs are not present in these models)."""
    return collections.Counter(n.op_type for n in model_proto.graph.node)


def histogram_text(hist):
    return ", ".join(f"{op} {count}" for op, count in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))


def param_count(model):
    return sum(p.numel() for p in model.parameters())
