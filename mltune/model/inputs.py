"""Preprocessing inside the Keras model: raw columns in, one feature tensor out, for any model family.

The model takes the inputs :func:`mltune.data.columns.model_inputs` makes from raw rows: ``numeric`` (every
numeric, integer, boolean and date column, NaN where a cell was empty) and one string input per categorical,
ordinal or free-text column. Everything learned from the training rows lives in layers, so the saved model carries it:

- numeric: empty cells filled with the training median, with a missing-value indicator for each column that had
  empty cells in training; values clipped to outlier fences learned on the training rows (quartiles -/+ 5 IQR,
  see :func:`mltune.data.report.outlier_fences`), then standardized with the clipped rows' mean and deviation,
  or (hyperparameter ``numeric_scaling: quantile``) mapped through the training rows' quantiles to normal scores
  as scikit-learn's ``QuantileTransformer(output_distribution="normal")`` does (Gorishniy et al. 2021 scale
  every network's inputs so): skewed columns then reach the network spread evenly;
- categorical: ``StringLookup`` over the training categories with one out-of-vocabulary bucket (an unseen
  category gets an answer), then one-hot or an ``Embedding`` (hyperparameter ``categorical_encoding``);
- ordinal: ``StringLookup`` over the recipe's order, scaled to (0, 1]; unseen or empty is 0;
- text (free text: names, titles, descriptions): ``TextVectorization`` as a bag of the words seen in at least two
  training rows (``multi_hot``: which of them a cell holds, and whether it holds another).

The family's model is built on the preprocessed width and called on the features: families need not know tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import keras
import numpy as np

from mltune.data.columns import MISSING_TOKEN, NUMERIC_INPUT, Column, input_name, text_columns, words
from mltune.data.report import outlier_fences
from mltune.families import FAMILIES, InputShape

MAX_VOCABULARY = 1000
"""A categorical column keeps at most this many of its most frequent training categories; the rest share the
out-of-vocabulary bucket."""


@keras.saving.register_keras_serializable(package="mltune")
class NumericColumns(keras.layers.Layer):  # type: ignore[misc]
    """Fills empty cells with medians, adds missing-value indicators, clips to outlier fences, standardizes (or,
    given ``knots``, maps each column through its training quantiles to normal scores)."""

    def __init__(self, median: Sequence[float], low: Sequence[float], high: Sequence[float],
                 mean: Sequence[float], std: Sequence[float], indicate: Sequence[int],
                 knots: Sequence[Sequence[float]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.median, self.low, self.high = list(median), list(low), list(high)
        self.mean, self.std, self.indicate = list(mean), list(std), [int(i) for i in indicate]
        self.knots = [list(map(float, k)) for k in knots] if knots is not None else None

    def call(self, x: Any) -> Any:
        ops = keras.ops
        missing = ops.isnan(x)
        median, low, high, mean, std = (np.asarray(v, dtype=np.float32) for v in
                                        (self.median, self.low, self.high, self.mean, self.std))
        filled = ops.where(missing, median, x)
        clipped = ops.minimum(ops.maximum(filled, low), high)
        scaled = (clipped - mean) / std if self.knots is None else quantile_normal(clipped, self.knots)
        if not self.indicate:
            return scaled
        flags = ops.take(ops.cast(missing, "float32"), np.asarray(self.indicate, dtype="int32"), axis=1)
        return ops.concatenate([scaled, flags], axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return input_shape[0], len(self.median) + len(self.indicate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "median": self.median, "low": self.low, "high": self.high,
                "mean": self.mean, "std": self.std, "indicate": self.indicate,
                **({"knots": self.knots} if self.knots is not None else {})}


QUANTILES = 64
"""Knots of the quantile scaling: each column's training quantiles at this many evenly spaced levels."""


def quantile_normal(x: Any, knots: Sequence[Sequence[float]]) -> Any:
    """Each column of ``x`` mapped, piecewise linearly, from its knots to the standard normal scores of their
    levels (the 0.1% and 99.9% quantiles' scores at the ends)."""
    from scipy.special import ndtri

    ops = keras.ops
    table = np.asarray(knots, dtype=np.float32)  # (columns, QUANTILES)
    n, k = table.shape
    scores = ndtri(np.clip(np.linspace(0, 1, k), 1e-3, 1 - 1e-3)).astype(np.float32)
    below = ops.sum(ops.cast(ops.expand_dims(x, -1) >= table, "int32"), axis=-1)  # knots at or below x
    low = ops.clip(below - 1, 0, k - 2)
    flat = low + np.arange(n, dtype="int32") * k
    q_low, q_high = ops.take(table.ravel(), flat), ops.take(table.ravel(), flat + 1)
    share = ops.clip(ops.divide_no_nan(x - q_low, q_high - q_low), 0.0, 1.0)
    s_low, s_high = ops.take(scores, low), ops.take(scores, low + 1)
    return s_low + share * (s_high - s_low)


