"""sparsity_probe.torch on PyTorch models: parity with probe-extract on the same weights,
streaming (bounded memory), and the errors a user meets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import run, shared, skip

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

import sparsity_probe as sp

if torch is not None:
    import sparsity_probe.torch  # noqa: F401  (sp.torch)


@pytest.fixture(autouse=True)
def needs_torch():
    if torch is None:
        skip("torch is not installed (pip install ./python[torch])")


def load_safetensors(path: Path) -> dict:
    """A minimal safetensors reader (F32 tensors), so the test needs no other package."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        s, e = info["data_offsets"]
        out[name] = torch.from_numpy(
            np.frombuffer(raw[8 + n + s : 8 + n + e], dtype=np.float32)
            .reshape(info["shape"])
            .copy()
        )
    return out


class Mlp(nn.Module):
    """probe-models' MLP with its PyTorch names (784 -> 256 -> 128 -> 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.relu1 = nn.Linear(784, 256), nn.ReLU()
        self.fc2, self.relu2 = nn.Linear(256, 128), nn.ReLU()
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


LAYERS = ["input", "fc1", "relu1", "fc2", "relu2", "fc3"]


def test_probe_on_an_mlp_with_probe_models_weights_matches_probe_extract(tmp_path):
    data = shared("data/mnist-10k")
    run_dir = tmp_path / "run"
    run(
        "probe-train",
        "--env",
        "mnist",
        "--model",
        "mlp",
        "--data",
        str(data),
        "--epochs",
        "1",
        "--limit",
        "3000",
        "--out",
        str(run_dir),
        "-q",
    )
    weights = run_dir / "checkpoint" / "last.safetensors"
    config = tmp_path / "extract.toml"
    config.write_text(
        f"layers = {json.dumps(LAYERS)}\nout = {json.dumps(str(run_dir))}\n"
        f'[model]\nenv = "mnist"\narch = "mlp"\nweights = {json.dumps(str(weights))}\n'
        f"[dataset]\ndata = {json.dumps(str(data))}\nlimit = 1500\n"
    )
    run("probe-extract", "--config", str(config), "-q")
    manifest = json.loads((run_dir / "features" / "manifest.json").read_text())
    cli_files = {e["layer"]: e["file"] for e in manifest["layers"]}

    # The same inputs (probe-extract's normalised `input` tap) through the same weights.
    inputs = sp.read_features(cli_files["input"])
    x = torch.from_numpy(inputs.features.reshape(-1, *inputs.sample_shape))
    y = torch.from_numpy(inputs.labels)
    model = Mlp()
    model.load_state_dict(load_safetensors(weights))
    ours = sp.torch.probe(
        model, (x, y), LAYERS, out=tmp_path / "py", reduce_to=None, batch_size=100
    )

    for layer in LAYERS:
        want = sp.read_features(cli_files[layer])
        got = sp.read_features(
            tmp_path / "py" / "features" / f"{LAYERS.index(layer):02d}_{layer}.safetensors"
        )
        assert got.features.shape == want.features.shape, layer
        assert np.array_equal(got.labels, want.labels), layer
        err = np.abs(got.features - want.features).max()
        assert err <= 1e-5 * max(1.0, np.abs(want.features).max()), f"{layer}: max error {err}"

    cli = sp.score_files([cli_files[name] for name in LAYERS])
    for a, b in zip(ours, cli):
        assert a.layer == b.layer
        assert abs(a.alpha - b.alpha) <= 2e-3, (a.layer, a.alpha, b.alpha)
    print(
        "alphas torch / probe-extract:",
        [(a.layer, round(a.alpha, 5), round(b.alpha, 5)) for a, b in zip(ours, cli)],
    )
    assert (tmp_path / "py" / "results.json").exists()
    assert (tmp_path / "py" / "report.html").exists()


STREAMING = textwrap.dedent(
    """
    import json, resource, sys, torch
    import sparsity_probe.torch as spt
    torch.manual_seed(0)
    n, width = 20000, 16384
    y = torch.randint(0, 10, (n,))
    x = torch.randn(n, 784) * 0.5 + y[:, None].float() * 0.05
    model = torch.nn.Sequential(
        torch.nn.Linear(784, width), torch.nn.ReLU(), torch.nn.Linear(width, 10)
    )
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=256)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results = spt.probe(model, loader, ["1"], reduce_to=256, trees=2, depth=10, out=sys.argv[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": peak, "alpha": results["1"].alpha,
                      "activations": n * width * 4}))
    """
)


def test_probing_a_16384_wide_layer_of_20000_samples_streams(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", STREAMING, str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"peak RSS {m['peak'] / 2**20:.0f} MiB (torch and data {m['before'] / 2**20:.0f} MiB) "
        f"for {m['activations'] / 2**20:.0f} MiB of activations"
    )
    # The whole process (torch, the data, extraction, reduction, forest) stays below the
    # size of the layer's activations: they were never held whole.
    assert m["peak"] < m["activations"], m
    size = (tmp_path / "run" / "features" / "00_1.safetensors").stat().st_size
    assert size >= m["activations"]


def test_layers_lists_modules_with_shapes_and_unknown_names_are_value_errors():
    model = Mlp()
    shapes = sp.torch.layers(model, torch.zeros(2, 1, 28, 28))
    assert shapes["input"] == (1, 28, 28)
    assert shapes["fc1"] == (256,) and shapes["relu2"] == (128,) and shapes["fc3"] == (10,)
    with pytest.raises(ValueError, match="fc9.*did you mean.*fc1.*modules are: fc1, relu1"):
        sp.torch.probe(model, (torch.zeros(10, 784), torch.arange(10) % 2), ["fc9"])


def test_a_model_left_in_training_mode_is_probed_in_eval_mode_and_restored():
    model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.5), nn.ReLU())
    model.train()
    x, y = torch.randn(200, 8), torch.arange(200) % 2
    a = sp.torch.probe(model, (x, y), ["2"], reduce_to=None)
    b = sp.torch.probe(model, (x, y), ["2"], reduce_to=None)
    assert a["2"].alpha == b["2"].alpha  # dropout off: the same features twice
    assert model.training


def test_bad_data_is_reported_not_crashed():
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="inputs but"):
        sp.torch.probe(model, (torch.zeros(10, 4), torch.zeros(9)), ["0"])
    with pytest.raises(TypeError, match="DataLoader"):
        sp.torch.probe(model, 42, ["0"])
    # One class only: the engine's message.
    with pytest.raises(ValueError, match="at least 2 classes"):
        sp.torch.probe(model, (torch.randn(50, 4), torch.zeros(50, dtype=torch.long)), ["0"])
