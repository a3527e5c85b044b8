"""Keras metrics Keras lacks: macro-averaged precision, recall and F1, matching scikit-learn's."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="mltune")
class MacroAverage(keras.metrics.Metric):  # type: ignore[misc]
    """Macro-averaged precision, recall or F1 from a confusion matrix, matching scikit-learn's. Registered with
    Keras: an ensemble's members keep their compile settings, metric included, in the saved file."""

    def __init__(self, kind: str, *, n_classes: int, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.kind, self.n_classes = kind, n_classes
        self.matrix = self.add_variable(shape=(n_classes, n_classes), initializer="zeros", name="matrix")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        ops = keras.ops
        truth = ops.one_hot(ops.argmax(y_true, axis=-1), self.n_classes)
        guess = ops.one_hot(ops.argmax(y_pred, axis=-1), self.n_classes)
        self.matrix.assign_add(ops.matmul(ops.transpose(truth), guess))

    def result(self) -> Any:
        ops = keras.ops
        hits = ops.diagonal(self.matrix)
        precision = ops.divide_no_nan(hits, ops.sum(self.matrix, axis=0))
        recall = ops.divide_no_nan(hits, ops.sum(self.matrix, axis=1))
        if self.kind == "precision":
            return ops.mean(precision)
        if self.kind == "recall":
            return ops.mean(recall)
        return ops.mean(ops.divide_no_nan(2 * precision * recall, precision + recall))

    def reset_state(self) -> None:
        self.matrix.assign(keras.ops.zeros((self.n_classes, self.n_classes)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind, "n_classes": self.n_classes}

