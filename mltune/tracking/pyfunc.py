"""The registered model: raw rows in, answers in the target's own units or labels out.

Preprocessing lives inside the Keras model (lookups, imputation, clipping, scaling: ``mltune.model.inputs``);
turning raw rows into the model's column inputs (``mltune.data.columns.model_inputs``: text stripped, yes/no to
1/0, dates to parts, no fitted state), label decoding and target unscaling live in this MLflow pyfunc wrapper, so
``mlflow.pyfunc.load_model(...).predict(df)`` and ``mlflow models serve`` take the user's rows as
``pd.read_csv`` gives them. Models registered by mltune 0.1.0 pickled this class as
``mltune.serving.KerasTabularModel``; that module re-exports it, and the artifacts are read the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from mltune.data.columns import Column, model_inputs
from mltune.model.notices import quiet_tensorflow
from mltune.names import MODEL_COLUMNS_METADATA
from mltune.tasks import TASKS, Encoding

KERAS_ARTIFACT, ENCODING_ARTIFACT = "keras_model", "encoding"


class KerasTabularModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """MLflow pyfunc around a Keras model and its :class:`~mltune.tasks.Encoding`."""

    # MLflow's PythonModel asks, with a UserWarning at class definition in every process that imports the class (a
    # user loading the model included), for type hints on `predict` to validate rows by; the rows are checked
    # against the model's columns here instead, as MLflow's own ChatModel opts out.
    _skip_type_hint_validation = True

    @classmethod
    def of(cls, model: Any, encoding: Encoding) -> KerasTabularModel:
        """The wrapper around a model in memory (to score it without saving and loading it)."""
        wrapper = cls()
        wrapper.model, wrapper.encoding = model, encoding
        return wrapper

    def load_context(self, context: Any) -> None:
        quiet_tensorflow()  # `mlflow models serve` prints no oneDNN/CUDA notices
        import keras

        import mltune.model.inputs  # noqa: F401  (registers the preprocessing layers for safe-mode loading)
        import mltune.tasks.keras_metrics  # noqa: F401  (and the metrics an ensemble's members were compiled with)

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
        with _no_pickle_notice():
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


MODULES_CONFIG = "import_modules"
"""Model config key: modules (shipped with ``code_paths``) to import before the Keras model loads, so that the
custom layers they register with ``keras.saving.register_keras_serializable`` are known."""


class KerasNativeModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """MLflow pyfunc around a user's own Keras model (from a :class:`~mltune.flows.tuner.Tuner`).

    It takes what the Keras model takes (an array of the model's input shape, a data frame whose columns are its
    features, or a dict of arrays for a model with named inputs) and answers what ``model.predict`` answers. The
    signature, inferred from the rows given to ``search``, says which: ``mlflow models serve`` takes them as
    ``{"inputs": [...]}`` (arrays) or ``{"dataframe_split": ...}`` (frames).
    """

    _skip_type_hint_validation = True  # as KerasTabularModel's

    @classmethod
    def of(cls, model: Any) -> KerasNativeModel:
        """The wrapper around a compiled model in memory (to score it without saving and loading it)."""
        wrapper = cls()
        wrapper.model, wrapper.path = model, None
        return wrapper

    def load_context(self, context: Any) -> None:
        import importlib

        quiet_tensorflow()
        import keras

        for module in (context.model_config or {}).get(MODULES_CONFIG, []):
            importlib.import_module(module)
        self.path = context.artifacts[KERAS_ARTIFACT]
        self.model = keras.models.load_model(self.path, compile=False, safe_mode=True)

    def _inputs(self, model_input: Any) -> Any:
        if isinstance(model_input, dict):
            return {k: self._array(v) for k, v in model_input.items()}
        if is_input_list(model_input):  # a model with several inputs, given in order
            return [self._inputs(part) for part in model_input]
        return self._array(model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else model_input)

    def _array(self, value: Any) -> Any:
        """One input as Keras takes it: numbers as they are (a frame's object column as float32), and text, for a
        model that reads it (a ``TextVectorization`` or ``StringLookup`` inside), as a string tensor: Keras'
        ``predict`` refuses NumPy's string arrays."""
        x = np.asarray(value)
        if x.dtype.kind in "OUS" and self._reads_text and (
                x.dtype.kind != "O" or all(isinstance(v, str) for v in x.ravel())):
            import tensorflow as tf

            return tf.constant(x.astype(str))
        return x.astype(np.float32) if x.dtype == object else x

    @property
    def _reads_text(self) -> bool:
        return any("string" in str(getattr(t, "dtype", "")) for t in getattr(self.model, "inputs", None) or [])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        # No type hints: MLflow reads them as a schema, and "any input the Keras model takes" is not one it knows.
        output = self.model.predict(self._inputs(model_input), batch_size=1024, verbose=0)
        if isinstance(output, (list, tuple)):  # a model with several outputs: by the output layers' names
            output = dict(zip(self.model.output_names, output, strict=True))
        if isinstance(output, dict):
            return {name: np.asarray(value) for name, value in output.items()}
        return np.asarray(output)

    def score(self, x: Any, y: Any, metric: str) -> float:
        """``metric`` as ``model.evaluate`` reports it on ``(x, y)``, with the model's own compiled loss and
        metrics (a loaded model is loaded again, compiled, for this)."""
        import keras

        model = self.model
        if self.path is not None:
            model = keras.models.load_model(self.path, compile=True, safe_mode=True)
        targets = ({k: np.asarray(v) for k, v in y.items()} if isinstance(y, dict)
                   else [np.asarray(part) for part in y] if is_input_list(y) else np.asarray(y))  # one per output
        results = model.evaluate(self._inputs(x), targets, return_dict=True, verbose=0)
        if metric not in results:
            raise ValueError(f"metric {metric!r} is not among what the model reports: {', '.join(results)}")
        return float(results[metric])


def save_keras_pyfunc(model: Any, path: str, *, input_example: Any = None, code_paths: Sequence[str] = ()) -> None:
    """Saves a user's Keras model inside an MLflow pyfunc model at ``path`` (see :class:`KerasNativeModel`).

    ``code_paths`` (files or packages) are shipped with it and imported before the model loads.
    """
    signature = None
    if input_example is not None:
        output = KerasNativeModel.of(model).predict(None, input_example)
        signature = mlflow.models.infer_signature(_example(input_example), output)
    modules = [Path(p).stem for p in code_paths]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example was not provided")  # the signature is given
        keras_path = os.path.join(tmp, "model.keras")
        model.save(keras_path)
        _check_loads(keras_path)
        with _no_pickle_notice():
            mlflow.pyfunc.save_model(
                path,
                python_model=KerasNativeModel(),
                artifacts={KERAS_ARTIFACT: keras_path},
                code_paths=[str(Path(__file__).parents[1]), *map(str, code_paths)],
                signature=signature,
                model_config={MODULES_CONFIG: modules},
                pip_requirements=_requirements(),
            )


def _check_loads(path: str) -> None:
    """Loads a saved Keras model back as serving will (``safe_mode``), so that a model that cannot be served is
    refused when it is saved, not when it is deployed.

    Raises:
        ValueError: the model does not load, with the usual causes named.
    """
    import keras

    try:
        keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise ValueError(f"the saved model does not load back ({type(error).__name__}: {error}); a custom layer or "
                         "model needs @keras.saving.register_keras_serializable() and get_config(), its module in "
                         "code_paths=[...], and a Lambda layer a registered function instead of a lambda") from error


class _PickleNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passing a Python object as `python_model`")


@contextlib.contextmanager
def _no_pickle_notice() -> Iterator[None]:
    """Without MLflow's warning that a ``python_model`` object is pickled (at every save): mltune's wrappers are
    its own classes, shipped with the model as code, and the pickle holds an instance with no state."""
    notice, logger = _PickleNotice(), logging.getLogger("mlflow.pyfunc")
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


def is_input_list(x: Any) -> bool:
    """Whether ``x`` is the inputs of a model with several, as a list or tuple of arrays or frames."""
    return isinstance(x, (list, tuple)) and bool(x) and all(
        isinstance(part, (np.ndarray, pd.DataFrame, pd.Series)) for part in x)


def _example(x: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return x.astype(np.float32)
    return x
