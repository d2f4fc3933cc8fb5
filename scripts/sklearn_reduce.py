#!/usr/bin/env python3
"""The competitor in scripts/bench-reduce.sh: what a user would script with scikit-learn.

usage: sklearn_reduce.py IN.safetensors K OUT.safetensors OUT.json
Loads the features, runs TruncatedSVD(K, algorithm="randomized", n_iter=5), writes the
reduced set and a JSON with the fit time and the explained-variance ratio.
"""
import json
import sys
import time

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.decomposition import TruncatedSVD

src, k, out, out_json = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tensors = load_file(src)
x = tensors["features"].reshape(tensors["features"].shape[0], -1)
start = time.perf_counter()
svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=0)
z = svd.fit_transform(x)
fit = time.perf_counter() - start
save_file({"features": np.ascontiguousarray(z, dtype=np.float32), "labels": tensors["labels"]},
          out, metadata={"layer": "reduced", "reduction": f"tsvd:{k}"})
with open(out_json, "w") as f:
    json.dump({"fit_seconds": fit,
               "explained_variance_ratio": float(svd.explained_variance_ratio_.sum())}, f)
