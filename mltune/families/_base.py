"""The extension point for model families: build a Keras model from hyperparameters and data shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import keras
    import numpy as np

    from mltune.families.hyperparameters import Hyperparameter


@dataclass(frozen=True)
class InputShape:
    """What a family needs to know about the data.

    Attributes:
        n_features: number of input columns.
        n_outputs: number of classes (classification), 1 (regression) or n_features (autoencoder).
        task: "classification", "regression" or "autoencoder".
        mean: per-feature mean of the training rows, baked into the model's Normalization layer.
        variance: per-feature variance of the training rows.
        image_shape: (height, width[, channels]) of image rows, for families that reshape them (``cnn``); None
            lets such a family infer square images from ``n_features``.
    """

    n_features: int
    n_outputs: int
    task: str
    mean: np.ndarray
    variance: np.ndarray
    image_shape: tuple[int, ...] | None = None


class ModelFamily(Protocol):
    """A kind of model mltune can tune.

    Adding a family is one new module with a class like this and one line in ``families/__init__.py``.
    ``build`` returns an uncompiled model that takes raw feature rows: scaling happens inside it.
    """

    tasks: tuple[str, ...]
    hyperparameters: dict[str, Hyperparameter]

    def build(self, params: dict[str, Any], shape: InputShape) -> keras.Model: ...


def layer_units(params: dict[str, Any]) -> list[int]:
    """Units of each hidden layer: ``units_i`` when sampled per layer, else ``units`` for every layer."""
    n_layers = int(params["n_layers"])
    return [int(params.get(f"units_{i}", params["units"])) for i in range(n_layers)]


def regularizer(params: dict[str, Any]) -> Any:
    """An L1/L2 kernel regularizer, or None when both are zero."""
    import keras

    l1, l2 = float(params.get("l1", 0.0)), float(params.get("l2", 0.0))
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
