"""Type stubs of the Rust extension module (crates/probe-py). Use the package's functions;
these are their engine calls, with settings as JSON and results as JSON."""

import os
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, "os.PathLike[str]"]

__version__: str

def alpha(
    features: Union[npt.NDArray[np.float32], npt.NDArray[np.float64]],
    labels: npt.NDArray[np.int64],
    shape: List[int],
    probe: str,
    layer: str,
    reduce_to: Optional[int] = None,
    reduce_method: str = "tsvd",
    threads: Optional[int] = None,
) -> str: ...
def alpha_from_norms(
    norms: npt.NDArray[np.float64],
    trees: int,
    epsilon: float = 0.1,
    epsilon_high: Optional[float] = None,
) -> str: ...
def score_files(
    paths: List[str],
    probe: str,
    reduce_to: Optional[int] = None,
    reduce_method: str = "tsvd",
    threads: Optional[int] = None,
) -> str: ...
def save_results(results: str, path: _Path) -> None: ...
def load_results(path: _Path) -> str: ...
def reduce(
    x: npt.NDArray[np.float32],
    dim: int,
    method: str = "tsvd",
    seed: int = 0,
    threads: Optional[int] = None,
) -> Tuple[npt.NDArray[np.float32], float]: ...
def report(runs: List[str], out: _Path) -> str: ...
def read_features(
    path: _Path,
) -> Tuple[
    Union[npt.NDArray[np.float32], npt.NDArray[np.float64]],
    npt.NDArray[np.int64],
    Dict[str, str],
    List[int],
]: ...
def write_features(
    path: _Path,
    features: npt.NDArray[np.float32],
    shape: List[int],
    labels: npt.NDArray[np.int64],
    metadata: Dict[str, str],
) -> None: ...

class FeatureWriter:
    def __init__(self, path: _Path, shape: List[int], metadata: Dict[str, str]) -> None: ...
    def append(self, rows: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]) -> None: ...
    @property
    def rows_written(self) -> int: ...
    def finish(self) -> str: ...
    def abort(self) -> None: ...
