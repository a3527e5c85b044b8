"""Training one configuration on one fold with Keras: the only module that calls ``fit``.

The trial (``objective.py``), ``mltune train`` and the promotion refit all go through :func:`fit_fold`, so a
configuration trains the same way wherever it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import keras
import numpy as np

from mltune.config.recipe import Recipe
from mltune.data import Fold, Table
from mltune.data.columns import NUMERIC_INPUT, Column, model_inputs
from mltune.errors import TrialDiverged
from mltune.families import FAMILIES, InputShape
from mltune.model.inputs import NumericStatistics, numeric_statistics, table_model
from mltune.tasks import TASKS, Encoding

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """A trained model and what it did.

    Attributes:
        model: the Keras model; it takes raw feature rows.
        encoding: how to turn its outputs into labels or target units.
        history: per-epoch values (``loss``, ``val_loss``, ``<metric>``, ``val_<metric>``) in target units.
        value: the objective metric on the validation rows, at the epoch whose weights the model holds.
        best_epoch: that epoch, 1-based.
        seconds: wall time of ``fit``.
    """

    model: Any
    encoding: Encoding
    history: dict[str, list[float]] = field(default_factory=dict)
    value: float = math.nan
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))


class _EpochCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Converts Keras logs to target units, stops on NaN, and hands each epoch to the caller."""

    def __init__(self, factors: dict[str, float], hook: EpochHook | None) -> None:
        super().__init__()
        self.factors, self.hook = factors, hook
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {k: float(v) * self.factors.get(k, 1.0) for k, v in (logs or {}).items() if k != "learning_rate"}
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        loss = values.get("loss", math.nan)
        if not math.isfinite(loss):
            raise TrialDiverged(f"training loss became {loss} at epoch {epoch + 1}")
        if self.hook is not None:
            self.hook(epoch + 1, values)


@contextlib.contextmanager
def _custom_gradients_forgotten() -> Iterator[None]:
    """Drops the gradient functions TensorFlow registered while the block ran (it traced a training step).

    Tracing a ``tf.custom_gradient`` (``tf.distribute``'s ``all_reduce`` in Keras' training step is one) registers
    its gradient function in TensorFlow's global gradient registry under a new name, for good; the function holds
    the traced graph, so without this every model a process trains stays in memory (about 8 MB a trial on the
    digits MLP; tensorflow/tensorflow#27492 and #97697). A traced step is differentiated only while it is traced,
    so its entries are no longer needed once ``fit`` returns.
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    from tensorflow.python.framework import ops  # private: TensorFlow has no way to unregister a gradient

    registry = getattr(getattr(ops, "gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):  # TensorFlow changed its internals: keep going, leaking as before
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for name in [name for name in registry if name not in before and name.startswith("CustomGradient-")]:
            del registry[name]


def encoding_for(recipe: Recipe, table: Table, fold: Fold) -> Encoding:
    """The encoding fitted on the fold's training rows (class labels come from the whole table)."""
    task = TASKS[recipe.task]
    if not task.uses_target:
        return task.fit_encoding(list(table.features), table.x(fold.train), None, None)
    encoding = task.fit_encoding(list(table.features), np.empty((len(fold.train), 0)), table.y(fold.train),
                                 table.y())
    return dataclasses.replace(encoding, columns=[c.as_dict() for c in table.columns],
                               image_shape=list(table.image_shape) if table.image_shape else None)


def model_input(encoding: Encoding, table: Table, rows: np.ndarray) -> Any:
    """What the model takes for the given rows: a dict of column inputs (a table model) or a float matrix."""
    if encoding.columns is None:
        return table.x(rows)
    return model_inputs(table.frame.iloc[rows], [Column.from_dict(c) for c in encoding.columns])


def targets(encoding: Encoding, table: Table, rows: np.ndarray) -> np.ndarray:
    """What the model learns to output for the given rows."""
    task = TASKS[encoding.task]
    x = table.x(rows) if not task.uses_target else np.empty((len(rows), 0), dtype=np.float32)
    return task.targets(encoding, x, table.y(rows) if task.uses_target else None)


class Prepared(NamedTuple):
    """A fold's encoding, arrays and numeric statistics: the same for every trial of a study, so made once
    (:func:`prepare`)."""

    encoding: Encoding
    x_train: Any
    x_val: Any
    y_train: np.ndarray
    y_val: np.ndarray
    numeric: NumericStatistics | None = None


