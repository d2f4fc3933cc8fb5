#!/usr/bin/env python3
"""Side-by-side timing of probe-reduce against scikit-learn's TruncatedSVD, and the alpha of
probe-alpha --reduce-to against the reference on a scikit-learn-reduced set.

Run through scripts/bench-reduce.sh. Each case is generated here (low-rank signal plus noise,
f32), reduced by both tools in one session; the script prints wall-time ratios (whole
process: load, reduce, write the reduced set), explained-variance ratios and peak memory.
"""
import argparse
import gzip
import json
import os
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file

from benchlib import ROOT, SHARED, best_of

HERE = os.path.dirname(os.path.abspath(__file__))


def low_rank(n, d, rank=100, noise=1.0, seed=0):
    """Rank-`rank` signal with decaying scales plus isotropic noise, as f32."""
    rng = np.random.default_rng(seed)
    scale = (4.0 / np.sqrt(1 + np.arange(rank))).astype(np.float32)
    x = (rng.standard_normal((n, rank), dtype=np.float32) * scale) @ (
        rng.standard_normal((rank, d), dtype=np.float32) / np.float32(np.sqrt(rank)))
    x += rng.standard_normal((n, d), dtype=np.float32) * np.float32(4.0 * noise / np.sqrt(d))
    return x.astype(np.float32), rng.integers(0, 10, n).astype(np.int64)


def evr_of(path):
    return float(load_file_meta(path)["explained_variance_ratio"])


def load_file_meta(path):
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        return f.metadata()


def speed(a, work):
    cases = [(20_000, 4096, 256), (50_000, 2048, 512)]
    if a.quick:
        cases = [(5_000, 1024, 64)]
    if a.cases:
        cases = [tuple(int(v) for v in c.split("x")) for c in a.cases.split(",")]
    print(f"machine: {os.cpu_count()} cores; best of {a.repeat} run(s) per tool")
    for n, d, k in cases:
        src = os.path.join(work, f"lowrank-{n}x{d}.safetensors")
        x, y = low_rank(n, d)
        save_file({"features": x, "labels": y}, src, metadata={"layer": "lowrank"})
        del x
        ours_dir = os.path.join(work, "ours")
        sk_out = os.path.join(work, "sklearn.safetensors")
        sk_json = os.path.join(work, "sklearn.json")
        ours = best_of(a.repeat, [a.probe_reduce, src, "--method", "tsvd", "--dim", str(k),
                                  "--out-dir", ours_dir, "--quiet"])
        ref = best_of(a.repeat, [sys.executable, os.path.join(HERE, "sklearn_reduce.py"), src,
                                 str(k), sk_out, sk_json])
        evr_ours = evr_of(os.path.join(ours_dir, os.path.basename(src)))
        sk = json.load(open(sk_json))
        print(f"\n{n} x {d} f32, low-rank signal plus noise, K = {k}")
        print(f"  probe-reduce   {ours[0]:7.2f} s  {ours[1]:7.0f} MiB  explained variance {evr_ours:.4f}")
        print(f"  scikit-learn   {ref[0]:7.2f} s  {ref[1]:7.0f} MiB  explained variance "
              f"{sk['explained_variance_ratio']:.4f}  (fit_transform alone {sk['fit_seconds']:.2f} s)")
        rel = abs(evr_ours - sk["explained_variance_ratio"]) / sk["explained_variance_ratio"]
        print(f"  speed-up {ref[0] / ours[0]:.1f}x (vs fit_transform alone "
              f"{sk['fit_seconds'] / ours[0]:.1f}x), memory ratio {ours[1] / ref[1]:.2f}, "
              f"explained variance differs by {100 * rel:.3f}%")
        os.remove(src)


def mnist_pixels():
    d = os.path.join(SHARED, "data", "mnist-10k")
    img = np.frombuffer(gzip.open(os.path.join(d, "images-idx3-ubyte.gz")).read()[16:], np.uint8)
    lab = np.frombuffer(gzip.open(os.path.join(d, "labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    return (img.reshape(-1, 784) / 255).astype(np.float32), lab.astype(np.int64)


def alpha_parity(a, work):
    """probe-alpha --reduce-to K against the reference on the same set reduced by sklearn."""
    x, y = mnist_pixels()
    cases = [("mnist-10k pixels", x, y, 64)]
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 0.2, size=(10, 1024)).astype(np.float32)
    yy = rng.integers(0, 10, 10_000)
    xx = (centres[yy] + rng.standard_normal((10_000, 1024), dtype=np.float32)).astype(np.float32)
    cases.append(("Gaussian mixture 10000 x 1024", xx, yy.astype(np.int64), 128))
    print("\nalpha after reduction: probe-alpha --reduce-to K vs the reference on "
          "scikit-learn's TruncatedSVD(K)")
    for name, x, y, k in cases:
        src = os.path.join(work, "wide.safetensors")
        save_file({"features": x, "labels": y}, src, metadata={"layer": "wide"})
        sk_out = os.path.join(work, "wide-sklearn.safetensors")
        best_of(1, [sys.executable, os.path.join(HERE, "sklearn_reduce.py"), src, str(k), sk_out,
                    os.path.join(work, "wide.json")])
        ours_json = os.path.join(work, "ours-alpha.json")
        ref_json = os.path.join(work, "ref-alpha.json")
        alphas = []
        for seed in range(1, 4):
            best_of(1, [a.probe_alpha, src, "--reduce-to", str(k), "--seed", str(seed),
                        "--quiet", "--out", ours_json])
            best_of(1, [sys.executable, os.path.join(SHARED, "reference", "sparsity_ref.py"),
                        sk_out, "--seed", str(seed), "--json", ref_json])
            alphas.append((json.load(open(ours_json))["layers"][0]["alpha"],
                           json.load(open(ref_json))[0]["alpha"]))
        ours = np.mean([p[0] for p in alphas])
        ref = np.mean([p[1] for p in alphas])
        print(f"  {name}, K = {k}: probe-alpha {ours:.4f}, reference {ref:.4f} "
              f"(mean of seeds 1-3), difference {abs(ours - ref):.4f} (target <= 0.02)")


def main():
    ap = argparse.ArgumentParser()
    rel = os.path.join(ROOT, "target", "release")
    ap.add_argument("--probe-reduce", default=os.path.join(rel, "probe-reduce"))
    ap.add_argument("--probe-alpha", default=os.path.join(rel, "probe-alpha"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the best is kept")
    ap.add_argument("--quick", action="store_true", help="one small case (smoke test)")
    ap.add_argument("--skip-alpha", action="store_true")
    ap.add_argument("--cases", help="NxDxK,... in place of the default cases, e.g. 10000x25088x2500")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-reduce-")
    speed(a, work)
    if not a.skip_alpha:
        alpha_parity(a, work)


if __name__ == "__main__":
    main()
