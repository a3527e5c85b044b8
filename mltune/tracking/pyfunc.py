"""The registered model: raw rows in, answers in the target's own units or labels out.

Preprocessing lives inside the Keras model (lookups, imputation, clipping, scaling: ``mltune.model.inputs``);
turning raw rows into the model's column inputs (``mltune.data.columns.model_inputs``: text stripped, yes/no to
1/0, dates to parts, no fitted state), label decoding and target unscaling live in this MLflow pyfunc wrapper, so
``mlflow.pyfunc.load_model(...).predict(df)`` and ``mlflow models serve`` take the user's rows as
``pd.read_csv`` gives them. Models registered by mltune 0.1.0 pickled this class as
``mltune.serving.KerasTabularModel``; that module re-exports it, and the artifacts are read the same way.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from mltune.data.columns import Column, model_inputs
from mltune.tasks import TASKS, Encoding
from mltune.tracking.names import MODEL_COLUMNS_METADATA

KERAS_ARTIFACT, ENCODING_ARTIFACT = "keras_model", "encoding"


class KerasTabularModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """MLflow pyfunc around a Keras model and its :class:`~mltune.tasks.Encoding`."""

    @classmethod
    def of(cls, model: Any, encoding: Encoding) -> KerasTabularModel:
        """The wrapper around a model in memory (to score it without saving and loading it)."""
        wrapper = cls()
        wrapper.model, wrapper.encoding = model, encoding
        return wrapper

    def load_context(self, context: Any) -> None:
        import keras

        import mltune.model.inputs  # noqa: F401  (registers the preprocessing layers for safe-mode loading)

        self.model = keras.models.load_model(context.artifacts[KERAS_ARTIFACT], compile=False, safe_mode=True)
        self.encoding = Encoding.from_json(Path(context.artifacts[ENCODING_ARTIFACT]).read_text())

    def _raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        if self.encoding.columns is not None:
            from mltune.model.inputs import predict

            return predict(self.model, model_inputs(frame, [Column.from_dict(c) for c in self.encoding.columns]))
        missing = [c for c in self.encoding.features if c not in frame.columns]
        if missing:
            raise ValueError(f"input rows lack feature columns {missing}")
        x = frame[self.encoding.features].to_numpy(dtype=np.float32)
        return np.asarray(self.model.predict(x, batch_size=1024, verbose=0))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of ``encoding.labels``."""
        return self._raw_output(frame)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return TASKS[self.encoding.task].predictions(self.encoding, self._raw_output(pd.DataFrame(model_input)))

    def score(self, frame: pd.DataFrame, y_true: np.ndarray | None, metric: str) -> float:
        """The objective metric on raw rows, in the same units as the study's trials."""
        enc = self.encoding
        task = TASKS[enc.task]
        x = np.empty((len(frame), 0)) if task.uses_target else frame[enc.features].to_numpy(dtype=np.float64)
        return task.score(metric, enc, self._raw_output(frame), x, y_true)


def save_pyfunc(model: Any, encoding: Encoding, path: str, *, input_example: pd.DataFrame) -> None:
    """Saves the Keras model inside an MLflow pyfunc model at ``path``: what a run logs and the registry holds.

    The signature is :func:`input_schema` (a table model) or inferred from raw rows with every feature a double
    (a model of numbers). Pip requirements are given, not inferred: inference starts a subprocess and costs
    seconds.
    """
    if encoding.columns is None:
        input_example = input_example.astype("float64")
    output = KerasTabularModel.of(model, encoding).predict(None, input_example)
    summary: list[str] = []
    model.summary(print_fn=lambda line, **_: summary.append(line))
    with tempfile.TemporaryDirectory() as tmp:
        keras_path, encoding_path = os.path.join(tmp, "model.keras"), os.path.join(tmp, "encoding.json")
        model.save(keras_path)
        Path(encoding_path).write_text(encoding.to_json())
        with warnings.catch_warnings():  # integer labels are meant: they have no missing values
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            signature = mlflow.models.infer_signature(input_example, output)
        if encoding.columns is not None:
            signature = mlflow.models.ModelSignature(inputs=input_schema(encoding), outputs=signature.outputs)
        mlflow.pyfunc.save_model(
            path,
            python_model=KerasTabularModel(),
            artifacts={KERAS_ARTIFACT: keras_path, ENCODING_ARTIFACT: encoding_path},
            code_paths=[str(Path(__file__).parents[1])],
            signature=signature,
            input_example=input_example,
            pip_requirements=_requirements(),
            metadata={MODEL_COLUMNS_METADATA: encoding.columns} if encoding.columns is not None else None,
        )
    Path(path, "summary.txt").write_text("\n".join(summary))


def input_schema(encoding: Encoding) -> Any:
    """The MLflow input schema of a table model: one required column per used feature, each of type ``Any``.

    MLflow's schema enforcement converts nothing that might lose information: a ``double`` column refuses int64
    ("Can not safely convert int64 to float64"), a ``long`` column refuses float64, and a ``string`` or
    ``boolean`` column refuses float64, which is what ``pd.read_csv`` gives for a column whose cells in the batch
    are all empty. The same column of the same table arrives as any of these, so the schema names the columns and
    leaves their conversion to the model (``mltune.data.columns.model_inputs``). Each column's kind and its type
    as read in training are in the model's metadata (``mltune_columns``).
    """
    from mlflow.types.schema import AnyType, ColSpec, Schema

    specs: list[Any] = [ColSpec(AnyType(), raw["name"]) for raw in encoding.columns or [] if raw["kind"] != "drop"]
    return Schema(specs)


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for dist in ("mlflow", "keras", "tensorflow", "tensorflow-cpu", "numpy", "pandas", "scikit-learn"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return pins
