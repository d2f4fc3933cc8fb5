#!/usr/bin/env python3
"""CUDA checks on a GPU machine: CUDA outputs equal CPU outputs on the same inputs, and the GPU
throughput of reduction, extraction and training, each beside the same binary on the CPU in the
same run.

It runs a `probe` binary built with `--features cuda` (../shared/scripts/build-cuda.sh) on a
machine with no Rust: numpy and safetensors are all it needs besides the binary.

usage: scripts/gpu_check.py --probe BIN --mnist DIR [--out DIR] [--quick]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_reduce import low_rank  # noqa: E402

RESULTS = {}


def run(cmd, timeout=150):
    """Runs cmd; returns wall seconds, or None (printing why) when it failed."""
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  TIMEOUT after {timeout} s: {' '.join(cmd)}", flush=True)
        return None
    wall = time.perf_counter() - start
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        print(f"  FAILED ({p.returncode}): {' '.join(cmd)}\n    " + "\n    ".join(tail), flush=True)
        return None
    return wall


def rel_diff(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))


def aligned(a, b):
    """b with each column's sign flipped to agree with a's (singular vectors are defined up to
    sign; both paths use the same rule, so this only matters for near-ties)."""
    signs = np.sign(np.sum(a.astype(np.float64) * b, axis=0))
    signs[signs == 0] = 1
    return b * signs


GPU = "cuda"


def reduction(probe, work, quick):
    print("== reduction: probe reduce --method tsvd, CPU (faer, all cores) vs CUDA", flush=True)
    cases = [(5_000, 1024, 64)] if quick else [
        (20_000, 4096, 256), (50_000, 2048, 512), (50_000, 8192, 1024)]
    rows = []
    for n, d, k in cases:
        src = os.path.join(work, f"lowrank-{n}x{d}.safetensors")
        x, y = low_rank(n, d)
        save_file({"features": x, "labels": y}, src, metadata={"layer": "lowrank"})
        del x
        times, outs = {}, {}
        for dev in ["cpu", "cuda"]:
            out_dir = os.path.join(work, f"red-{dev}")
            device = dev if dev == "cpu" or GPU != "cpu" else "candle-cpu"
            cmd = [probe, "reduce", src, "--dim", str(k), "--device", device,
                   "--out-dir", out_dir, "--quiet"]
            walls = [run(cmd) for _ in range(2)]
            if None in walls:
                return rows
            times[dev] = min(walls)
            outs[dev] = os.path.join(out_dir, os.path.basename(src))
        a, b = load_file(outs["cpu"])["features"], load_file(outs["cuda"])["features"]
        from safetensors import safe_open
        evr = {}
        for dev, path in outs.items():
            with safe_open(path, "np") as f:
                evr[dev] = float(f.metadata()["explained_variance_ratio"])
        row = dict(n=n, d=d, k=k, cpu_s=times["cpu"], cuda_s=times["cuda"],
                   speedup=times["cpu"] / times["cuda"], rel_diff=rel_diff(a, aligned(a, b)),
                   evr_cpu=evr["cpu"], evr_cuda=evr["cuda"])
        rows.append(row)
        print(f"  {n} x {d} -> {k}: cpu {times['cpu']:.2f} s, cuda {times['cuda']:.2f} s "
              f"({row['speedup']:.1f}x); features max rel diff {row['rel_diff']:.2e}; "
              f"EVR {evr['cpu']:.6f} vs {evr['cuda']:.6f}", flush=True)
        os.remove(src)
    RESULTS["reduction"] = rows
    return rows


def cifar_like(folder, per_batch):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rec = np.empty((per_batch, 3073), np.uint8)
        rec[:, 0] = rng.integers(0, 10, per_batch)
        rec[:, 1:] = rng.integers(0, 256, (per_batch, 3072))
        rec.tofile(os.path.join(folder, name))


def extract_config(path, out, env, arch, data, limit, layers, device):
    layer_list = ", ".join(f'"{l}"' for l in layers)
    with open(path, "w") as f:
        f.write(f'layers = [{layer_list}]\nbatch_size = 256\ndevice = "{device}"\nout = "{out}"\n'
                f'[model]\nenv = "{env}"\narch = "{arch}"\nweights = "random"\nseed = 7\n'
                f'[dataset]\ndata = "{data}"\nlimit = {limit}\n')


def extraction(probe, work, mnist, quick):
    print("== extraction: the same random-weight model on the same inputs, CPU vs CUDA", flush=True)
    cifar = os.path.join(work, "cifar")
    cifar_like(cifar, 1000 if not quick else 200)
    cases = [
        ("mnist-cnn", "mnist", "cnn", mnist, 2000 if quick else 8000,
         ["input", "conv1", "pool1", "conv2", "pool2", "fc1", "relu3"]),
        ("resnet18", "cifar10", "resnet18", cifar, 1000 if quick else 5000,
         ["input", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.conv2",
          "layer3.0.conv1", "layer3.0.conv2", "avgpool"]),
    ]
    rows = []
    for name, env, arch, data, limit, layers in cases:
        times, dirs = {}, {}
        for dev in ["cpu", "cuda"]:
            out = os.path.join(work, f"ext-{name}-{dev}")
            cfg = os.path.join(work, f"ext-{name}-{dev}.toml")
            extract_config(cfg, out, env, arch, data, limit, layers, GPU if dev == "cuda" else dev)
            wall = run([probe, "extract", "--config", cfg, "--quiet", "--force"])
            if wall is None:
                return rows
            times[dev], dirs[dev] = wall, out
        worst = {}
        for i, layer in enumerate(layers):
            fname = f"{i:02d}_{layer}.safetensors"
            a = load_file(os.path.join(dirs["cpu"], "features", fname))["features"]
            b = load_file(os.path.join(dirs["cuda"], "features", fname))["features"]
            worst[layer] = rel_diff(a, b)
        row = dict(model=name, samples=limit, layers=len(layers), cpu_s=times["cpu"],
                   cuda_s=times["cuda"], cpu_sps=limit / times["cpu"],
                   cuda_sps=limit / times["cuda"], max_rel_diff=max(worst.values()),
                   per_layer=worst)
        rows.append(row)
        print(f"  {name}, {limit} samples, {len(layers)} layers: cpu {times['cpu']:.1f} s "
              f"({row['cpu_sps']:.0f}/s), cuda {times['cuda']:.1f} s ({row['cuda_sps']:.0f}/s); "
              f"max rel diff over layers {row['max_rel_diff']:.2e}", flush=True)
        for dev in dirs.values():
            subprocess.run(["rm", "-rf", dev])
    RESULTS["extraction"] = rows
    return rows


def training(probe, work, mnist, quick):
    print("== training: samples/s of the last epoch, CPU vs CUDA (same seed)", flush=True)
    cifar = os.path.join(work, "cifar")
    cases = [
        ("mnist-mlp", ["--env", "mnist", "--model", "mlp", "--data", mnist]),
        ("mnist-cnn", ["--env", "mnist", "--model", "cnn", "--data", mnist]),
        ("resnet18", ["--env", "cifar10", "--model", "resnet18", "--data", cifar,
                      "--limit", "1000" if not quick else "400"]),
    ]
    rows = []
    for name, args in cases:
        row = dict(model=name)
        for dev, epochs in [("cpu", 1), ("cuda", 2)]:
            out = os.path.join(work, f"train-{name}-{dev}")
            wall = run([probe, "train", *args, "--epochs", str(epochs),
                        "--device", GPU if dev == "cuda" else dev,
                        "--out", out, "--quiet"])
            if wall is None:
                continue
            last = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))][-1]
            row[f"{dev}_sps"] = last["samples_per_second"]
            row[f"{dev}_val_acc"] = last["val_accuracy"]
            row[f"{dev}_epochs"] = epochs
        rows.append(row)
        print("  " + name + ": " + ", ".join(
            f"{dev} {row[dev + '_sps']:.0f} samples/s (val acc {100 * row[dev + '_val_acc']:.1f}%"
            f" after {row[dev + '_epochs']} epoch(s))" for dev in ["cpu", "cuda"]
            if dev + "_sps" in row), flush=True)
    RESULTS["training"] = rows
    return rows


def pipeline(probe, work, config):
    print("== pipeline: probe run on the quickstart config, device cpu vs cuda", flush=True)
    text = open(config).read()
    rows = []
    for dev in ["cpu", "cuda"]:
        device = GPU if dev == "cuda" else dev
        out = os.path.join(work, f"run-{dev}")
        cfg = os.path.join(work, f"quickstart-{dev}.toml")
        with open(cfg, "w") as f:
            f.write(text.replace('device = "cpu"', f'device = "{device}"')
                    .replace('name = "quickstart"', f'name = "quickstart"\nout = "{out}"'))
        start = time.perf_counter()
        p = subprocess.run([probe, "run", cfg, "--quiet"], capture_output=True, text=True,
                           timeout=300)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            print(f"  {dev}: FAILED: {p.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        results = json.load(open(os.path.join(out, "results.json")))
        alphas = {l["layer"]: round(l["alpha"], 4) for l in results["layers"]}
        ari = {l["layer"]: round(l["clustering"]["ari"], 3) for l in results["layers"]}
        report = os.path.exists(os.path.join(out, "report.html"))
        rows.append(dict(device=dev, seconds=wall, alphas=alphas, ari=ari, report=report,
                         val_accuracy=results.get("accuracy", {}).get("val")))
        print(f"  {dev}: {wall:.1f} s, alpha {alphas}, ARI {ari}, "
              f"val acc {rows[-1]['val_accuracy']}, report.html {report}", flush=True)
    out = os.path.join(work, "probe-every-cuda")
    p = subprocess.run([probe, "train", "--env", "synthetic", "--epochs", "3", "--probe-every",
                        "1", "--device", GPU, "--out", out, "--quiet"], capture_output=True,
                       text=True, timeout=300)
    lines = p.stdout.count("probe epoch") if p.returncode == 0 else f"FAILED {p.stderr[-300:]}"
    print(f"  probe-train --probe-every 1 on {GPU}: {lines} probe lines", flush=True)
    RESULTS["pipeline"] = rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
    ap.add_argument("--mnist", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="reduction,extraction,training,pipeline")
    ap.add_argument("--config", default=os.path.join(HERE, "..", "configs", "quickstart.toml"))
    ap.add_argument("--gpu", default="cuda",
                    help="the device to check against the CPU (cpu: a dry run of this script)")
    a = ap.parse_args()
    global GPU
    GPU = a.gpu
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True
                             ).stdout.strip()
    except FileNotFoundError:
        gpu = "none (no nvidia-smi)"
    RESULTS["gpu"], RESULTS["cpu_cores"] = gpu, os.cpu_count()
    print(f"GPU: {gpu}; CPU: {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as work:
        for stage in a.only.split(","):
            start = time.perf_counter()
            {"reduction": lambda: reduction(a.probe, work, a.quick),
             "extraction": lambda: extraction(a.probe, work, a.mnist, a.quick),
             "training": lambda: training(a.probe, work, a.mnist, a.quick),
             "pipeline": lambda: pipeline(a.probe, work, a.config)}[stage]()
            print(f"  ({stage}: {time.perf_counter() - start:.0f} s)", flush=True)
            if a.out:
                with open(os.path.join(a.out, "gpu-check.json"), "w") as f:
                    json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