def prepare(recipe: Recipe, table: Table, fold: Fold) -> Prepared:
    """The encoding fitted on the fold's training rows, the model's inputs and targets for its rows, and the
    statistics of the training rows' numeric input (column inputs only)."""
    encoding = encoding_for(recipe, table, fold)
    x_train = model_input(encoding, table, fold.train)
    numeric = numeric_statistics(x_train[NUMERIC_INPUT]) if isinstance(x_train, dict) and NUMERIC_INPUT in x_train \
        else None
    return Prepared(encoding, x_train, model_input(encoding, table, fold.validation),
                    targets(encoding, table, fold.train), targets(encoding, table, fold.validation), numeric)


def class_weights(recipe: Recipe, encoding: Encoding, y: np.ndarray) -> np.ndarray | None:
    """Per-row weights that give every class the same total weight (``data.class_weights: balanced``)."""
    if recipe.data.class_weights != "balanced" or encoding.labels is None:
        return None
    index = np.argmax(y, axis=1)
    counts = np.bincount(index, minlength=len(encoding.labels)).astype(np.float64)
    weights = len(index) / (np.count_nonzero(counts) * np.maximum(counts, 1.0))
    return weights[index].astype(np.float32)


def _optimizer(params: dict[str, Any], steps: int) -> keras.optimizers.Optimizer:
    rate: Any = float(params["learning_rate"])
    if params["lr_schedule"] == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(steps, 1))
    elif params["lr_schedule"] == "one_cycle":
        warmup = max(steps // 10, 1)
        rate = keras.optimizers.schedules.CosineDecay(rate / 25, decay_steps=max(steps - warmup, 1),
                                                      warmup_target=rate, warmup_steps=warmup)
    name = params["optimizer"]
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=float(params["momentum"]))
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=float(params["momentum"]))
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=float(params["weight_decay"]))
    return {"adam": keras.optimizers.Adam, "nadam": keras.optimizers.Nadam,
            "adagrad": keras.optimizers.Adagrad}[name](rate)


def compiled_model(recipe: Recipe, params: dict[str, Any], x_train: np.ndarray | dict[str, np.ndarray],
                   encoding: Encoding, numeric: NumericStatistics | None = None) -> keras.Model:
    """The configuration's Keras model, built and compiled as every trial builds it (before ``fit``).

    ``x_train`` is a float matrix, or a table's column inputs (``encoding.columns`` set): then the model starts
    with the table's preprocessing layers (:func:`mltune.model.inputs.table_model`), learned from ``numeric``
    (the statistics of its numeric input) when given.
    """
    task = TASKS[recipe.task]
    n_outputs = task.n_outputs(encoding)
    if isinstance(x_train, dict):
        assert encoding.columns is not None
        model = table_model(family=recipe.model.family, task=recipe.task, params=params, x_train=x_train,
                            image_shape=encoding.image_shape,
                            columns=[Column.from_dict(c) for c in encoding.columns], n_outputs=n_outputs,
                            numeric=numeric)
        n_rows = len(next(iter(x_train.values())))
    else:
        shape = InputShape(n_features=x_train.shape[1], n_outputs=n_outputs, task=recipe.task,
                           mean=x_train.mean(axis=0), variance=x_train.var(axis=0))
        model = FAMILIES[recipe.model.family].build(params, shape)
        n_rows = len(x_train)
    steps = math.ceil(n_rows / int(params["batch_size"])) * int(params["epochs"])
    model.compile(optimizer=_optimizer(params, steps), loss=task.loss_for(recipe.metric, params.get("loss", "auto")),
                  metrics=task.keras_metrics(recipe.metric, n_outputs))
    build_optimizer(model)
    return model


def build_optimizer(model: keras.Model) -> None:
    """Creates a compiled, built model's optimizer variables now, as Keras would inside ``fit``.

    With TensorFlow, Keras creates them while it traces the training step, and a ``tf.function`` that creates
    variables is traced a second time: about 0.6 s of a 3 s digits trial. Models that train themselves (their own
    ``train_step``) are left as they are: their optimizer may update other variables than the model's.
    """
    optimizer = getattr(model, "optimizer", None)
    if (optimizer is None or getattr(optimizer, "built", True) or not model.built or not model.trainable_variables
            or type(model).train_step is not keras.Model.train_step):
        return
    optimizer.build(model.trainable_variables)


