"""The registered model: raw rows in, answers in the target's own units or labels out.

Feature scaling lives inside the Keras model (a Normalization layer); label decoding, target unscaling and
column selection live in this MLflow pyfunc wrapper, so ``mlflow.pyfunc.load_model(...).predict(df)`` and
``mlflow models serve`` take the user's rows as they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

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
    """

    task: str
    features: list[str]
    labels: list[Any] | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    feature_mean: list[float] | None = None
    feature_std: list[float] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_plain)

    @classmethod
    def from_json(cls, text: str) -> Encoding:
        return cls(**json.loads(text))

    def standardize_features(self, x: np.ndarray) -> np.ndarray:
        assert self.feature_mean is not None and self.feature_std is not None
        return (x - np.asarray(self.feature_mean)) / np.asarray(self.feature_std)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


class KerasTabularModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """MLflow pyfunc around a Keras model and its :class:`Encoding`."""

    def load_context(self, context: Any) -> None:
        import keras

        self.model = keras.models.load_model(context.artifacts["keras_model"], compile=False, safe_mode=True)
        self.encoding = Encoding.from_json(Path(context.artifacts["encoding"]).read_text())

    def _raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.encoding.features if c not in frame.columns]
        if missing:
            raise ValueError(f"input rows lack feature columns {missing}")
        x = frame[self.encoding.features].to_numpy(dtype=np.float32)
        return np.asarray(self.model.predict(x, batch_size=1024, verbose=0))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of ``encoding.labels``."""
        return self._raw_output(frame)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        output = self._raw_output(pd.DataFrame(model_input))
        enc = self.encoding
        if enc.task == "classification":
            assert enc.labels is not None
            return np.asarray(enc.labels)[np.argmax(output, axis=1)]
        if enc.task == "regression":
            return output[:, 0] * enc.target_std + enc.target_mean
        assert enc.feature_mean is not None and enc.feature_std is not None
        raw = output * np.asarray(enc.feature_std) + np.asarray(enc.feature_mean)
        return pd.DataFrame(raw, columns=enc.features)

    def score(self, frame: pd.DataFrame, y_true: np.ndarray | None, metric: str) -> float:
        """The objective metric on raw rows, in the same units as the study's trials."""
        from mltune.metrics import score

        enc = self.encoding
        if enc.task == "classification":
            assert y_true is not None
            return score(metric, y_true, self.predict_proba(frame), labels=np.asarray(enc.labels))
        if enc.task == "regression":
            assert y_true is not None
            return score(metric, y_true, self.predict(None, frame))
        x = frame[enc.features].to_numpy(dtype=np.float64)
        return score(metric, enc.standardize_features(x), self._raw_output(frame))
