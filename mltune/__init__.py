"""mltune: tune Keras models with Optuna inside MLflow workflows.

Importing the package is cheap: MLflow and TensorFlow load only when a study runs. The Python API
(``mltune.Tuner``, ``mltune.Objective``, ``mltune.tune``, ``mltune.promote``) is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mltune.api import promote, tune
    from mltune.flows.tuner import BayesianOptimization, GridSearch, Hyperband, RandomSearch, Tuner
    from mltune.search.keras_tuner import HyperModel, HyperParameters, Objective

__version__ = "0.1.0"
__all__ = ["BayesianOptimization", "GridSearch", "HyperModel", "HyperParameters", "Hyperband", "Objective",
           "RandomSearch", "Tuner", "__version__", "promote", "tune"]

_LAZY = {"Tuner": ".flows.tuner", "Objective": ".search.keras_tuner", "tune": ".api", "promote": ".api",
         # KerasTuner's names, so that `import mltune as keras_tuner` runs a KerasTuner script
         "RandomSearch": ".flows.tuner", "BayesianOptimization": ".flows.tuner", "Hyperband": ".flows.tuner",
         "GridSearch": ".flows.tuner",
         "HyperModel": ".search.keras_tuner", "HyperParameters": ".search.keras_tuner"}


def __getattr__(name: str) -> Any:
    """Imports the public API on first use, so that ``import mltune`` (and ``mltune --help``) stays light."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    if name in ("tuners", "oracles", "errors", "engine", "applications"):  # KerasTuner's: kt.tuners.Hyperband...
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mltune' has no attribute {name!r}")
