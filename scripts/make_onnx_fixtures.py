"""Writes the ONNX test fixtures of crates/probe-models/tests/fixtures/onnx/ (each under 1 MB):

- cnn.onnx: a small CNN on 1x28x28 inputs with Conv, BatchNormalization (kept, not folded),
  Relu, a residual Add, MaxPool, GlobalAveragePool, Flatten and Gemm;
- vit.onnx: one transformer block on 7x7 patches of a 1x28x28 input: a patch Conv, Reshape,
  Transpose, Add (positions), LayerNormalization, MatMul, Softmax, GELU (Erf), Gemm;

- cnn_dynamo.onnx, vit_dynamo.onnx: the same networks (other weights) by torch's default
  (dynamo) exporter at opset 20, weights in NAME.onnx.data beside the model;

and beside each, NAME.expected.safetensors: a seeded input batch (`input`, 4 samples) and
onnxruntime's outputs for the intermediate values listed in NAME.taps.txt, which the Rust
tests compare against (relative error <= 1e-4).

    python scripts/make_onnx_fixtures.py   # needs torch, onnx, onnxruntime, safetensors
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors.numpy import save_file
from torch import nn

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/probe-models/tests/fixtures/onnx"


class SmallResCnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn1(self.conv1(x)))
        b = torch.relu(self.bn2(self.conv2(a)) + a)
        c = torch.relu(self.conv3(self.pool(b)))
        return self.fc(torch.flatten(self.gap(c), 1))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.proj(y)
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class TinyVit(nn.Module):
    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, dim, 7, stride=7)
        self.pos = nn.Parameter(torch.randn(1, 16, dim) * 0.1)
        self.block = Block(dim, heads=4)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        x = self.norm(self.block(x))
        return self.head(x.mean(dim=1))


def export(
    model: nn.Module, name: str, taps_wanted: list[str], ops: set[str] | None = None
) -> None:
    """TorchScript export at opset 17 with `taps_wanted`; with `ops`, torch's default (dynamo)
    export at opset 20, tapping every output of those operators, its weights saved beside
    the model (NAME.onnx.data), as that exporter does for large models."""
    model.eval()
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    path = OUT / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ops is None:
            torch.onnx.export(
                model,
                (x,),
                str(path),
                dynamo=False,
                opset_version=17,
                do_constant_folding=False,
                training=torch.onnx.TrainingMode.PRESERVE,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        else:
            program = torch.onnx.export(
                model,
                (x,),
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
            data = OUT / f"{name}.onnx.data"
            data.unlink(missing_ok=True)
            onnx.save_model(
                program.model_proto,
                str(path),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data.name,
                size_threshold=0,
            )
    proto = onnx.load(str(path))
    if ops is not None:
        taps_wanted = [n.output[0] for n in proto.graph.node if n.op_type in ops]
    produced = [o for n in proto.graph.node for o in n.output]
    taps = [t for t in taps_wanted if t in produced] + ["logits"]
    missing = [t for t in taps_wanted if t not in produced]
    assert not missing, f"{name}: not in the graph: {missing}; it has {produced}"
    # onnxruntime returns intermediate values once they are graph outputs.
    probe = onnx.load(str(path))
    for t in taps[:-1]:
        probe.graph.output.append(onnx.ValueInfoProto(name=t))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(taps, {"input": x.numpy()})
    expected = {"input": x.numpy()}
    expected.update({t: np.ascontiguousarray(o, dtype=np.float32) for t, o in zip(taps, outputs)})
    with torch.no_grad():
        torch_logits = model(x).numpy()
    assert np.allclose(expected["logits"], torch_logits, atol=1e-5), "onnxruntime != torch"
    save_file(expected, str(OUT / f"{name}.expected.safetensors"))
    (OUT / f"{name}.taps.txt").write_text("\n".join(taps) + "\n")
    kinds = sorted({n.op_type for n in proto.graph.node})
    files = [path, OUT / f"{name}.expected.safetensors", OUT / f"{name}.onnx.data"]
    size = sum(f.stat().st_size for f in files if f.exists())
    print(f"{name}: {len(proto.graph.node)} nodes, ops {kinds}; {len(taps)} taps; {size} bytes")


def main() -> None:
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    cnn = SmallResCnn()
    # Running statistics that are not the identity, so BatchNormalization is tested.
    for bn in (cnn.bn1, cnn.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    export(
        cnn,
        "cnn",
        [
            "/conv1/Conv_output_0",
            "/bn1/BatchNormalization_output_0",
            "/Relu_output_0",
            "/Add_output_0",
            "/pool/MaxPool_output_0",
            "/Relu_2_output_0",
            "/gap/GlobalAveragePool_output_0",
            "/Flatten_output_0",
        ],
    )
    export(
        TinyVit(),
        "vit",
        [
            "/Add_output_0",
            "/block/ln1/LayerNormalization_output_0",
            "/block/Softmax_output_0",
            "/block/Add_output_0",
            "/block/act/Mul_1_output_0",
            "/block/Add_1_output_0",
            "/norm/LayerNormalization_output_0",
            "/ReduceMean_output_0",
        ],
    )
    dynamo_fixtures()


def dynamo_fixtures() -> None:
    torch.manual_seed(1)
    # Opset 20: AdaptiveAvgPool2d becomes ReduceMean with its axes as an input.
    export(SmallResCnn(), "cnn_dynamo", [], ops={"Conv", "Relu", "Add", "MaxPool", "ReduceMean"})
    # Shape with start/end, Gelu and LayerNormalization as opset 20 writes them.
    export(TinyVit(), "vit_dynamo", [], ops={"Conv", "LayerNormalization", "Softmax", "Gelu"})


if __name__ == "__main__":
    main()