def batches(x: Any, y: np.ndarray, batch_size: int, *, shuffle_seed: int | None = None,
            weights: np.ndarray | None = None) -> Any:
    """The rows as the ``tf.data`` pipeline ``fit`` iterates once per epoch: sliced, shuffled each epoch, batched.

    What Keras builds from NumPy arrays by itself maps and prefetches with ``AUTOTUNE``; every epoch's iterator
    then starts and waits on tf.data's autotuning thread, which left about a third of a small trial's time idle
    and slowed down a second worker on the other core by 40% (``python -m benchmarks --only scaling``). This
    pipeline has the same batches per epoch with autotuning off: the digits MLP trains twice as fast, and two
    workers on two cores run at almost the speed of one. The shuffle buffer holds one copy of the rows.
    ``x`` is a float matrix or a dict of a table's column inputs; ``weights`` (per row) weigh the loss.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y) if weights is None else (x, y, weights))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.batch(batch_size).with_options(options)


def fit_rows(model: keras.Model, x: Any, y: np.ndarray, validation: tuple[Any, np.ndarray], *,
             batch_size: int, seed: int, weights: np.ndarray | None = None, **fit_args: Any) -> Any:
    """``model.fit`` on rows through :func:`batches`: the training rows shuffled by ``seed``, the validation rows
    in order; ``fit_args`` (``epochs``, ``callbacks``, ...) go to ``fit``, which is quiet unless told."""
    x_val, y_val = validation
    return model.fit(batches(x, y, batch_size, shuffle_seed=seed, weights=weights),
                     validation_data=batches(x_val, y_val, batch_size),
                     shuffle=False, **{"verbose": 0, **fit_args})


def fit_fold(
    *,
    recipe: Recipe,
    params: dict[str, Any],
    table: Table,
    fold: Fold,
    seed: int,
    on_epoch: EpochHook | None = None,
    prepared: Prepared | None = None,
) -> FitResult:
    """Builds, compiles and trains one configuration on one fold.

    Args:
        recipe: the study's recipe (task, family, metric).
        params: the full configuration (every hyperparameter of the family).
        table: the raw rows.
        fold: which rows train and which validate.
        seed: seeds Python, NumPy and TensorFlow for this fit.
        on_epoch: called after each epoch with the 1-based epoch and its values in target units; it may raise
            (e.g. ``optuna.TrialPruned``) to stop training.
        prepared: :func:`prepare` of the same recipe, table and fold, made once for a study's trials.

    Raises:
        TrialDiverged: the training loss became NaN or infinite.
    """
    keras.utils.set_random_seed(seed)
    encoding, x_train, x_val, y_train, y_val, numeric = prepared or prepare(recipe, table, fold)
    model = compiled_model(recipe, params, x_train, encoding, numeric)
    batch_size, epochs = int(params["batch_size"]), int(params["epochs"])

    factor = TASKS[recipe.task].unit_factor(recipe.metric, encoding)
    recorder = _EpochCallback({recipe.metric: factor, f"val_{recipe.metric}": factor}, on_epoch)
    callbacks: list[keras.callbacks.Callback] = [recorder]
    # The trial's value is its best epoch's objective and its model keeps that epoch's weights; with `patience`,
    # training also stops after that many epochs without a better objective.
    stopper = keras.callbacks.EarlyStopping(monitor=f"val_{recipe.metric}", mode=recipe.direction[:3],
                                            patience=int(params["patience"] or epochs), restore_best_weights=True)
    callbacks.append(stopper)
    if params["lr_schedule"] == "reduce_on_plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5))

    start = time.perf_counter()
    with _custom_gradients_forgotten():
        fit_rows(model, x_train, y_train, (x_val, y_val), batch_size=batch_size, seed=seed, epochs=epochs,
                 callbacks=callbacks, weights=class_weights(recipe, encoding, y_train))
    seconds = time.perf_counter() - start

    curve = recorder.history[f"val_{recipe.metric}"]
    at = len(curve) - 1
    if stopper.best_weights is not None:
        # Keras 3 restores the best epoch's weights at the end of training whether or not it stopped early.
        at = int(stopper.best_epoch)
    return FitResult(model=model, encoding=encoding, history=recorder.history, value=curve[at], best_epoch=at + 1,
                     seconds=seconds)
