"""Objective metrics, each defined once: its tasks, its direction, its Keras form and its scikit-learn form.

The Keras form runs per epoch inside ``fit`` (cheap, feeds pruning and the learning curves); the scikit-learn form
scores held-out rows (promotion). Regression models train on standardized targets; ``unit_power`` converts the
Keras value back to the target's own units. Adding a metric is one entry in :data:`METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Direction = Literal["maximize", "minimize"]
Scorer = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]
"""``(y_true, y_pred, labels)``: labels and class probabilities for classifiers, numbers otherwise."""
KerasBuilder = Callable[[Any, int], Any]
"""``(keras, n_classes)`` to a ``keras.metrics.Metric`` named like the metric."""


@dataclass(frozen=True)
class Metric:
    """An objective metric.

    Attributes:
        name: the recipe's name for it, also the Keras metric name (``val_<name>`` per epoch).
        tasks: the tasks it applies to.
        direction: "maximize" or "minimize".
        keras: builds its Keras form.
        score: computes it on held-out rows with scikit-learn.
        unit_power: the standardized Keras value times ``target_std ** unit_power`` is in target units.
    """

    name: str
    tasks: tuple[str, ...]
    direction: Direction
    keras: KerasBuilder
    score: Scorer
    unit_power: int = 0


def _sk() -> Any:
    from sklearn import metrics

    return metrics


def _predicted(y_pred: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    assert labels is not None
    return labels[np.argmax(y_pred, axis=1)]


def _macro(kind: str) -> tuple[KerasBuilder, Scorer]:
    def build(keras: Any, n_classes: int) -> Any:
        from mltune.tasks.keras_metrics import MacroAverage

        return MacroAverage(kind, n_classes=n_classes, name=f"{kind}_macro")

    def score(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray | None) -> float:
        scorer = getattr(_sk(), f"{kind}_score")
        return float(scorer(y_true, _predicted(y_pred, labels), average="macro", zero_division=0))

    return build, score


def _roc_auc(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray | None) -> float:
    assert labels is not None
    if y_pred.shape[1] == 2:
        return float(_sk().roc_auc_score(y_true == labels[1], y_pred[:, 1]))
    return float(_sk().roc_auc_score(y_true, y_pred, multi_class="ovr", average="macro", labels=labels))


_CLASSIFICATION = ("classification",)
_NUMERIC = ("regression", "autoencoder")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _CLASSIFICATION, "maximize",
               lambda keras, n: keras.metrics.CategoricalAccuracy(name="accuracy"),
               lambda y, p, labels: float(_sk().accuracy_score(y, _predicted(p, labels)))),
        Metric("f1_macro", _CLASSIFICATION, "maximize", *_macro("f1")),
        Metric("precision_macro", _CLASSIFICATION, "maximize", *_macro("precision")),
        Metric("recall_macro", _CLASSIFICATION, "maximize", *_macro("recall")),
        Metric("roc_auc", _CLASSIFICATION, "maximize",
               lambda keras, n: keras.metrics.AUC(multi_label=True, num_labels=n, name="roc_auc"), _roc_auc),
        Metric("log_loss", _CLASSIFICATION, "minimize",
               lambda keras, n: keras.metrics.CategoricalCrossentropy(name="log_loss"),
               lambda y, p, labels: float(_sk().log_loss(y, p, labels=labels))),
        Metric("mse", _NUMERIC, "minimize",
               lambda keras, n: keras.metrics.MeanSquaredError(name="mse"),
               lambda y, p, labels: float(_sk().mean_squared_error(y, p)), unit_power=2),
        Metric("rmse", _NUMERIC, "minimize",
               lambda keras, n: keras.metrics.RootMeanSquaredError(name="rmse"),
               lambda y, p, labels: float(np.sqrt(_sk().mean_squared_error(y, p))), unit_power=1),
        Metric("mae", _NUMERIC, "minimize",
               lambda keras, n: keras.metrics.MeanAbsoluteError(name="mae"),
               lambda y, p, labels: float(_sk().mean_absolute_error(y, p)), unit_power=1),
        Metric("r2", ("regression",), "maximize",
               lambda keras, n: keras.metrics.R2Score(name="r2"),
               lambda y, p, labels: float(_sk().r2_score(y, p))),
    )
}


def score(name: str, y_true: np.ndarray, y_pred: np.ndarray, *, labels: np.ndarray | None = None) -> float:
    """The metric on held-out rows with scikit-learn.

    For classifiers ``y_true`` holds labels and ``y_pred`` class probabilities (columns ordered as ``labels``);
    for regressors and autoencoders both are numbers in the same units.
    """
    return METRICS[name].score(y_true, y_pred, labels)


def is_better(candidate: float, reference: float, *, direction: str, margin: float = 0.0) -> bool:
    """Whether ``candidate`` beats ``reference`` by more than ``margin`` in the metric's direction."""
    gain = candidate - reference if direction == "maximize" else reference - candidate
    return gain > margin


def unit_factor(name: str, target_std: float) -> float:
    """Factor that turns a Keras value computed on standardized targets into target units."""
    return float(target_std) ** METRICS[name].unit_power