@keras.saving.register_keras_serializable(package="mltune")
class OrdinalScale(keras.layers.Layer):  # type: ignore[misc]
    """An ordinal lookup's index (0 for unseen or empty, 1..size in order) as a number in [0, 1]."""

    def __init__(self, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, x: Any) -> Any:
        return keras.ops.cast(x, "float32") / float(self.size)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="mltune")
class PeriodicEmbedding(keras.layers.Layer):  # type: ignore[misc]
    """Gorishniy et al. 2022 ("On embeddings for numerical features in tabular deep learning"), PLR-lite: each
    scaled numeric column ``x`` becomes ``ReLU(W [cos 2 pi c x, sin 2 pi c x])``, with ``frequencies`` trainable
    ``c`` per column (drawn from ``N(0, sigma)``) and one linear map ``W`` to ``dim`` values shared by the columns;
    the columns' embeddings are flattened. It lets an MLP draw the sharp, non-monotone shapes trees find."""

    def __init__(self, frequencies: int = 16, dim: int = 16, sigma: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frequencies, self.dim, self.sigma = int(frequencies), int(dim), float(sigma)
        self.linear = keras.layers.Dense(self.dim, activation="relu", name="linear")

    def build(self, input_shape: Any) -> None:
        self.columns = int(input_shape[-1])
        self.c = self.add_weight(shape=(self.columns, self.frequencies), name="frequencies",
                                 initializer=keras.initializers.RandomNormal(stddev=self.sigma))
        self.linear.build((None, self.columns, 2 * self.frequencies))

    def call(self, x: Any) -> Any:
        ops = keras.ops
        angles = 2 * np.pi * ops.expand_dims(x, -1) * self.c
        embedded = self.linear(ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1))
        return ops.reshape(embedded, (-1, self.columns * self.dim))

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return input_shape[0], int(input_shape[-1]) * self.dim

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "frequencies": self.frequencies, "dim": self.dim, "sigma": self.sigma}


class NumericStatistics(NamedTuple):
    """What the numeric preprocessing learns from a fold's training rows, whatever the configuration: made once
    per fold for a study's trials (:func:`mltune.model.training.prepare`)."""

    medians: list[float]
    lows: list[float]
    highs: list[float]
    means: list[float]
    stds: list[float]
    indicate: list[int]
    knots: list[list[float]]


def numeric_layer(x_train: np.ndarray, *, quantiles: bool = False,
                  statistics: NumericStatistics | None = None) -> NumericColumns:
    """The numeric preprocessing learned from the training rows' numeric input (NaN where empty); ``quantiles``:
    scaled through the filled and clipped rows' quantiles instead of standardized. ``statistics``: those of
    ``x_train``, when already made."""
    s = statistics or numeric_statistics(x_train)
    return NumericColumns(s.medians, s.lows, s.highs, s.means, s.stds, s.indicate,
                          knots=s.knots if quantiles else None, name="numeric_columns")


def numeric_statistics(x_train: np.ndarray) -> NumericStatistics:
    """Each numeric column's median, outlier fences, mean and spread once clipped, quantile knots, and which
    columns have empty cells."""
    x = x_train.astype(np.float64)
    medians, lows, highs, means, stds, indicate, knots = [], [], [], [], [], [], []
    for j in range(x.shape[1]):
        column = x[:, j]
        present = column[~np.isnan(column)]
        finite = present[np.isfinite(present)]
        median = float(np.median(finite)) if finite.size else 0.0
        low, high = outlier_fences(finite) if finite.size else (0.0, 0.0)
        clipped = np.clip(np.where(np.isnan(column), median, column), low, high)
        medians.append(median)
        lows.append(low)
        highs.append(high)
        means.append(float(clipped.mean()))
        stds.append(float(max(clipped.std(), 1e-7)))
        knots.append(np.quantile(clipped, np.linspace(0, 1, QUANTILES)).tolist() if clipped.size else
                     [0.0] * QUANTILES)
        if present.size < column.size:
            indicate.append(j)
    return NumericStatistics(medians, lows, highs, means, stds, indicate, knots)


def vocabulary(values: np.ndarray) -> list[str]:
    """A categorical column's training categories, most frequent first (at most :data:`MAX_VOCABULARY`)."""
    counts = Counter(str(v) for v in values.ravel())
    return [value for value, _ in counts.most_common(MAX_VOCABULARY)]


