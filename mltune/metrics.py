"""Objective metrics: which task they fit, their direction, and how to compute them.

Each metric is computed twice, the same way: per epoch by Keras inside ``fit`` (cheap, feeds pruning and the
learning curves) and on held-out rows by scikit-learn (promotion). Regression models train on standardized
targets; ``unit_power`` converts the Keras value back to the target's own units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import keras

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Metric:
    """An objective metric.

    Attributes:
        name: the recipe's name for it, also the Keras metric name (``val_<name>`` per epoch).
        tasks: the tasks it applies to.
        direction: "maximize" or "minimize".
        unit_power: the standardized Keras value times ``target_std ** unit_power`` is in target units.
    """

    name: str
    tasks: tuple[str, ...]
    direction: Direction
    unit_power: int = 0


_CLASSIFICATION = ("classification",)
_NUMERIC = ("regression", "autoencoder")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _CLASSIFICATION, "maximize"),
        Metric("f1_macro", _CLASSIFICATION, "maximize"),
        Metric("precision_macro", _CLASSIFICATION, "maximize"),
        Metric("recall_macro", _CLASSIFICATION, "maximize"),
        Metric("roc_auc", _CLASSIFICATION, "maximize"),
        Metric("log_loss", _CLASSIFICATION, "minimize"),
        Metric("mse", _NUMERIC, "minimize", unit_power=2),
        Metric("rmse", _NUMERIC, "minimize", unit_power=1),
        Metric("mae", _NUMERIC, "minimize", unit_power=1),
        Metric("r2", ("regression",), "maximize"),
    )
}

DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse", "autoencoder": "mse"}


def keras_metrics(name: str, *, task: str, n_classes: int) -> list[keras.metrics.Metric]:
    """Keras metrics to compile: the objective metric, plus accuracy for classifiers."""
    import keras

    def build(metric: str) -> keras.metrics.Metric:
        if metric == "accuracy":
            return keras.metrics.CategoricalAccuracy(name="accuracy")
        if metric in ("f1_macro", "precision_macro", "recall_macro"):
            from mltune.training import MacroAverage

            return MacroAverage(metric.split("_")[0], n_classes=n_classes, name=metric)
        if metric == "roc_auc":
            return keras.metrics.AUC(multi_label=True, num_labels=n_classes, name=metric)
        if metric == "log_loss":
            return keras.metrics.CategoricalCrossentropy(name=metric)
        if metric == "mse":
            return keras.metrics.MeanSquaredError(name=metric)
        if metric == "rmse":
            return keras.metrics.RootMeanSquaredError(name=metric)
        if metric == "mae":
            return keras.metrics.MeanAbsoluteError(name=metric)
        if metric == "r2":
            return keras.metrics.R2Score(name=metric)
        raise KeyError(metric)

    names = [name] if task != "classification" or name == "accuracy" else ["accuracy", name]
    return [build(n) for n in names]


def score(name: str, y_true: np.ndarray, y_pred: np.ndarray, *, labels: np.ndarray | None = None) -> float:
    """The metric on held-out rows with scikit-learn.

    For classifiers ``y_true`` holds labels and ``y_pred`` class probabilities (columns ordered as ``labels``);
    for regressors and autoencoders both are numbers in the same units.
    """
    from sklearn import metrics as sk

    if name in ("accuracy", "f1_macro", "precision_macro", "recall_macro"):
        assert labels is not None
        predicted = labels[np.argmax(y_pred, axis=1)]
        if name == "accuracy":
            return float(sk.accuracy_score(y_true, predicted))
        scorer = {"f1": sk.f1_score, "precision": sk.precision_score, "recall": sk.recall_score}
        return float(scorer[name.split("_")[0]](y_true, predicted, average="macro", zero_division=0))
    if name == "roc_auc":
        if y_pred.shape[1] == 2:
            return float(sk.roc_auc_score(y_true == labels[1], y_pred[:, 1]))  # type: ignore[index]
        return float(sk.roc_auc_score(y_true, y_pred, multi_class="ovr", average="macro", labels=labels))
    if name == "log_loss":
        return float(sk.log_loss(y_true, y_pred, labels=labels))
    if name == "mse":
        return float(sk.mean_squared_error(y_true, y_pred))
    if name == "rmse":
        return float(np.sqrt(sk.mean_squared_error(y_true, y_pred)))
    if name == "mae":
        return float(sk.mean_absolute_error(y_true, y_pred))
    if name == "r2":
        return float(sk.r2_score(y_true, y_pred))
    raise KeyError(name)


def is_better(candidate: float, reference: float, *, direction: str, margin: float = 0.0) -> bool:
    """Whether ``candidate`` beats ``reference`` by more than ``margin`` in the metric's direction."""
    gain = candidate - reference if direction == "maximize" else reference - candidate
    return gain > margin


def unit_factor(name: str, target_std: float) -> float:
    """Factor that turns a Keras value computed on standardized targets into target units."""
    return float(target_std) ** METRICS[name].unit_power
