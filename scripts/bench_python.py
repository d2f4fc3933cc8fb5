#!/usr/bin/env python3
"""Side by side in one process: sparsity_probe.alpha against the reference (numpy +
scikit-learn, ../shared/reference/sparsity_ref.py) on the same numpy arrays.

Run through scripts/bench-python.sh. Both get the raw float32 array and the labels: ours
scales, bins and fits in Rust; the reference min-max scales with numpy and fits scikit-learn's
RandomForestClassifier (n_jobs=-1). For comparison it also runs probe-alpha on a file of the
same array and prints its engine ratio (the record's seconds against the reference's).
"""
import argparse
import atexit
import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import sparsity_probe as sp
from benchlib import ROOT, SHARED


def reference():
    spec = importlib.util.spec_from_file_location(
        "sparsity_ref", os.path.join(SHARED, "reference", "sparsity_ref.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mnist_pixels():
    d = os.path.join(SHARED, "data", "mnist-10k")
    img = np.frombuffer(gzip.open(os.path.join(d, "images-idx3-ubyte.gz")).read()[16:], np.uint8)
    lab = np.frombuffer(gzip.open(os.path.join(d, "labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    return (img.reshape(-1, 784) / 255).astype(np.float32), lab.astype(np.int64)


def gaussian_mixture(n=50_000, d=512, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.35, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y.astype(np.int64)


def best(repeat, f):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", default=os.path.join(ROOT, "target", "release", "probe-alpha"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the best is kept")
    a = ap.parse_args()
    ref = reference()
    cases = [
        ("mnist-10k pixels (10000 x 784), 5 trees, depth 15", mnist_pixels(), 15),
        ("Gaussian mixture (50000 x 512, 10 classes), 5 trees, depth 20", gaussian_mixture(), 20),
    ]
    work = tempfile.mkdtemp(prefix="bench-python-")
    # Generated inputs and outputs run to gigabytes: gone when the script ends.
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; sparsity_probe {sp.__version__}; "
          f"best of {a.repeat} per tool")
    for name, (x, y), depth in cases:
        ours_s, ours = best(a.repeat, lambda: sp.alpha(x, y, depth=depth, trees=5, seed=2))
        ref_s, theirs = best(
            a.repeat, lambda: ref.probe(x.astype(np.float64), y, trees=5, depth=depth, seed=2)
        )
        path = os.path.join(work, "layer.safetensors")
        sp.write_features(path, x, y, layer="layer")
        out = os.path.join(work, "cli.json")
        subprocess.run([a.probe, path, "--depth", str(depth), "--quiet", "--out", out], check=True)
        cli_engine = json.load(open(out))["layers"][0]["seconds"]
        print(f"\n{name}")
        print(f"  sparsity_probe.alpha  {ours_s:7.2f} s  alpha {ours.alpha:.4f}")
        print(f"  reference (sklearn)   {ref_s:7.2f} s  alpha {theirs['alpha']:.4f} "
              f"(its engine: {theirs['seconds']:.2f} s)")
        print(f"  speed-up {ref_s / ours_s:.1f}x; probe-alpha's engine ratio "
              f"{theirs['seconds'] / cli_engine:.1f}x ({cli_engine:.2f} s)")


if __name__ == "__main__":
    main()
