#!/usr/bin/python3
"""AdaRound's per-layer optimisation in PyTorch (autograd + torch.optim.Adam), the baseline that
bench/adaround_bench_main.cpp times quench against in the same run.

The loop is AIMET's (aimet_torch AdaroundOptimizer._optimize_rounding): each iteration draws
`batch` distinct cached samples (torch.randperm), computes the soft-rounded weight
s * (clamp(floor(w / s) + h(alpha) + z, qmin, qmax) - z) with the rectified sigmoid h, the layer
output (and the following activation), the loss ||q - fp||_F^2 over channels averaged over the rest
plus the rounding regulariser after the warm start (beta cosine-annealed 20 -> 2), and one Adam
step. Only the loop is timed; the data and the weights are random (speed does not depend on them).

  /usr/bin/python3 bench/adaround_torch.py --op conv --cin 16 --cout 16 --k 3 --hw 28 --pad 1 \
      --act relu --samples 1024 --iterations 2000 --threads 2
prints one JSON object: {"seconds": ..., "iterations": ..., "threads": ..., "torch": "1.13.1"}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

ZETA, GAMMA = 1.1, -0.1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--op", choices=["conv", "gemm"], default="conv")
    p.add_argument("--cin", type=int, default=16)
    p.add_argument("--cout", type=int, default=16)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--hw", type=int, default=28)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--pad", type=int, default=1)
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--act", choices=["none", "relu", "relu6"], default="relu")
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    if a.op == "conv":
        w = torch.randn(a.cout, a.cin // a.groups, a.k, a.k) * 0.2
        x_all = torch.rand(a.samples, a.cin, a.hw, a.hw)

        def layer(x, wq):
            return F.conv2d(x, wq, bias, a.stride, a.pad, 1, a.groups)
    else:
        w = torch.randn(a.cout, a.cin) * 0.2
        x_all = torch.rand(a.samples, a.cin)

        def layer(x, wq):
            return F.linear(x, wq, bias)
    bias = torch.randn(a.cout) * 0.1
    act = {"none": lambda y: y, "relu": F.relu, "relu6": lambda y: F.hardtanh(y, 0.0, 6.0)}[a.act]

    # Per-output-channel symmetric grid, as quench's default weight encoding.
    qmax = 2 ** (a.bits - 1) - 1
    qmin = -(2 ** (a.bits - 1))
    s = (w.abs().reshape(a.cout, -1).max(dim=1).values / qmax).reshape(-1, *([1] * (w.dim() - 1)))
    z = 0.0
    w_floor = torch.floor(w / s)
    frac = w / s - w_floor
    alpha = (-torch.log((ZETA - GAMMA) / (frac - GAMMA) - 1)).requires_grad_()
    with torch.no_grad():
        t_all = act(layer(x_all, w))

    opt = torch.optim.Adam([alpha], lr=1e-3)
    iters, warm = a.iterations, 0.2
    t0 = time.perf_counter()
    for it in range(iters):
        idx = torch.randperm(a.samples)[: a.batch]
        x, t = x_all[idx], t_all[idx]
        opt.zero_grad()
        h = torch.clamp(torch.sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0, 1)
        wq = (torch.clamp(w_floor + h + z, qmin, qmax) - z) * s
        y = act(layer(x, wq))
        loss = (torch.norm(y - t, p="fro", dim=1) ** 2).mean()
        if it >= iters * warm:
            rel = (it - warm * iters) / (iters - warm * iters)
            beta = 2 + 0.5 * (20 - 2) * (1 + math.cos(rel * math.pi))
            loss = loss + 0.01 * (1 - (2 * h - 1).abs().pow(beta)).sum()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "iterations": iters, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "final_loss": float(loss)}))


if __name__ == "__main__":
    main()
