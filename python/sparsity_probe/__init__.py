"""The Sparsity Probe from Python: alpha-scores of layer representations, by a Rust engine.

``alpha`` scores one layer held in a numpy array, ``score_files`` scores feature-set files
(the format the command-line tools write), ``reduce`` is the engine's truncated SVD, and
``sparsity_probe.torch.probe`` hooks any PyTorch model. Long calls release the GIL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

__version__: str = _core.__version__

__all__ = [
    "FeatureFile",
    "LayerResult",
    "Results",
    "alpha",
    "alpha_from_norms",
    "read_features",
    "reduce",
    "report",
    "score_files",
    "write_features",
]

PathLike = Union[str, "os.PathLike[str]"]

# The probe's settings, as in a run config's [probe] section and probe-alpha's flags.
_DEFAULTS: Dict[str, Any] = {
    "trees": 5,
    "depth": 15,
    "max_features": "sqrt",
    "splitter": "binned",
    "seed": 2,
    "epsilon": 0.1,
    "norm": "samples",
    "clustering": False,
    "embedding": None,
    "embedding_points": 2500,
    "repeats": 1,
    "resample": None,
}


def _probe_settings(settings: Mapping[str, Any]) -> str:
    unknown = sorted(set(settings) - set(_DEFAULTS))
    if unknown:
        raise TypeError(
            f"unknown setting(s) {', '.join(unknown)}; the settings are {', '.join(_DEFAULTS)}"
        )
    merged = {**_DEFAULTS, **settings}
    merged["max_features"] = str(merged["max_features"])
    for optional in ("embedding", "resample"):
        if merged[optional] is None:
            del merged[optional]
    return json.dumps(merged)


class LayerResult:
    """One layer's record in ``results.json``: every field is an attribute (``alpha``,
    ``alphas``, ``critical_taus``, ``band``, ``n``, ``d``, ``flag``, ``clustering``, ...)."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._record: Dict[str, Any] = dict(record)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_record"][name]
        except KeyError:
            raise AttributeError(f"a layer result has no field {name!r}") from None

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._record))

    def to_dict(self) -> Dict[str, Any]:
        """The record as written to ``results.json``."""
        return dict(self._record)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LayerResult) and other._record == self._record

    def __repr__(self) -> str:
        r = self._record
        flag = f", flag={r['flag']!r}" if r.get("flag") else ""
        return (
            f"LayerResult(layer={r['layer']!r}, alpha={r['alpha']:.4f}, n={r['n']}, "
            f"d={r['d']}{flag})"
        )


class Results:
    """Scored layers in order (flagged against each other), the files that failed, and the
    settings: the ``results.json`` schema of the command-line tools."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data: Dict[str, Any] = dict(data)
        self.layers: List[LayerResult] = [LayerResult(r) for r in data["layers"]]
        self.failures: List[Dict[str, str]] = list(data.get("failures", []))
        self.settings: Dict[str, Any] = dict(data["settings"])
        #: A sweep (``probe run`` with ``[model] checkpoints``): each checkpoint's results by
        #: name, in sweep order; ``layers`` above are then the last checkpoint's.
        self.checkpoints: Dict[str, Results] = {
            c["checkpoint"]: Results(
                {
                    "tool": data.get("tool"),
                    "version": data.get("version"),
                    "settings": data["settings"],
                    **{k: v for k, v in c.items() if k != "checkpoint"},
                }
            )
            for c in data.get("checkpoints", [])
        }
        #: The training epoch of a sweep checkpoint's weights, when known.
        self.epoch: Optional[int] = data.get("epoch")

    @classmethod
    def _from_json(cls, text: str) -> "Results":
        return cls(json.loads(text))

    @classmethod
    def load(cls, path: PathLike) -> "Results":
        """Reads and checks a ``results.json``."""
        return cls._from_json(_core.load_results(os.fspath(path)))

    def to_dict(self) -> Dict[str, Any]:
        """Everything, as written to ``results.json``."""
        data = dict(self._data)
        data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    def save(self, path: PathLike) -> None:
        """Writes ``results.json`` atomically (a temporary file, then a rename)."""
        _core.save_results(json.dumps(self.to_dict()), os.fspath(path))

    def to_pandas(self) -> Any:
        """One row per layer (scalar fields; clustering metrics as ``clustering_*``)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install pandas") from e
        rows = []
        for layer in self.layers:
            row = {k: v for k, v in layer.to_dict().items() if not isinstance(v, (list, dict))}
            for k, v in (layer.to_dict().get("clustering") or {}).items():
                row[f"clustering_{k}"] = v
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def alphas(self) -> Dict[str, float]:
        """Alpha per layer name."""
        return {layer.layer: layer.alpha for layer in self.layers}

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[LayerResult]:
        return iter(self.layers)

    def __getitem__(self, key: Union[int, str]) -> LayerResult:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.layer == key:
                    return layer
            raise KeyError(f"no layer {key!r}; the layers are {[x.layer for x in self.layers]}")
        return self.layers[key]

    def __repr__(self) -> str:
        failed = f", {len(self.failures)} failed" if self.failures else ""
        return f"Results({len(self.layers)} layers{failed}: {self.alphas})"


