#!/usr/bin/env python3
"""Side-by-side timing of probe-reduce against scikit-learn's TruncatedSVD, and the alpha of
probe-alpha --reduce-to against the reference on a scikit-learn-reduced set.

Run through scripts/bench-reduce.sh. The low-rank cases are generated here (signal plus
noise, f32); the conv case is the original tool's setting, a real conv layer to K = 2,500:
the small MNIST CNN trained here for 2 epochs (probe-train) and its relu1 (32 x 28 x 28 =
25,088 wide) extracted for the 10,000 digits of ../shared/data/mnist-10k (probe-extract).
Each case is reduced by both tools in one session; the script prints wall-time ratios (whole
process: load, reduce, write the reduced set), explained-variance ratios and peak memory.
With --fidelity the conv layer is also reduced exactly (numpy: the f64 Gram matrix and its
full eigendecomposition, about 4 minutes), and probe-alpha scores the three reductions.
"""
import argparse
import atexit
import gzip
import json
import os
import shutil
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


def read_json(path):
    with open(path) as f:
        return json.load(f)


def evr_of(path):
    return float(load_file_meta(path)["explained_variance_ratio"])


def load_file_meta(path):
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        return f.metadata()


def both_tools(a, src, k, work, tag):
    """Reduces `src` to K with probe-reduce and with scikit-learn (best of a.repeat each);
    returns both (seconds, MiB), our output file, scikit-learn's, and its JSON summary."""
    ours_dir = os.path.join(work, f"ours-{tag}")
    sk_out = os.path.join(work, f"sklearn-{tag}.safetensors")
    sk_json = os.path.join(work, f"sklearn-{tag}.json")
    ours = best_of(a.repeat, [a.probe_reduce, src, "--method", "tsvd", "--dim", str(k),
                              "--out-dir", ours_dir, "--quiet"])
    ref = best_of(a.repeat, [sys.executable, os.path.join(HERE, "sklearn_reduce.py"), src,
                             str(k), sk_out, sk_json])
    return (ours, ref, os.path.join(ours_dir, os.path.basename(src)), sk_out,
            read_json(sk_json))


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
        ours, ref, ours_out, _, sk = both_tools(a, src, k, work, "lowrank")
        evr_ours = evr_of(ours_out)
        print(f"\n{n} x {d} f32, low-rank signal plus noise, K = {k}")
        print(f"  probe-reduce   {ours[0]:7.2f} s  {ours[1]:7.0f} MiB  explained variance {evr_ours:.4f}")
        print(f"  scikit-learn   {ref[0]:7.2f} s  {ref[1]:7.0f} MiB  explained variance "
              f"{sk['explained_variance_ratio']:.4f}  (fit_transform alone {sk['fit_seconds']:.2f} s)")
        rel = abs(evr_ours - sk["explained_variance_ratio"]) / sk["explained_variance_ratio"]
        print(f"  speed-up {ref[0] / ours[0]:.1f}x (vs fit_transform alone "
              f"{sk['fit_seconds'] / ours[0]:.1f}x), memory ratio {ours[1] / ref[1]:.2f}, "
              f"explained variance differs by {100 * rel:.3f}%")
        os.remove(src)


def conv_layer(a, work):
    """relu1 of the small MNIST CNN (trained here) over mnist-10k: 10,000 x 25,088 f32."""
    data = os.path.join(SHARED, "data", "mnist-10k")
    train = os.path.join(work, "cnn")
    best_of(1, [a.probe_train, "--env", "mnist", "--data", data, "--model", "cnn",
                "--epochs", "2", "--seed", "0", "--out", train])
    config = os.path.join(work, "relu1.toml")
    with open(config, "w") as f:
        f.write(f"""layers = ["relu1"]\nbatch_size = 500\nout = "{work}/cnn-extract"\n"""
                f"""[model]\nenv = "mnist"\narch = "cnn"\n"""
                f"""weights = "{train}/checkpoint/best.safetensors"\n"""
                f"""[dataset]\nsplit = "train"\ndata = "{data}"\n""")
    best_of(1, [a.probe_extract, "--config", config])
    return os.path.join(work, "cnn-extract", "features", "00_relu1.safetensors")


