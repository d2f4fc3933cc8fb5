#!/usr/bin/env python3
"""Side-by-side check of the report's 2-D embeddings against the Python libraries: our UMAP
and t-SNE (through `probe-alpha --embedding`) against umap-learn's UMAP and scikit-learn's
TSNE on the same points, in one session.

Prints, per method, the wall time of both (ours: the whole probe-alpha process with a one-tree
forest, which costs a few milliseconds; theirs: fit_transform alone, after import), the
trustworthiness of each embedding (scikit-learn's, 5 neighbours), and the 5-NN class accuracy
in 2-D. umap-learn is warmed up first so that numba's compilation is not counted. Run through scripts/bench-embedding.sh.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from safetensors.numpy import save_file
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from benchlib import ROOT, SHARED


def mnist(n):
    folder = os.path.join(SHARED, "data", "mnist-10k")
    names = sorted(os.listdir(folder))
    images = next(f for f in names if "images" in f)
    labels = next(f for f in names if "labels" in f)
    with gzip.open(os.path.join(folder, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(os.path.join(folder, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return (x / 255.0).astype(np.float32), y.astype(np.int64)


def knn_accuracy(points, labels):
    return float(np.mean(cross_val_score(KNeighborsClassifier(5), points, labels, cv=5)))


def main():
    # umap-learn warns that a seed makes it single-threaded: that is the comparison wanted
    # (ours are deterministic for a seed too).
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", default=os.path.join(ROOT, "target", "release", "probe"))
    ap.add_argument("--points", type=int, default=2500)
    a = ap.parse_args()
    x, y = mnist(a.points)
    print(f"mnist-10k pixels, {a.points} points x 784; machine: {os.cpu_count()} cores")
    print(f"{'method':<6} {'ours s':>8} {'theirs s':>9} {'speed-up':>9} "
          f"{'trust. ours':>12} {'trust. theirs':>14} {'5-NN ours':>10} {'5-NN theirs':>12}")
    with tempfile.TemporaryDirectory() as work:
        src = os.path.join(work, "mnist.safetensors")
        save_file({"features": x, "labels": y}, src, metadata={"layer": "pixels"})
        for method in ["umap", "tsne"]:
            out = os.path.join(work, f"{method}.json")
            start = time.perf_counter()
            subprocess.run([a.probe, "alpha", src, "--trees", "1", "--depth", "4",
                            "--embedding", method, "--embedding-points", str(a.points),
                            "--out", out, "--quiet"], check=True, stdout=subprocess.DEVNULL)
            ours_s = time.perf_counter() - start
            emb = json.load(open(out))["embeddings"][0]
            ours = np.array(emb["points"], dtype=np.float64)
            # Our subsample is all points when --embedding-points equals n, in order.
            assert len(ours) == len(x) and np.array_equal(np.array(emb["labels"]), y)
            if method == "umap":
                import umap
                # numba compiles umap-learn on first use: warm it up outside the timing.
                umap.UMAP(n_neighbors=15, random_state=0).fit_transform(x[:300])
            start = time.perf_counter()
            if method == "umap":
                theirs = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit_transform(x)
            else:
                theirs = TSNE(perplexity=30, random_state=0).fit_transform(x)
            theirs_s = time.perf_counter() - start
            row = [trustworthiness(x, e, n_neighbors=5) for e in (ours, theirs)]
            row += [knn_accuracy(e, y) for e in (ours, theirs)]
            print(f"{method:<6} {ours_s:>8.2f} {theirs_s:>9.2f} {theirs_s / ours_s:>8.1f}x "
                  f"{row[0]:>12.4f} {row[1]:>14.4f} {row[2]:>10.3f} {row[3]:>12.3f}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
