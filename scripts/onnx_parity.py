"""ONNX models in probe-extract against onnxruntime, and against the built-in ResNet-18.

Exports torchvision's resnet18 (CIFAR stem: a 3x3 stride-1 conv1) and a small ViT (torchvision's
VisionTransformer: 32x32 inputs, patch 4, 3 blocks) with torch.onnx.export, by the TorchScript
exporter (opset 17) and by torch's default dynamo exporter (opset 20, weights in a .data file
beside the model), writes a
CIFAR-format folder of seeded random images, runs `probe-extract` on it at several
intermediate values of each graph, and compares every one with onnxruntime's output for the
same normalised inputs (relative error = max |ours - ort| / max |ort|, at most 1e-4). Then
times the ONNX ResNet-18 against the built-in ResNet-18 on the same images, layers and device,
alternating runs, and prints the samples/s ratio.

    python scripts/onnx_parity.py --bin target/release [--n 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import tempfile
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from safetensors.numpy import load_file
from torch import nn

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)


def cifar_folder(folder: pathlib.Path, n: int) -> np.ndarray:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    per = -(-n // 5)
    images = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, (per, 1))
        pixels = rng.integers(0, 256, (per, 3072))
        np.concatenate([labels, pixels], 1).astype(np.uint8).tofile(folder / name)
        if name != "test_batch.bin":
            images.append(pixels)
    raw = np.concatenate(images).astype(np.float32).reshape(-1, 3, 32, 32)
    # As probe-datasets normalises: pixels / 255, then (x - mean) / std per channel.
    return (raw * np.float32(1 / 255) - MEAN) / STD


def resnet18() -> nn.Module:
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def vit() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.VisionTransformer(
        image_size=32, patch_size=4, num_layers=3, num_heads=4, hidden_dim=96, mlp_dim=192,
        num_classes=10,
    ).eval()


def export(model: nn.Module, path: pathlib.Path, dynamo: bool = False) -> onnx.ModelProto:
    """The TorchScript exporter at opset 17, or torch's default (dynamo) exporter, which
    writes opset 20 with the weights beside the model in PATH.data."""
    x = torch.randn(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                model, (x,), str(path), input_names=["input"], output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
        else:
            torch.onnx.export(
                model, (x,), str(path), dynamo=False, opset_version=17,
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
    return onnx.load(str(path))


def ops_taps(proto: onnx.ModelProto, ops: set[str], every: int = 1) -> list[str]:
    """Outputs of the nodes of `ops`, every `every`-th, then the last one and `logits`."""
    found = [n.output[0] for n in proto.graph.node if n.op_type in ops]
    picked = found[::every]
    if found and found[-1] not in picked:
        picked.append(found[-1])
    return picked + ["logits"]


def dynamo_resnet_taps(proto: onnx.ModelProto) -> list[str]:
    return ops_taps(proto, {"Relu"}, every=4)[:-1] + ops_taps(proto, {"ReduceMean", "Reshape"})


def dynamo_vit_taps(proto: onnx.ModelProto) -> list[str]:
    return ops_taps(proto, {"Conv", "LayerNormalization", "Softmax", "Gelu"}, every=2)


def resnet_taps(proto: onnx.ModelProto) -> list[str]:
    by_name = {n.name: n.output[0] for n in proto.graph.node}
    wanted = ["/relu/Relu", "/maxpool/MaxPool"]
    wanted += [f"/layer{i}/layer{i}.1/relu_1/Relu" for i in range(1, 5)]
    wanted += ["/avgpool/GlobalAveragePool", "/Flatten"]
    missing = [w for w in wanted if w not in by_name]
    assert not missing, f"not in the ResNet graph: {missing}"
    return [by_name[w] for w in wanted] + ["logits"]


def vit_taps(proto: onnx.ModelProto) -> list[str]:
    ops = {"Conv", "LayerNormalization", "Softmax"}
    taps = [n.output[0] for n in proto.graph.node if n.op_type in ops]
    adds = [n.output[0] for n in proto.graph.node if n.op_type == "Add" and "encoder_layer" in n.name]
    return taps + adds[-2:] + ["logits"]


def onnxruntime_values(path: pathlib.Path, taps: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    proto = onnx.load(str(path))
    present = {o.name for o in proto.graph.output}
    for t in taps:
        if t not in present:
            proto.graph.output.append(onnx.ValueInfoProto(name=t))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    chunks = [session.run(taps, {"input": x[i : i + 128]}) for i in range(0, len(x), 128)]
    return {t: np.concatenate([c[k] for c in chunks]) for k, t in enumerate(taps)}


def extract(bin_dir: pathlib.Path, work: pathlib.Path, name: str, model: str, layers: list[str],
            data: pathlib.Path) -> tuple[dict, float]:
    config = work / f"{name}.toml"
    model_lines = f'onnx = "{model}"' if model.endswith(".onnx") else (
        f'arch = "{model}"\nweights = "random"')
    config.write_text(
        f"layers = {json.dumps(layers)}\nout = \"{work / name}\"\nbatch_size = 128\n"
        f"[model]\nenv = \"cifar10\"\n{model_lines}\n[dataset]\ndata = \"{data}\"\n"
    )
    start = time.perf_counter()
    subprocess.run([str(bin_dir / "probe-extract"), "--config", str(config), "--force", "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    manifest = json.loads((work / name / "features/manifest.json").read_text())
    return manifest, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", type=pathlib.Path, required=True)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        data = work / "cifar"
        x = cifar_folder(data, args.n)
        worst = 0.0
        onnx_files = {}
        models = [
            ("resnet18", resnet18, resnet_taps, False),
            ("vit", vit, vit_taps, False),
            ("resnet18-dynamo", resnet18, dynamo_resnet_taps, True),
            ("vit-dynamo", vit, dynamo_vit_taps, True),
        ]
        for name, build, pick, dynamo in models:
            path = work / f"{name}.onnx"
            proto = export(build(), path, dynamo)
            onnx_files[name] = path
            taps = pick(proto)
            manifest, _ = extract(args.bin, work, name, str(path), taps, data)
            expected = onnxruntime_values(path, taps, x)
            opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
            external = " (weights in a .data file)" if (work / f"{name}.onnx.data").exists() else ""
            print(f"{name}: opset {opset}{external}, {len(proto.graph.node)} nodes, "
                  f"{len(taps)} values tapped, {manifest['n']} samples")
            for layer in manifest["layers"]:
                ours = load_file(layer["file"])["features"].reshape(manifest["n"], -1)
                ref = expected[layer["layer"]].reshape(len(x), -1)
                err = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-12))
                worst = max(worst, err)
                flag = "ok" if err <= 1e-4 else "TOO FAR"
                print(f"  {layer['layer']:<58} {str(layer['shape']):<16} rel err {err:.2e} {flag}")
        print(f"worst relative error: {worst:.2e} (limit 1e-4)")
        assert worst <= 1e-4, "an ONNX tap is further than 1e-4 from onnxruntime"

        # Throughput: the same stages of ResNet-18, built in and from ONNX, alternating.
        proto = onnx.load(str(onnx_files["resnet18"]))
        by_name = {n.name: n.output[0] for n in proto.graph.node}
        onnx_layers = [by_name[f"/layer{i}/layer{i}.1/relu_1/Relu"] for i in range(1, 5)]
        builtin_layers = [f"layer{i}" for i in range(1, 5)]
        best = {"built-in": 0.0, "onnx": 0.0}
        for _ in range(args.repeat):
            m, _ = extract(args.bin, work, "speed-builtin", "resnet18", builtin_layers, data)
            best["built-in"] = max(best["built-in"], m["images_per_second"])
            m, _ = extract(args.bin, work, "speed-onnx", str(onnx_files["resnet18"]),
                           onnx_layers, data)
            best["onnx"] = max(best["onnx"], m["images_per_second"])
        ratio = best["built-in"] / best["onnx"]
        print(f"ResNet-18 extraction, 4 stage outputs, {args.n} CIFAR-format images, CPU, best "
              f"of {args.repeat}: built-in {best['built-in']:.0f} samples/s, ONNX "
              f"{best['onnx']:.0f} samples/s: the ONNX model takes {ratio:.2f}x the built-in's "
              f"time (limit 1.5x)")


if __name__ == "__main__":
    main()