def exact_reduction(src, k, out):
    """The exact rank-K truncated SVD's U·Σ, from the f64 Gram of the samples (n < d)."""
    t = load_file(src)
    x = t["features"].reshape(t["features"].shape[0], -1).astype(np.float64)
    w, v = np.linalg.eigh(x @ x.T)
    z = v[:, ::-1][:, :k] * np.sqrt(np.maximum(w[::-1][:k], 0))
    save_file({"features": np.ascontiguousarray(z, dtype=np.float32), "labels": t["labels"]},
              out, metadata={"layer": "exact", "reduction": f"tsvd:{k}"})


def conv_case(a, work):
    """The original tool's setting: a 10,000 x 25,088 conv layer to K = 2,500."""
    k = 2500
    src = conv_layer(a, work)
    ours, ref, ours_out, sk_out, sk = both_tools(a, src, k, work, "conv")
    meta = load_file_meta(ours_out)
    evr_ours = float(meta["explained_variance_ratio"])
    print(f"\nMNIST CNN relu1 (trained 2 epochs), 10000 x 25088 f32, K = {k} "
          f"(the original tool's setting)")
    print(f"  probe-reduce   {ours[0]:7.2f} s  {ours[1]:7.0f} MiB  explained variance {evr_ours:.5f}"
          f"  solver {meta.get('reduction_solver', '?')}")
    print(f"  scikit-learn   {ref[0]:7.2f} s  {ref[1]:7.0f} MiB  explained variance "
          f"{sk['explained_variance_ratio']:.5f}  (fit_transform alone {sk['fit_seconds']:.2f} s)")
    print(f"  speed-up {ref[0] / ours[0]:.2f}x, memory ratio {ours[1] / ref[1]:.2f}, explained "
          f"variance ours - scikit-learn {evr_ours - sk['explained_variance_ratio']:+.5f}")
    if not a.fidelity:
        return
    exact_out = os.path.join(work, "exact-conv.safetensors")
    exact_reduction(src, k, exact_out)
    t = load_file(exact_out)["features"]
    tv = load_file(src)["features"].reshape(10_000, -1).var(axis=0, dtype=np.float64).sum()
    print(f"  exact SVD explained variance {t.astype(np.float64).var(axis=0).sum() / tv:.5f}")
    scores = {}
    for name, path in [("exact", exact_out), ("probe-reduce", ours_out), ("scikit-learn", sk_out)]:
        alphas = []
        for seed in range(1, 6):
            out = os.path.join(work, "alpha.json")
            best_of(1, [a.probe_alpha, path, "--seed", str(seed), "--quiet", "--out", out])
            alphas.append(read_json(out)["layers"][0]["alpha"])
        scores[name] = float(np.mean(alphas))
    print("  alpha after reduction (probe-alpha, 5 trees, depth 15, mean of seeds 1-5):")
    for name, alpha in scores.items():
        print(f"    {name:<13} {alpha:.4f}  (minus exact {alpha - scores['exact']:+.4f})")


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
    ap.add_argument("--probe-train", default=os.path.join(rel, "probe-train"))
    ap.add_argument("--probe-extract", default=os.path.join(rel, "probe-extract"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the best is kept")
    ap.add_argument("--quick", action="store_true", help="one small case (smoke test)")
    ap.add_argument("--skip-alpha", action="store_true")
    ap.add_argument("--skip-conv", action="store_true",
                    help="leave out the 10,000 x 25,088 conv layer to K = 2,500")
    ap.add_argument("--conv-only", action="store_true", help="only the conv case")
    ap.add_argument("--fidelity", action="store_true",
                    help="also reduce the conv layer exactly and compare the alphas")
    ap.add_argument("--cases", help="NxDxK,... in place of the default cases, e.g. 10000x25088x2500")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-reduce-")
    # Generated inputs and outputs run to gigabytes: gone when the script ends.
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    if not a.conv_only:
        speed(a, work)
    if not (a.quick or a.skip_conv):
        conv_case(a, work)
    if not (a.skip_alpha or a.conv_only):
        alpha_parity(a, work)


if __name__ == "__main__":
    main()
