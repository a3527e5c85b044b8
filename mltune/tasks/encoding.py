"""How raw rows map to a Keras model's inputs and outputs: plain data, saved beside every model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

EPSILON = 1e-7


@dataclass(frozen=True)
class Encoding:
    """How raw rows map to the Keras model's inputs and outputs.

    Attributes:
        task: "classification", "regression" or "autoencoder".
        features: input columns, in order.
        labels: class labels in output order (classification).
        target_mean: mean of the training targets (regression; the model predicts standardized values).
        target_std: standard deviation of the training targets (regression).
        feature_mean: per-feature means (autoencoder; the model reconstructs standardized features).
        feature_std: per-feature standard deviations (autoencoder).
        columns: the table's columns as the model takes them (name, kind, reason, order, dtype, missing; see
            ``mltune.data.columns.Column``); None for a model that takes one float matrix of ``features``
            (autoencoders, and every model mltune 0.1.0 registered).
        image_shape: (height, width, channels) of image rows (a ``.npz`` file), for families that reshape them.
    """

    task: str
    features: list[str]
    labels: list[Any] | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    feature_mean: list[float] | None = None
    feature_std: list[float] | None = None
    columns: list[dict[str, Any]] | None = None
    image_shape: list[int] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_plain)

    @classmethod
    def from_json(cls, text: str) -> Encoding:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def standardize_features(self, x: np.ndarray) -> np.ndarray:
        assert self.feature_mean is not None and self.feature_std is not None
        return (x - np.asarray(self.feature_mean)) / np.asarray(self.feature_std)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)
