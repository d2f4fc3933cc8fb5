"""Probing any PyTorch model: forward hooks stream the chosen layers' activations into
feature-set files batch by batch, then the Rust engine scores every layer.

Memory stays at one batch per layer whatever the dataset's size: nothing is held whole.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from . import Results, _core, report, score_files

__all__ = ["extract", "layers", "probe"]

#: The name that taps the model's input itself (as probe-extract's ``input`` layer).
INPUT = "input"

Data = Union[
    "torch.utils.data.DataLoader[Any]",
    "torch.utils.data.Dataset[Any]",
    Tuple[Any, Any],
]


def _modules(model: nn.Module) -> Dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if name}


def _resolve(model: nn.Module, names: Sequence[str]) -> List[Tuple[str, Optional[nn.Module]]]:
    """Each name's module (None for the input); an unknown name is a ValueError that lists
    the closest names and every available one."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("no layers to probe; sparsity_probe.torch.layers(model) lists them")
    if len(set(names)) != len(names):
        raise ValueError(
            f"layers are listed twice: {sorted({n for n in names if names.count(n) > 1})}"
        )
    available = _modules(model)
    out: List[Tuple[str, Optional[nn.Module]]] = []
    for name in names:
        if name in available:
            out.append((name, available[name]))
        elif name == INPUT:
            out.append((name, None))
        else:
            close = difflib.get_close_matches(name, list(available), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"the model has no module {name!r}{hint}; its modules are: "
                f"{', '.join(available) or '(none)'}; '{INPUT}' taps the input"
            )
    return out


def _batches(data: Any, batch_size: int) -> Tuple[int, Iterable[Any]]:
    """(samples in all, an iterable of (x, y) batches) for a DataLoader, a Dataset or a pair."""
    if isinstance(data, torch.utils.data.DataLoader):
        # The samples the loader yields, as counted by its (batch) sampler.
        try:
            if data.batch_sampler is not None:
                return sum(len(batch) for batch in data.batch_sampler), data
            return len(data.sampler), data  # type: ignore[arg-type]
        except TypeError as e:
            raise ValueError(
                "the DataLoader's sampler has no length; probing needs the number of samples"
            ) from e
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (torch.as_tensor(np.asarray(v)) if not torch.is_tensor(v) else v for v in data)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        return len(x), (
            (x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)
        )
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
        return len(data), loader  # type: ignore[arg-type]
    raise TypeError(
        "data must be a DataLoader yielding (inputs, labels), a sized Dataset of (input, label), "
        f"or a pair (inputs, labels); got {type(data).__name__}"
    )


def _split(batch: Any) -> Tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        raise TypeError("batches must be (inputs, labels) pairs, not dicts")
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError("each batch must be an (inputs, labels) pair")
    return batch[0], torch.as_tensor(batch[1])


def _device(model: nn.Module, device: Optional[Union[str, torch.device]]) -> torch.device:
    if device is not None:
        return torch.device(device)
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _first_tensor(output: Any) -> torch.Tensor:
    if torch.is_tensor(output):
        return output
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    raise TypeError(f"a hooked module returned {type(output).__name__}, not a tensor")


