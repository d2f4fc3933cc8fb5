"""The numpy API against the command-line tools, the golden files, and bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import sparsity_probe as sp
from conftest import blobs, mnist, run, shared, skip


def test_alpha_on_a_files_arrays_equals_probe_alpha_on_the_file(tmp_path):
    x, y = mnist(3000)
    path = tmp_path / "pixels.safetensors"
    sp.write_features(path, x, y, layer="pixels", layer_index=0)
    out = tmp_path / "results.json"
    run("probe-alpha", str(path), "--out", str(out), "--quiet")
    cli = json.loads(out.read_text())["layers"][0]

    features, labels = sp.read_features(path)
    assert features.shape == (3000, 784) and features.dtype == np.float32
    ours = sp.alpha(features, labels, layer="pixels")
    assert abs(ours.alpha - cli["alpha"]) <= 1e-12
    assert np.allclose(ours.alphas, cli["alphas"], rtol=0, atol=1e-12)
    assert np.allclose(ours.critical_taus, cli["critical_taus"], rtol=0, atol=1e-12)
    assert ours.n_wavelets == cli["n_wavelets"]
    # Rank 3 input is flattened per sample: the same alpha as the [n, 784] view.
    assert sp.alpha(x, y).alpha == ours.alpha
    # And score_files on the file gives the CLI's record too.
    results = sp.score_files(str(tmp_path / "*.safetensors"))
    assert results["pixels"].alpha == cli["alpha"]


def test_alpha_matches_the_mnist5k_golden_mean_over_seeds():
    golden = json.loads(shared("golden/mnist5k-pixels-alpha.json").read_text())
    x, y = mnist(5000)
    alphas = [sp.alpha(x, y, seed=s).alpha for s in range(1, 6)]
    mean = float(np.mean(alphas))
    assert abs(mean - golden["mean"]) <= golden["tolerance"], (alphas, golden["mean"])


def test_alpha_from_norms_matches_the_fixed_forest_golden_to_1e9():
    golden = json.loads(shared("golden/fixed-forest-alpha.json").read_text())
    norms = []
    for tree in golden["trees"]:
        for parent, norm in zip(tree["parent"], tree["expected_norm"]):
            if parent >= 0 and norm > 0:
                norms.append(norm)
    e = sp.alpha_from_norms(
        norms, golden["n_trees"], epsilon=golden["epsilon_low"], epsilon_high=golden["epsilon_high"]
    )
    assert np.allclose(e["taus"], golden["taus"], rtol=0, atol=1e-12)
    assert np.allclose(e["angle_curve"], golden["expected_angles_deg"], rtol=0, atol=1e-9)
    assert np.allclose(e["critical_taus"], golden["expected_critical_taus"], rtol=0, atol=1e-9)
    assert np.allclose(e["alphas"], golden["expected_alphas"], rtol=0, atol=1e-9)
    assert abs(e["alpha"] - golden["expected_alpha"]) <= 1e-9


def test_float16_32_64_inputs_give_the_same_alpha_for_values_exact_in_float16():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 300)
    x = (rng.integers(0, 64, size=(900, 4, 4)) + y[:, None, None] * 8).astype(np.float16)
    a16 = sp.alpha(x, y).alpha
    assert sp.alpha(x.astype(np.float32), y).alpha == a16
    assert sp.alpha(x.astype(np.float64), y).alpha == a16
    # Non-contiguous input is accepted (copied once).
    wide = np.zeros((900, 4, 8), np.float32)
    wide[:, :, ::2] = x
    assert sp.alpha(wide[:, :, ::2], y).alpha == a16


def test_a_c_contiguous_float32_array_is_not_copied():
    x, y = blobs(5, 2000, 200, 1.0)
    sp.alpha(x[::100], y[::100])  # warm up imports
    tracemalloc.start()
    try:
        sp.alpha(x, y, trees=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # numpy reports its allocations to tracemalloc: a copy would show as x.nbytes (8 MB).
    assert peak < x.nbytes / 10, f"peak {peak} bytes traced for an input of {x.nbytes}"


def test_results_round_trip_and_are_the_readme_schema(tmp_path):
    x, y = blobs(4, 300, 16, 1.5)
    for i, scale in enumerate([3.0, 1.0, 0.3]):
        sp.write_features(
            tmp_path / f"{i:02d}_l{i}.safetensors", x * scale + i, y, layer=f"l{i}", layer_index=i
        )
    (tmp_path / "03_bad.safetensors").write_bytes(b"not a feature set")
    results = sp.score_files(sorted(tmp_path.glob("*.safetensors")), clustering=True, trees=3)
    assert [r.layer for r in results] == ["l0", "l1", "l2"]
    assert len(results.failures) == 1 and "03_bad" in results.failures[0]["file"]
    assert results.settings["trees"] == 3
    assert set(results[0].clustering) >= {"ari", "ami", "v_measure"}
    results.save(tmp_path / "results.json")
    back = sp.Results.load(tmp_path / "results.json")
    assert back.to_dict() == results.to_dict()
    # The file opens with `probe report` (through the Python binding of the same code).
    page = sp.report(tmp_path)
    assert page.name == "report.html" and page.exists()


def test_reduce_keeps_a_low_rank_matrix_and_caps_k():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(500, 5)) @ rng.normal(size=(5, 80))).astype(np.float32)
    z, evr = sp.reduce(x, 5)
    assert z.shape == (500, 5) and z.dtype == np.float32
    assert evr > 0.9999
    # The reduced coordinates keep the Gram matrix (an orthonormal basis of the row space).
    assert np.allclose(z @ z.T, x @ x.T, rtol=1e-3, atol=1e-2 * np.abs(x @ x.T).max())
    z, _ = sp.reduce(x[:20], 50)
    assert z.shape == (20, 20)


def test_write_then_read_keeps_shape_labels_and_metadata(tmp_path):
    x, y = blobs(3, 10, 12, 1.0)
    x = x.reshape(30, 3, 2, 2)
    path = tmp_path / "conv.safetensors"
    sp.write_features(path, x, y + 7, layer="conv", layer_index=3, metadata={"epoch": 4})
    f = sp.read_features(path)
    assert f.sample_shape == [3, 2, 2]
    assert np.array_equal(f.features, x.reshape(30, 12))
    assert np.array_equal(f.labels, y + 7)
    assert f.metadata["layer"] == "conv" and f.metadata["layer_index"] == "3"
    assert f.metadata["epoch"] == "4"


@pytest.mark.parametrize(
    "features, labels, message",
    [
        (np.full((50, 3), np.nan, np.float32), np.arange(50) % 2, "non-finite"),
        (np.ones((50, 3), np.float32), np.zeros(50, int), "class"),
        (np.ones((50, 3), np.float32), np.arange(40) % 2, "50 samples but 40 labels"),
        (np.ones(50, np.float32), np.arange(50) % 2, "rank 2 or more"),
        (np.ones((50, 3), np.float32), np.arange(50) * 0.5, "integers"),
        (np.array([["a"] * 3] * 50), np.arange(50) % 2, "floating point"),
    ],
)
def test_bad_data_raises_value_error_with_the_engines_message(features, labels, message):
    with pytest.raises(ValueError, match=message):
        sp.alpha(features, labels)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(trees=0), "tree"),
        (dict(max_features="bogus"), "bogus"),
        (dict(epsilon=-1.0), "epsilon|ε"),
        (dict(norm="l7"), "l7"),
        (dict(threads=0), "threads"),
        (dict(reduce_to=0), "at least 1"),
    ],
)
def test_bad_settings_raise_value_error(settings, message):
    x, y = blobs(2, 20, 3, 1.0)
    with pytest.raises(ValueError, match=message):
        sp.alpha(x, y, **settings)


def test_unknown_setting_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="tress"):
        sp.score_files([], tress=3)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        sp.read_features(tmp_path / "nowhere.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(ValueError, match="bad.safetensors"):
        sp.read_features(bad)
    results = sp.score_files([str(tmp_path / "none-*.safetensors")])
    assert len(results) == 0 and "no file matches" in results.failures[0]["error"]


def test_the_gil_is_released_while_alpha_works():
    x, y = mnist(4000)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.002)

    t = threading.Thread(target=tick)
    t.start()
    try:
        start = time.perf_counter()
        # Enough trees that the call outlasts the ticker's resolution on a fast machine (with
        # 5 trees it took 0.05 s on a quiet day, too short to tell).
        sp.alpha(x, y, trees=40)
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    during = [s for s in ticks if start < s < end]
    # A held GIL would stop the thread for the whole call; released, it ticks throughout.
    gaps = np.diff([start, *during, end])
    assert end - start > 0.1
    assert len(during) >= 10 and gaps.max() < 0.5 * (end - start), (len(during), gaps.max())


def test_ctrl_c_stops_score_files_between_layers(tmp_path):
    x, y = mnist(4000)
    for i in range(8):
        sp.write_features(tmp_path / f"{i:02d}.safetensors", x, y, layer=f"l{i}")
    files = sorted(tmp_path.glob("*.safetensors"))
    start = time.perf_counter()
    sp.score_files(files[:1])
    one = time.perf_counter() - start
    timer = threading.Timer(one * 1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        sp.score_files(files)
    elapsed = time.perf_counter() - start
    timer.cancel()
    # Stopped after the layer that was running, not after all eight.
    assert elapsed < one * 5, (elapsed, one)


def test_pandas_table_has_one_row_per_layer(tmp_path):
    try:
        import pandas  # noqa: F401
    except ImportError:
        skip("pandas is not installed (pip install pandas)")
    x, y = blobs(3, 200, 8, 1.0)
    sp.write_features(tmp_path / "a.safetensors", x, y, layer="a")
    sp.write_features(tmp_path / "b.safetensors", x * 2 + 1, y, layer="b")
    df = sp.score_files(sorted(tmp_path.glob("*.safetensors")), clustering=True).to_pandas()
    assert list(df["layer"]) == ["a", "b"]
    assert {"alpha", "n", "d", "clustering_ari"} <= set(df.columns)


def test_importing_the_package_does_not_import_torch():
    code = "import sys, sparsity_probe; assert 'torch' not in sys.modules, 'torch imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_repeats_give_a_mean_and_an_interval():
    x, y = mnist(3000)
    r = sp.alpha(x, y, repeats=3)
    assert len(r.alphas_by_repeat) == 3
    assert r.alpha == pytest.approx(np.mean(r.alphas_by_repeat), abs=1e-15)
    assert r.alpha_ci[0] <= r.alpha <= r.alpha_ci[1]
    assert sp.alpha(x, y).alpha == r.alphas_by_repeat[0]  # the first repeat is seed 2's forest


def test_resampled_repeats_draw_a_stratified_fraction():
    x, y = mnist(3000)
    r = sp.alpha(x, y, repeats=3, resample=0.5)
    counts = np.bincount(y)
    assert (r.resample, r.n) == (0.5, 3000)
    assert r.resample_n == sum(int(np.floor(c / 2 + 0.5)) for c in counts)  # half of each class
    assert len(r.alphas_by_repeat) == 3
    with pytest.raises(ValueError, match="more than one repeat"):
        sp.alpha(x, y, resample=0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        sp.alpha(x, y, repeats=2, resample=1.5)


def test_a_sweeps_results_hold_every_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    config = tmp_path / "sweep.toml"
    config.write_text(
        f"""name = "sweep"
out = "{out}"
layers = ["input", "relu2"]
[model]
env = "synthetic"
checkpoints = "{out}/checkpoint/epoch-*.safetensors"
[train]
epochs = 2
save_every = 1
[dataset]
limit = 800
[probe]
trees = 3
"""
    )
    run("probe", "run", str(config), "-q")
    results = sp.Results.load(out / "results.json")
    assert list(results.checkpoints) == ["epoch-001", "epoch-002"]
    first, last = results.checkpoints["epoch-001"], results.checkpoints["epoch-002"]
    assert (first.epoch, last.epoch) == (1, 2)
    assert last.alphas == results.alphas
    assert list(first.alphas) == ["input", "relu2"]
    # The input does not depend on the weights; the hidden layer does.
    assert first["input"].alpha == last["input"].alpha
    assert first["relu2"].alpha != last["relu2"].alpha
