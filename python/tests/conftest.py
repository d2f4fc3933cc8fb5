"""Shared helpers: the data in ../shared, the command-line binaries, and skips that fail
under CI=true (CI must run everything)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PROBE_SHARED", REPO.parent / "shared"))


def skip(reason: str) -> None:
    """Skips with a reason; under CI=true a missing requirement fails instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        skip(f"{path} is missing (the shared data folder beside the checkout)")
    return path


def mnist(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """The first n digits of ../shared/data/mnist-10k: (pixels/255 as float32 [n, 28, 28],
    labels)."""
    folder = shared("data/mnist-10k")
    with gzip.open(folder / "images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return (images[:n].astype(np.float32) / 255.0), labels[:n].astype(np.int64)


def binary(name: str) -> Path:
    """A command-line tool of this checkout (built by the README's quickstart)."""
    candidates: List[Path] = []
    if os.environ.get("PROBE_BIN_DIR"):
        candidates.append(Path(os.environ["PROBE_BIN_DIR"]) / name)
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / name)
    candidates.append(REPO / "target" / "release" / name)
    for c in candidates:
        if c.exists():
            return c
    found: Optional[str] = shutil.which(name)
    if found:
        return Path(found)
    skip(f"{name} is not built (cargo build --release); looked in {[str(c) for c in candidates]}")
    raise AssertionError("unreachable")


def run(name: str, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([str(binary(name)), *args], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"{name} {' '.join(args)} failed:\n{out.stderr}"
    return out


def blobs(classes: int, per_class: int, d: int, spread: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)) * 2
    y = np.repeat(np.arange(classes), per_class)
    x = centres[y] + rng.normal(size=(len(y), d)) * spread
    return x.astype(np.float32), y.astype(np.int64)