def _as_matrix(features: Any) -> Tuple[np.ndarray, List[int]]:
    """A C-contiguous float32/float64 n x d view of ``features`` (rank >= 2, flattened per
    sample), copied only when it is not one already; and its original shape."""
    x = np.asarray(features)
    if x.ndim < 2:
        raise ValueError(
            f"features must have one row per sample (rank 2 or more); got shape {x.shape}"
        )
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    elif x.dtype not in (np.float32, np.float64):
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"features must be floating point; got dtype {x.dtype}")
        x = x.astype(np.float64)
    shape = [int(s) for s in x.shape]
    x = np.ascontiguousarray(x).reshape(shape[0], int(np.prod(shape[1:])))
    return x, shape


def _as_labels(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"labels must be one integer per sample; got shape {y.shape}")
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"labels must be integers; got dtype {y.dtype}")
    if len(y) != n:
        raise ValueError(f"{n} samples but {len(y)} labels")
    return np.ascontiguousarray(y, dtype=np.int64)


def alpha(
    features: Any,
    labels: Any,
    *,
    trees: int = 5,
    depth: int = 15,
    max_features: Union[str, int, float] = "sqrt",
    splitter: str = "binned",
    seed: int = 2,
    epsilon: float = 0.1,
    norm: str = "samples",
    reduce_to: Optional[int] = None,
    reduce_method: str = "tsvd",
    clustering: bool = False,
    repeats: int = 1,
    resample: Optional[float] = None,
    layer: str = "features",
    threads: Optional[int] = None,
) -> LayerResult:
    """The alpha-score of one layer's representation of a labelled set.

    ``features`` is an array of one row per sample (rank >= 2, flattened per sample;
    float16/32/64; a C-contiguous float32 array is read in place), ``labels`` one integer
    class per sample. Settings are probe-alpha's; ``reduce_to`` first reduces a wider layer
    to that many dimensions; ``repeats=R`` scores R forests (seeds seed, seed + 1, ...) and
    adds ``alpha_mean``, ``alpha_std``, ``alpha_ci`` (95%, Student's t) and
    ``alphas_by_repeat``, with ``alpha`` their mean; ``resample=F`` has each of them draw a
    stratified subsample of a fraction F of the samples, so that the interval covers the
    data as well as the forest. Raises ValueError with the engine's
    message for bad data (non-finite values, one class, mismatched lengths) or bad settings.
    """
    x, shape = _as_matrix(features)
    y = _as_labels(labels, shape[0])
    probe = _probe_settings(
        dict(
            trees=trees,
            depth=depth,
            max_features=max_features,
            splitter=splitter,
            seed=seed,
            epsilon=epsilon,
            norm=norm,
            clustering=clustering,
            repeats=repeats,
            resample=resample,
        )
    )
    text = _core.alpha(x, y, shape, probe, layer, reduce_to, reduce_method, threads)
    return Results._from_json(text).layers[0]


def alpha_from_norms(
    norms: Any, trees: int, *, epsilon: float = 0.1, epsilon_high: Optional[float] = None
) -> Dict[str, Any]:
    """The estimator alone: alpha from the non-zero wavelet norms of any forest of ``trees``
    trees (SPEC section 3). Returns ``alpha``, ``alphas`` and ``critical_taus`` per epsilon,
    ``band``, ``epsilons``, ``taus``, ``s_curve``, ``angle_curve``, ``n_wavelets``."""
    values = np.ascontiguousarray(np.asarray(norms, dtype=np.float64).reshape(-1))
    return dict(json.loads(_core.alpha_from_norms(values, trees, epsilon, epsilon_high)))


