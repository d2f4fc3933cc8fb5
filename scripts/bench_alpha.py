#!/usr/bin/env python3
"""Side-by-side timing of probe-alpha against the reference (numpy + scikit-learn).

Run through scripts/bench-alpha.sh. Generates the inputs, runs both tools on each in one
session, and prints wall-time ratios, both alphas, and peak memory (max RSS) of both.
"""
import argparse
import atexit
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

from benchlib import ROOT, SHARED, best_of

REFERENCE = os.path.join(SHARED, "reference", "sparsity_ref.py")


def mnist_pixels(path):
    d = os.path.join(SHARED, "data", "mnist-10k")
    img = np.frombuffer(gzip.open(os.path.join(d, "images-idx3-ubyte.gz")).read()[16:], np.uint8)
    lab = np.frombuffer(gzip.open(os.path.join(d, "labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    save_file({"features": (img.reshape(-1, 784) / 255).astype(np.float32),
               "labels": lab.astype(np.int64)}, path, metadata={"layer": "pixels"})


def gaussian_mixture(path, n=50_000, d=512, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.35, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    x = centres[y] + rng.normal(size=(n, d))
    save_file({"features": x.astype(np.float32), "labels": y.astype(np.int64)}, path,
              metadata={"layer": "gaussian-mixture"})


def relu_layer(path, n=50_000, d=2_500, latent=64, classes=10, seed=0):
    """Sparse ReLU features like a wide hidden layer's: ReLU of a random linear map of a
    class-conditional 64-d latent plus noise, with a bias that leaves about a third active."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(classes, latent)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    w = (rng.normal(size=(latent, d)) / np.sqrt(latent)).astype(np.float32)
    x = np.empty((n, d), np.float32)
    for start in range(0, n, 5_000):
        rows = slice(start, min(n, start + 5_000))
        z = centres[y[rows]] + rng.normal(size=(rows.stop - start, latent)).astype(np.float32)
        x[rows] = np.maximum(z @ w - 0.6, 0.0)
    save_file({"features": x, "labels": y.astype(np.int64)}, path,
              metadata={"layer": "relu-2500"})


def measured_runs(repeat, tools):
    """Runs each tool's command `repeat` times, the tools taking turns so that both meet the
    same phases of a shared machine. For each tool (cmd, out_json, record_of): the fastest
    (wall s, peak RSS MiB), every run's record `seconds` in turn order, and the last record."""
    walls = [[] for _ in tools]
    engines = [[] for _ in tools]
    records = [None for _ in tools]
    for _ in range(repeat):
        for t, (cmd, out_json, record_of) in enumerate(tools):
            walls[t].append(best_of(1, cmd))
            records[t] = record_of(json.load(open(out_json)))
            engines[t].append(records[t]["seconds"])
    return [(min(w, key=lambda r: r[0]), e, r) for w, e, r in zip(walls, engines, records)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", default=os.path.join(ROOT, "target", "release", "probe-alpha"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the best is kept")
    ap.add_argument("--only", choices=["mnist", "mixture", "relu"])
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-alpha-")
    # Generated inputs and outputs run to gigabytes: gone when the script ends.
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    cases = []
    if a.only in (None, "mnist"):
        p = os.path.join(work, "mnist10k.safetensors")
        mnist_pixels(p)
        cases.append(("mnist-10k pixels (10000 x 784), 5 trees, depth 15", p, 15))
    if a.only in (None, "mixture"):
        p = os.path.join(work, "mixture.safetensors")
        gaussian_mixture(p)
        cases.append(("Gaussian mixture (50000 x 512, 10 classes), 5 trees, depth 20", p, 20))
    if a.only in (None, "relu"):
        p = os.path.join(work, "relu.safetensors")
        relu_layer(p)
        for depth in (15, 20):
            cases.append((f"ReLU layer (50000 x 2500, 10 classes), 5 trees, depth {depth}", p,
                          depth))

    print(f"machine: {os.cpu_count()} cores; best of {a.repeat} run(s) per tool, taking turns")
    for name, path, depth in cases:
        ours_json = os.path.join(work, "ours.json")
        ref_json = os.path.join(work, "ref.json")
        ours_cmd = [a.probe, path, "--depth", str(depth), "--trees", "5", "--seed", "2",
                    "--quiet", "--out", ours_json]
        ref_cmd = [sys.executable, REFERENCE, path, "--depth", str(depth), "--trees", "5",
                   "--seed", "2", "--json", ref_json]
        # Engine: the record's `seconds` (ours: open, normalise, bin, forest, norms,
        # estimate; the reference's: forest, norms, estimate, after its min-max scaling),
        # the fastest of the runs, like the whole-process time.
        (ours, engines_ours, record_ours), (ref, engines_ref, record_ref) = measured_runs(
            a.repeat,
            [(ours_cmd, ours_json, lambda r: r["layers"][0]), (ref_cmd, ref_json, lambda r: r[0])],
        )
        engine_ours, engine_ref = min(engines_ours), min(engines_ref)
        # Each turn's two runs met the same phase of the machine: their ratios, turn by turn.
        turns = sorted(r / o for r, o in zip(engines_ref, engines_ours))
        alpha_ours, alpha_ref = record_ours["alpha"], record_ref["alpha"]
        print(f"\n{name}")
        print(f"  probe-alpha    {ours[0]:8.2f} s  engine {engine_ours:7.2f} s  "
              f"{ours[1]:8.0f} MiB  alpha {alpha_ours:.4f}")
        print(f"  reference      {ref[0]:8.2f} s  engine {engine_ref:7.2f} s  "
              f"{ref[1]:8.0f} MiB  alpha {alpha_ref:.4f}")
        print(f"  speed-up {ref[0] / ours[0]:.1f}x (engine {engine_ref / engine_ours:.1f}x), "
              f"memory ratio {ours[1] / ref[1]:.2f}, "
              f"alpha difference {abs(alpha_ours - alpha_ref):.4f}")
        print(f"  engine ratio turn by turn: median {statistics.median(turns):.1f}x "
              f"(from {turns[0]:.1f}x to {turns[-1]:.1f}x over {len(turns)} turns)")


if __name__ == "__main__":
    main()
