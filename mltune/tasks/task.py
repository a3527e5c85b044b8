"""What a task decides: the target's encoding, the output layer, the loss, the metrics and the predictions.

One :class:`Task` per task owns what would otherwise be a ``task ==`` branch in every layer; look one up in
:data:`TASKS` by the recipe's ``task``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mltune.tasks.encoding import EPSILON, Encoding
from mltune.tasks.metrics import METRICS, score, unit_factor

if TYPE_CHECKING:
    import keras


class Task:
    """The behaviour one task shares across data, model, search and serving.

    Attributes:
        name: the recipe's ``task``.
        default_metric: the objective when a recipe names none.
        loss: the Keras loss the model trains on, unless :meth:`loss_for` chooses another.
        uses_target: whether the rows have a target column (an autoencoder's target is its input).
        stratified: whether splits keep the target's class proportions.
    """

    name: str = ""
    default_metric: str = ""
    loss: str = "mse"
    uses_target: bool = True
    stratified: bool = False

    def fit_encoding(self, features: list[str], x_train: np.ndarray, y_train: np.ndarray | None,
                     y_all: np.ndarray | None) -> Encoding:
        """The encoding fitted on the training rows (class labels come from every row)."""
        raise NotImplementedError

    def loss_for(self, metric: str, choice: str = "auto") -> str:
        """The Keras loss: ``choice``, or with ``auto`` the one that follows the objective (absolute error trains
        for MAE, squared error for MSE, RMSE and R², Huber on request)."""
        if choice == "auto":
            return "mean_absolute_error" if metric == "mae" else self.loss
        return {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber": "huber"}[choice]

    def targets(self, encoding: Encoding, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """What the model learns to output for these rows (float32)."""
        raise NotImplementedError

    def n_outputs(self, encoding: Encoding) -> int:
        raise NotImplementedError

    def output_layer(self, n_outputs: int) -> keras.layers.Layer:
        """The model's last layer: a linear head unless the task needs another."""
        import keras

        return keras.layers.Dense(n_outputs, name="prediction")

    def keras_metrics(self, metric: str, n_outputs: int) -> list[keras.metrics.Metric]:
        """Keras metrics to compile: the objective metric (classifiers add accuracy)."""
        import keras

        return [METRICS[metric].keras(keras, n_outputs)]

    def unit_factor(self, metric: str, encoding: Encoding) -> float:
        """Turns a Keras value on the model's scale into the target's units."""
        return 1.0

    def predictions(self, encoding: Encoding, output: np.ndarray) -> Any:
        """The model's raw output as answers: labels, numbers in target units, or reconstructed rows."""
        raise NotImplementedError

    def score(self, metric: str, encoding: Encoding, output: np.ndarray, x: np.ndarray,
              y_true: np.ndarray | None) -> float:
        """The metric on held-out rows, in the same units as the study's trials."""
        raise NotImplementedError

    def check_target(self, values: pd.Series, *, where: str) -> str | None:
        """Why this target column cannot be learned, or None when it can."""
        return None


class Classification(Task):
    name, default_metric, loss, stratified = "classification", "accuracy", "categorical_crossentropy", True

    def loss_for(self, metric: str, choice: str = "auto") -> str:
        return self.loss  # class probabilities train on cross-entropy, whatever the objective

    def fit_encoding(self, features: list[str], x_train: np.ndarray, y_train: np.ndarray | None,
                     y_all: np.ndarray | None) -> Encoding:
        assert y_all is not None
        return Encoding(task=self.name, features=features, labels=np.unique(y_all).tolist())

    def targets(self, encoding: Encoding, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        assert encoding.labels is not None and y is not None
        index = np.searchsorted(np.asarray(encoding.labels), y)
        return np.eye(len(encoding.labels), dtype=np.float32)[index]

    def n_outputs(self, encoding: Encoding) -> int:
        assert encoding.labels is not None
        return len(encoding.labels)

    def output_layer(self, n_outputs: int) -> keras.layers.Layer:
        import keras

        return keras.layers.Dense(n_outputs, activation="softmax", name="probabilities")

    def keras_metrics(self, metric: str, n_outputs: int) -> list[keras.metrics.Metric]:
        names = [metric] if metric == "accuracy" else ["accuracy", metric]
        build = super().keras_metrics
        return [m for name in names for m in build(name, n_outputs)]

    def predictions(self, encoding: Encoding, output: np.ndarray) -> Any:
        return np.asarray(encoding.labels)[np.argmax(output, axis=1)]

    def score(self, metric: str, encoding: Encoding, output: np.ndarray, x: np.ndarray,
              y_true: np.ndarray | None) -> float:
        assert y_true is not None
        return score(metric, y_true, output, labels=np.asarray(encoding.labels))


class Regression(Task):
    name, default_metric = "regression", "rmse"

    def fit_encoding(self, features: list[str], x_train: np.ndarray, y_train: np.ndarray | None,
                     y_all: np.ndarray | None) -> Encoding:
        assert y_train is not None
        y = y_train.astype(np.float64)
        return Encoding(task=self.name, features=features, target_mean=float(y.mean()),
                        target_std=float(max(y.std(), EPSILON)))

    def targets(self, encoding: Encoding, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        assert y is not None
        return ((y.astype(np.float64) - encoding.target_mean) / encoding.target_std).astype(np.float32)

    def n_outputs(self, encoding: Encoding) -> int:
        return 1

    def unit_factor(self, metric: str, encoding: Encoding) -> float:
        return unit_factor(metric, encoding.target_std)

    def predictions(self, encoding: Encoding, output: np.ndarray) -> Any:
        return output[:, 0] * encoding.target_std + encoding.target_mean

    def score(self, metric: str, encoding: Encoding, output: np.ndarray, x: np.ndarray,
              y_true: np.ndarray | None) -> float:
        assert y_true is not None
        return score(metric, y_true, self.predictions(encoding, output))

    def check_target(self, values: pd.Series, *, where: str) -> str | None:
        if pd.api.types.is_numeric_dtype(values):
            return None
        text = values.dropna().map(str)
        odd = text[pd.to_numeric(text, errors="coerce").isna()]
        example = f", e.g. {odd.iloc[0]!r} ({len(odd)} of {len(text)} filled cells)" if len(odd) else ""
        return f"a regression target must be numeric, but column {where!r} holds text{example}"


class Reconstruction(Task):
    """An autoencoder: the target is the (standardized) input itself."""

    name, default_metric, uses_target = "autoencoder", "mse", False

    def fit_encoding(self, features: list[str], x_train: np.ndarray, y_train: np.ndarray | None,
                     y_all: np.ndarray | None) -> Encoding:
        x = x_train.astype(np.float64)
        return Encoding(task=self.name, features=features, feature_mean=x.mean(axis=0).tolist(),
                        feature_std=np.maximum(x.std(axis=0), EPSILON).tolist())

    def targets(self, encoding: Encoding, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        return encoding.standardize_features(x.astype(np.float64)).astype(np.float32)

    def n_outputs(self, encoding: Encoding) -> int:
        return len(encoding.features)

    def predictions(self, encoding: Encoding, output: np.ndarray) -> Any:
        assert encoding.feature_mean is not None and encoding.feature_std is not None
        raw = output * np.asarray(encoding.feature_std) + np.asarray(encoding.feature_mean)
        return pd.DataFrame(raw, columns=encoding.features)

    def score(self, metric: str, encoding: Encoding, output: np.ndarray, x: np.ndarray,
              y_true: np.ndarray | None) -> float:
        return score(metric, encoding.standardize_features(x.astype(np.float64)), output)


TASKS: dict[str, Task] = {task.name: task for task in (Classification(), Regression(), Reconstruction())}