def word_vocabulary(values: np.ndarray) -> list[str]:
    """A free-text column's words seen in at least 2 training rows (and 0.1% of them), most frequent first (at
    most :data:`MAX_VOCABULARY`)."""
    rows = Counter(word for value in values.ravel() for word in set(words(str(value))))
    floor = max(2.0, 0.001 * values.size)
    return [word for word, count in rows.most_common(MAX_VOCABULARY) if count >= floor]


def _text_features(column: Column, position: int, values: np.ndarray, params: dict[str, Any]) -> tuple[Any, Any]:
    name = input_name(position)
    raw = keras.Input(shape=(1,), dtype="string", name=name)
    if column.kind == "text":
        known = word_vocabulary(values) or words(MISSING_TOKEN)  # no word repeats: only empty cells tell
        bag = keras.layers.TextVectorization(vocabulary=known, output_mode="multi_hot", name=f"{name}_words")
        return raw, keras.layers.Flatten(name=f"{name}_flat")(bag(raw))  # (rows, 1 + words)
    if column.kind == "ordinal":
        assert column.order is not None
        index = keras.layers.StringLookup(vocabulary=list(column.order), num_oov_indices=1,
                                          name=f"{name}_order")(raw)
        return raw, OrdinalScale(len(column.order), name=f"{name}_scale")(index)
    categories = vocabulary(values)
    if params.get("categorical_encoding", "onehot") == "embedding":
        index = keras.layers.StringLookup(vocabulary=categories, num_oov_indices=1, name=f"{name}_lookup")(raw)
        size = int(params.get("embedding_dim", 4))
        vectors = keras.layers.Embedding(len(categories) + 1, size, name=f"{name}_embedding")(index)
        return raw, keras.layers.Flatten(name=f"{name}_flat")(vectors)
    encoded = keras.layers.StringLookup(vocabulary=categories, num_oov_indices=1, output_mode="one_hot",
                                        name=f"{name}_onehot")(raw)
    return raw, encoded


def preprocessed_features(columns: Sequence[Column], x_train: dict[str, np.ndarray], params: dict[str, Any],
                          numeric: NumericStatistics | None = None) -> tuple[dict[str, Any], Any]:
    """The model's raw inputs by name, and the one feature tensor its family is built on (``numeric``: the
    numeric input's statistics, when already made)."""
    inputs: dict[str, Any] = {}
    parts: list[Any] = []
    if NUMERIC_INPUT in x_train:
        width = x_train[NUMERIC_INPUT].shape[1]
        inputs[NUMERIC_INPUT] = keras.Input(shape=(width,), dtype="float32", name=NUMERIC_INPUT)
        quantiles = params.get("numeric_scaling", "standard") == "quantile"
        scaled = numeric_layer(x_train[NUMERIC_INPUT], quantiles=quantiles, statistics=numeric)(
            inputs[NUMERIC_INPUT])
        if params.get("numeric_embedding", "none") == "periodic":
            scaled = PeriodicEmbedding(sigma=float(params.get("periodic_sigma", 0.1)), name="numeric_embedding")(
                scaled)
        parts.append(scaled)
    for position, column in enumerate(text_columns([c for c in columns if c.used])):
        raw, encoded = _text_features(column, position, x_train[input_name(position)], params)
        inputs[input_name(position)] = raw
        parts.append(encoded)
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)
    return inputs, features


def table_model(*, family: str, task: str, params: dict[str, Any], columns: Sequence[Column],
                x_train: dict[str, np.ndarray], n_outputs: int, image_shape: Sequence[int] | None = None,
                numeric: NumericStatistics | None = None) -> keras.Model:
    """The family's model behind the table's preprocessing: raw column inputs in, the task's output out
    (``image_shape``: the rows are images of that shape, for families that reshape them)."""
    inputs, features = preprocessed_features(columns, x_train, params, numeric)
    width = int(features.shape[-1])
    shape = InputShape(n_features=width, n_outputs=n_outputs, task=task, mean=np.zeros(width),
                       variance=np.ones(width), image_shape=tuple(image_shape) if image_shape else None)
    head = FAMILIES[family].build(params, shape)
    return keras.Model(inputs, head(features), name=f"{head.name}_on_table")


def predict(model: keras.Model, inputs: dict[str, np.ndarray], *, batch_size: int = 1024) -> np.ndarray:
    """The model's output for column inputs. Keras' ``predict`` refuses NumPy string arrays; ``tf.data`` takes
    them."""
    import tensorflow as tf

    return np.asarray(model.predict(tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size), verbose=0))
