#!/usr/bin/env python3
"""Our models against PyTorch's, side by side on this machine (run through
scripts/bench-models.sh).

1. ResNet-18 (CIFAR stem) extraction of 1,000 CIFAR-shaped images at 7 taps, batch 128, random
   weights in eval mode. Ours: the whole probe-extract process, files written. PyTorch:
   forward passes with hooks that keep each tap's output (no files), torchvision's resnet18
   with the same stem.
2. Training on mnist-10k (8,000 training digits, batch 32, Adam lr 1e-3), the MLP and the small
   CNN: samples per second of the training steps in the fastest epoch after the first (ours
   from metrics.jsonl, PyTorch timed around its loop; the machine is shared and noisy), and the
   validation accuracy each reaches after the last epoch.

Prints each pair and the ratio ours/PyTorch in throughput (above 1 means we are faster).
"""

import argparse
import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import torch
import torchvision
from torch import nn

from benchlib import ROOT
from train_parity import DATA, Mlp, SmallCnn, mnist

TAPS = ["layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.conv2",
        "layer3.0.conv1", "layer3.0.conv2", "avgpool"]


def cifar_like(folder, n):
    """CIFAR-10 binary batches of random records (label byte + 3,072 pixel bytes)."""
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    per = -(-n // 5)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = np.concatenate([rng.integers(0, 10, (per, 1)), rng.integers(0, 256, (per, 3072))], 1)
        records.astype(np.uint8).tofile(os.path.join(folder, name))
    first = np.fromfile(os.path.join(folder, "data_batch_1.bin"), np.uint8).reshape(-1, 3073)
    return first


def torch_resnet():
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    return m.eval()


def extraction(bin_dir, work, n, batch, repeat):
    cifar = os.path.join(work, "cifar")
    cifar_like(cifar, n)
    config = os.path.join(work, "extract.toml")
    with open(config, "w") as f:
        f.write(f"layers = {json.dumps(TAPS)}\nbatch_size = {batch}\nout = {json.dumps(work + '/ext')}\n"
                f'[model]\nenv = "cifar10"\narch = "resnet18"\nweights = "random"\n'
                f"[dataset]\ndata = {json.dumps(cifar)}\nlimit = {n}\n")
    ours = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([os.path.join(bin_dir, "probe-extract"), "--config", config, "--quiet",
                        "--force"], check=True, stdout=subprocess.DEVNULL)
        ours.append(time.perf_counter() - t)
    model = torch_resnet()
    kept = {}
    for name, module in model.named_modules():
        if name in TAPS:
            module.register_forward_hook(lambda _m, _i, out, name=name: kept.setdefault(name, []).append(out))
    x = torch.randn(n, 3, 32, 32)
    theirs = []
    with torch.no_grad():
        for _ in range(repeat):
            kept.clear()
            t = time.perf_counter()
            for chunk in x.split(batch):
                model(chunk)
            theirs.append(time.perf_counter() - t)
    return n / min(ours), n / min(theirs)


def train_torch(arch, epochs):
    torch.manual_seed(0)
    x, y = mnist()
    order = torch.randperm(len(x))
    val, train = order[:2000], order[2000:]
    model = Mlp() if arch == "mlp" else SmallCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for _ in range(epochs):
        model.train()
        t = time.perf_counter()
        for batch in train[torch.randperm(len(train))].split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
        rates.append(len(train) / (time.perf_counter() - t))
    model.eval()
    with torch.no_grad():
        acc = (model(x[val]).argmax(1) == y[val]).float().mean().item()
    return best_rate(rates), acc


def best_rate(rates):
    """The fastest epoch after the first (which warms up): this machine's neighbours add noise."""
    return max(rates[1:] or rates)


def train_ours(bin_dir, arch, epochs, folder):
    subprocess.run([os.path.join(bin_dir, "probe-train"), "--env", "mnist", "--model", arch,
                    "--data", DATA, "--epochs", str(epochs), "--out", folder, "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    rows = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]
    return best_rate([r["samples_per_second"] for r in rows]), rows[-1]["val_accuracy"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=4,
                    help="training epochs (the fastest after the first counts)")
    ap.add_argument("--repeat", type=int, default=2, help="extraction runs (the fastest counts)")
    ap.add_argument("--only", default="extract,mlp,cnn")
    a = ap.parse_args()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    work = tempfile.mkdtemp(prefix="bench-models-")
    # Generated inputs and outputs run to gigabytes: gone when the script ends.
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    print(f"machine: {threads} cores, CPU; torch {torch.__version__} with {threads} threads")
    print(f"{'work':<52} {'ours':>10} {'PyTorch':>10} {'ratio':>7}")
    only = a.only.split(",")
    if "extract" in only:
        ours, theirs = extraction(a.bin, work, a.images, a.batch, a.repeat)
        print(f"{f'ResNet-18 extraction, {a.images} images, 7 taps (images/s)':<52} "
              f"{ours:>10.0f} {theirs:>10.0f} {ours / theirs:>6.2f}x", flush=True)
    for arch in ["mlp", "cnn"]:
        if arch not in only:
            continue
        ours, acc_ours = train_ours(a.bin, arch, a.epochs, os.path.join(work, arch))
        theirs, acc_theirs = train_torch(arch, a.epochs)
        label = f"MNIST {arch.upper()} training, batch 32, Adam (samples/s)"
        print(f"{label:<52} {ours:>10.0f} {theirs:>10.0f} {ours / theirs:>6.2f}x   "
              f"val acc {100 * acc_ours:.2f}% vs {100 * acc_theirs:.2f}%", flush=True)


if __name__ == "__main__":
    main()
