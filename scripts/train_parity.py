#!/usr/bin/env python3
"""The same training recipe in probe-train and in PyTorch, probed the same way.

Run through scripts/train-parity.sh. For the MLP and the small CNN, and seeds 0, 1, 2: train
with probe-train, and train the same architecture (the same parameter names) in PyTorch with
the same recipe (mnist-10k, 8,000 training / 2,000 validation digits, pixels/255 then
(x - 0.1307)/0.3081, Adam lr 1e-3, batch 32, shuffled each epoch, PyTorch's default
initialisation, 3 epochs). Both final checkpoints then go through the same probe-extract
config (the same 4,000 digits) and probe-alpha, and the script prints, per layer, the mean
alpha over the seeds with its spread, and the validation accuracy, side by side.

The split differs between the two (probe-train draws its own seeded split; PyTorch draws one
with torch's generator): both are 8,000 / 2,000 of the same 10,000 digits, so the difference
is one more source of seed-to-seed variation.
"""

import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from benchlib import ROOT, SHARED

DATA = os.path.join(SHARED, "data", "mnist-10k")
LAYERS = {"mlp": ["input", "relu1", "relu2"], "cnn": ["input", "pool1", "pool2", "relu3"]}


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.relu1 = nn.Linear(784, 256), nn.ReLU()
        self.fc2, self.relu2 = nn.Linear(256, 128), nn.ReLU()
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def mnist():
    img = np.frombuffer(gzip.open(os.path.join(DATA, "images-idx3-ubyte.gz")).read()[16:], np.uint8)
    lab = np.frombuffer(gzip.open(os.path.join(DATA, "labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    x = (img.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.1307) / 0.3081
    return torch.from_numpy(x), torch.from_numpy(lab.astype(np.int64))


def train_torch(arch, seed, epochs, out):
    torch.manual_seed(seed)
    x, y = mnist()
    order = torch.randperm(len(x))
    val, train = order[:2000], order[2000:]
    model = Mlp() if arch == "mlp" else SmallCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        for batch in train[torch.randperm(len(train))].split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x[val]).argmax(1) == y[val]).float().mean().item()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    return acc


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def probe(bin_dir, arch, weights, folder):
    config = os.path.join(folder, "extract.toml")
    with open(config, "w") as f:
        f.write(
            f"layers = {json.dumps(LAYERS[arch])}\nbatch_size = 500\nout = {json.dumps(folder)}\n"
            f'[model]\nenv = "mnist"\narch = "{arch}"\nweights = {json.dumps(weights)}\n'
            f'[dataset]\ndata = {json.dumps(DATA)}\nlimit = 4000\n'
        )
    run(os.path.join(bin_dir, "probe-extract"), "--config", config, "-q")
    results = os.path.join(folder, "results.json")
    run(os.path.join(bin_dir, "probe-alpha"), os.path.join(folder, "features", "*.safetensors"),
        "--quiet", "--out", results)
    return {r["layer"]: r["alpha"] for r in json.load(open(results))["layers"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--init", default="pytorch", help="probe-train --init")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = tempfile.mkdtemp(prefix="train-parity-")
    print(f"machine: {os.cpu_count()} cores; torch {torch.__version__}; {a.epochs} epochs; "
          f"seeds 0..{a.seeds - 1}; probe-train --init {a.init}; work in {work}", flush=True)
    for arch in a.models.split(","):
        ours, theirs, acc_ours, acc_theirs = [], [], [], []
        for seed in range(a.seeds):
            folder = os.path.join(work, f"{arch}-ours-{seed}")
            t = time.time()
            run(os.path.join(a.bin, "probe-train"), "--env", "mnist", "--model", arch,
                "--data", DATA, "--epochs", str(a.epochs), "--seed", str(seed),
                "--init", a.init, "--out", folder, "-q")
            t_ours = time.time() - t
            last = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))][-1]
            acc_ours.append(last["val_accuracy"])
            ours.append(probe(a.bin, arch, os.path.join(folder, "checkpoint", "last.safetensors"),
                              folder))
            folder = os.path.join(work, f"{arch}-torch-{seed}")
            os.makedirs(folder)
            weights = os.path.join(folder, "last.safetensors")
            t = time.time()
            acc_theirs.append(train_torch(arch, seed, a.epochs, weights))
            t_torch = time.time() - t
            theirs.append(probe(a.bin, arch, weights, folder))
            print(f"  {arch} seed {seed}: probe-train {t_ours:.0f} s, val {acc_ours[-1]:.4f}; "
                  f"PyTorch {t_torch:.0f} s, val {acc_theirs[-1]:.4f}", flush=True)
        print(f"\n{arch}: mean alpha over {a.seeds} seeds (± standard deviation)")
        print(f"  {'layer':8} {'probe-train':>18} {'PyTorch':>18} {'difference':>11}")
        for layer in LAYERS[arch]:
            o = np.array([r[layer] for r in ours])
            p = np.array([r[layer] for r in theirs])
            print(f"  {layer:8} {o.mean():10.4f} ± {o.std():.4f} {p.mean():10.4f} ± {p.std():.4f} "
                  f"{o.mean() - p.mean():+11.4f}")
        print(f"  {'val acc':8} {np.mean(acc_ours):10.4f} ± {np.std(acc_ours):.4f} "
              f"{np.mean(acc_theirs):10.4f} ± {np.std(acc_theirs):.4f} "
              f"{np.mean(acc_ours) - np.mean(acc_theirs):+11.4f}\n", flush=True)


if __name__ == "__main__":
    main()