def layers(model: nn.Module, sample: Optional[Any] = None) -> Dict[str, Optional[Tuple[int, ...]]]:
    """Every module name that ``probe`` accepts, in order, with its output's per-sample
    shape for ``sample`` (one batch of inputs) when given (None otherwise, and for modules
    that the forward pass does not reach)."""
    modules = _modules(model)
    shapes: Dict[str, Optional[Tuple[int, ...]]] = {INPUT: None, **{n: None for n in modules}}
    if sample is None:
        return shapes
    device = _device(model, None)
    hooks = []

    def record(name: str) -> Any:
        def hook(_m: nn.Module, _i: Any, output: Any) -> None:
            try:
                shapes[name] = tuple(_first_tensor(output).shape[1:])
            except TypeError:
                pass

        return hook

    for name, m in modules.items():
        hooks.append(m.register_forward_hook(record(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            x = torch.as_tensor(sample).to(device)
            shapes[INPUT] = tuple(x.shape[1:])
            model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return shapes


class _Tap:
    """One layer's writer: created at the first batch (when the shape is known)."""

    def __init__(self, name: str, index: int, path: Path, n: int, model_name: str) -> None:
        self.name, self.index, self.path, self.n = name, index, path, n
        self.model_name = model_name
        self.writer: Optional[Any] = None
        self.batch: Optional[np.ndarray] = None
        self.calls = 0
        self.warned = False

    def capture(self, output: Any) -> None:
        self.calls += 1
        t = _first_tensor(output).detach()
        # One copy to host float32, flattened per sample; the writer reads it in place.
        self.batch = np.ascontiguousarray(
            t.to("cpu", torch.float32).reshape(t.shape[0], -1).numpy()
        )
        if self.writer is None:
            meta = {
                "layer": self.name,
                "layer_index": str(self.index),
                "source": "sparsity_probe.torch",
                "model": self.model_name,
            }
            self.writer = _core.FeatureWriter(
                os.fspath(self.path), [self.n, *[int(s) for s in t.shape[1:]]], meta
            )

    def flush(self, labels: np.ndarray) -> None:
        if self.batch is None:
            raise RuntimeError(f"layer {self.name!r} was not reached by the forward pass")
        if self.calls > 1 and not self.warned:
            self.warned = True
            warnings.warn(
                f"module {self.name!r} runs {self.calls} times per forward pass (a shared "
                "module); its last output is probed",
                stacklevel=4,
            )
        assert self.writer is not None
        self.writer.append(self.batch, labels)
        self.batch, self.calls = None, 0


def _file_name(index: int, name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return f"{index:02d}_{safe}.safetensors"


def extract(
    model: nn.Module,
    data: Data,
    layers: Sequence[str],
    out: Union[str, "os.PathLike[str]"],
    *,
    batch_size: int = 256,
    device: Optional[Union[str, torch.device]] = None,
) -> List[Path]:
    """One forward pass over ``data`` in eval mode under ``torch.no_grad()``, streaming
    every listed layer's output into ``out/NN_<layer>.safetensors`` (the feature-set format
    of probe-extract) batch by batch. Returns the files, in the order of ``layers``.

    Each file is written to a temporary name and renamed when complete: an interrupted pass
    leaves no partial file behind (and keeps any earlier complete one).
    """
    taps_by_name = _resolve(model, layers)
    n, batches = _batches(data, batch_size)
    if n < 2:
        raise ValueError(f"probing needs at least 2 samples; the data has {n}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    dev = _device(model, device)
    model_name = type(model).__name__
    taps = [
        _Tap(name, i, folder / _file_name(i, name), n, model_name)
        for i, (name, _m) in enumerate(taps_by_name)
    ]
    hooks = []
    for tap, (_name, module) in zip(taps, taps_by_name):
        if module is not None:
            hooks.append(module.register_forward_hook(lambda _m, _i, o, tap=tap: tap.capture(o)))
    input_taps = [t for t, (_n, m) in zip(taps, taps_by_name) if m is None]
    was_training = model.training
    seen = 0
    try:
        model.eval()
        with torch.no_grad():
            for batch in batches:
                x, y = _split(batch)
                labels = np.ascontiguousarray(y.reshape(-1).cpu().numpy(), dtype=np.int64)
                if len(labels) != len(x):
                    raise ValueError(f"a batch has {len(x)} inputs but {len(labels)} labels")
                x = x.to(dev)
                for tap in input_taps:
                    tap.capture(x)
                if len(taps) > len(input_taps):
                    model(x)
                for tap in taps:
                    tap.flush(labels)
                seen += len(labels)
        if seen != n:
            raise ValueError(f"the data yielded {seen} samples, not the {n} its length says")
        return [Path(t.writer.finish()) for t in taps if t.writer is not None]
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
        for t in taps:
            if t.writer is not None:
                t.writer.abort()


def probe(
    model: nn.Module,
    data: Data,
    layers: Sequence[str],
    *,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    reduce_to: Optional[int] = 2500,
    reduce_method: str = "tsvd",
    batch_size: int = 256,
    device: Optional[Union[str, torch.device]] = None,
    threads: Optional[int] = None,
    **settings: Any,
) -> Results:
    """Alpha-scores of ``layers`` (module names, as ``model.get_submodule`` takes; ``"input"``
    for the input) on ``data`` (a DataLoader yielding (inputs, labels), a sized Dataset, or
    a pair of tensors).

    The activations are streamed to feature-set files (under ``out/features/``, or a
    temporary folder removed afterwards when ``out`` is None), then each layer wider than
    ``reduce_to`` is reduced (truncated SVD, as the original tool) and scored by the engine
    with the GIL released. ``settings`` are those of :func:`sparsity_probe.alpha`. With
    ``out``, ``out/results.json`` and the report (``out/report.html``) are written too.
    """
    if out is None:
        with tempfile.TemporaryDirectory(prefix="sparsity-probe-") as tmp:
            files = extract(model, data, layers, tmp, batch_size=batch_size, device=device)
            return score_files(
                files, reduce_to=reduce_to, reduce_method=reduce_method, threads=threads, **settings
            )
    run = Path(out)
    files = extract(model, data, layers, run / "features", batch_size=batch_size, device=device)
    results = score_files(
        files, reduce_to=reduce_to, reduce_method=reduce_method, threads=threads, **settings
    )
    if results.layers:
        results.save(run / "results.json")
        report(run)
    return results