def score_files(
    paths: Union[PathLike, Sequence[PathLike]],
    *,
    reduce_to: Optional[int] = None,
    reduce_method: str = "tsvd",
    threads: Optional[int] = None,
    **settings: Any,
) -> Results:
    """Scores feature-set files in order (paths, or glob patterns such as
    ``"runs/x/features/*.safetensors"``), then flags each layer against the one before it.

    A file that cannot be scored is listed in ``Results.failures`` and the others still
    run. ``settings`` are those of :func:`alpha` (trees, depth, max_features, splitter, seed,
    epsilon, norm, clustering, embedding, embedding_points, repeats, resample).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    names = [os.fspath(p) for p in paths]
    text = _core.score_files(names, _probe_settings(settings), reduce_to, reduce_method, threads)
    return Results._from_json(text)


def reduce(
    x: Any, dim: int, method: str = "tsvd", seed: int = 0, threads: Optional[int] = None
) -> Tuple[np.ndarray, float]:
    """Reduces an n x d array (rank >= 2, flattened per sample) to ``dim`` dimensions with
    the engine's truncated SVD (``method="tsvd"``, no centring, the original tool's) or PCA
    (``"pca"``), randomized or through the Gram matrix, whichever costs less. Returns the
    n x K float32 array and the explained variance ratio; K is capped at min(n, d)."""
    m, _ = _as_matrix(x)
    return _core.reduce(np.ascontiguousarray(m, dtype=np.float32), dim, method, seed, threads)


class FeatureFile:
    """A feature-set file read into memory."""

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        metadata: Dict[str, str],
        sample_shape: List[int],
    ) -> None:
        self.features = features
        """n x d, float32 (float64 when the file holds F64)."""
        self.labels = labels
        """One raw integer label per sample."""
        self.metadata = metadata
        """The file's metadata (``layer``, ``layer_index``, ``reduction``, ...)."""
        self.sample_shape = sample_shape
        """Per-sample shape, e.g. [C, H, W] for a convolutional layer ([d] when unknown)."""

    @property
    def layer(self) -> str:
        return self.metadata.get("layer", "")

    def __iter__(self) -> Iterator[Any]:
        return iter((self.features, self.labels))

    def __repr__(self) -> str:
        n, d = self.features.shape
        return f"FeatureFile(layer={self.layer!r}, n={n}, d={d}, dtype={self.features.dtype})"


def read_features(path: PathLike) -> FeatureFile:
    """Reads a feature-set file (any the command-line tools read); ``features, labels =
    read_features(path)`` unpacks it."""
    features, labels, metadata, sample_shape = _core.read_features(os.fspath(path))
    return FeatureFile(features, labels, dict(metadata), list(sample_shape))


def write_features(
    path: PathLike,
    features: Any,
    labels: Any,
    *,
    layer: Optional[str] = None,
    layer_index: Optional[int] = None,
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Writes a feature-set file atomically: features as float32 (rank >= 2; the per-sample
    shape is kept), labels as int64, ``layer``/``layer_index`` and ``metadata`` in the
    header. The file opens with every command-line tool."""
    x, shape = _as_matrix(features)
    y = _as_labels(labels, shape[0])
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    if layer is not None:
        meta["layer"] = layer
    if layer_index is not None:
        meta["layer_index"] = str(int(layer_index))
    _core.write_features(os.fspath(path), np.ascontiguousarray(x, dtype=np.float32), shape, y, meta)


def report(runs: Union[PathLike, Sequence[PathLike]], out: Optional[PathLike] = None) -> Path:
    """Draws the report of one run folder (or compares several) as ``probe report`` does;
    returns the path of ``report.html`` (in ``out``, by default the run's folder)."""
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs]
    dirs = [os.fspath(r) for r in runs]
    if out is None:
        if len(dirs) != 1:
            raise ValueError("comparing several runs needs out=, the folder for the report")
        out = dirs[0]
    return Path(_core.report(dirs, os.fspath(out)))


def __getattr__(name: str) -> Any:
    # `sparsity_probe.torch` on first use, so that importing the package never imports torch.
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'sparsity_probe' has no attribute {name!r}")
