"""A user's own Keras model: build it from ``hp`` and train it with the user's own ``fit`` arguments.

The model layer's second way to train (the first, :mod:`mltune.model.training`, builds a family's model from a
recipe): a KerasTuner-style ``build_model(hp)`` function, or an object with ``build(hp)`` and optionally
``fit(hp, model, *args, **kwargs)`` (a ``keras_tuner.HyperModel``, by duck typing), trained on whatever the user
passes to ``search`` (NumPy arrays, pandas frames, ``tf.data.Dataset``, ``keras.utils.PyDataset``).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from mltune.errors import FailedTrialError, TrialDiverged, TrialError
from mltune.model.training import build_optimizer

EpochHook = Callable[[int, dict[str, float]], None]


class HyperModel:
    """A ``build_model(hp)`` function, or an object with ``build(hp)`` and perhaps ``fit(hp, model, ...)``."""

    def __init__(self, target: Any, *, must_compile: bool = True, compile_with: dict[str, Any] | None = None) -> None:
        """``must_compile``: refuse a model ``build`` returns uncompiled (not for a HyperModel with its own ``fit``,
        nor when the Tuner's own ``run_trial`` trains it). ``compile_with``: KerasTuner's ``optimizer``, ``loss`` and
        ``metrics`` that override the model's own compile arguments (each model gets its own copy of the
        optimizer)."""
        build = getattr(target, "build", None)
        if not callable(build) and not callable(target):
            raise TypeError(f"hypermodel: must be a build_model(hp) function or have a build(hp) method, "
                            f"but got {target!r}")
        self.target = target
        self._build = build if callable(build) else target
        fit = getattr(target, "fit", None) if callable(build) else None
        self._fit = fit if callable(fit) else None
        self.must_compile = must_compile and self._fit is None
        self.compile_with = {k: v for k, v in (compile_with or {}).items() if v is not None}
        self.last_built: keras.Model | None = None
        """The model the last :meth:`build` returned."""
        self.max_model_size: int | None = None
        """KerasTuner's: a model with more trainable parameters fails its trial."""

    @property
    def name(self) -> str:
        """The HyperModel's ``name`` when it was given one, else the function's or the class's name."""
        given = None if callable(self.target) and not callable(getattr(self.target, "build", None)) else \
            getattr(self.target, "name", None)
        return given if isinstance(given, str) and given else \
            str(getattr(self.target, "__qualname__", type(self.target).__name__))

    def build(self, hp: Any) -> keras.Model:
        """The compiled model for ``hp``.

        Raises:
            TrialError: ``build`` raised, or returned something that is not a compiled ``keras.Model``.
        """
        label = getattr(hp, "trial_label", "this trial")
        try:
            model = self._build(hp)
        except Exception as error:
            raise TrialError(f"{label}: {self.name}(hp) raised {type(error).__name__}: {error}") from error
        if not isinstance(model, keras.Model):
            raise TrialError(f"{label}: {self.name}(hp) must return a keras.Model, but got "
                             f"{type(model).__module__}.{type(model).__qualname__}")
        if self.compile_with:
            _recompile(model, self.compile_with)
        compiled = getattr(model, "compiled", False) and getattr(model, "optimizer", None) is not None
        if not compiled and self.must_compile:
            raise TrialError(f"{label}: {self.name}(hp) must return a compiled model (call model.compile(...) "
                             f"before returning it), but got an uncompiled {type(model).__name__} {model.name!r}")
        if self.max_model_size and (size := _trainable_size(model)) > self.max_model_size:
            raise FailedTrialError(f"{label}: Oversized model: {size} parameters (max_model_size="
                                   f"{self.max_model_size}). Skip model.")
        self.last_built = model
        return model

    @property
    def fits_itself(self) -> bool:
        """Whether the user's HyperModel has its own ``fit`` (which may train an uncompiled model)."""
        return self._fit is not None

    def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        """Trains ``model`` as KerasTuner's ``HyperModel.fit`` does: the user's own ``fit``, else ``model.fit``."""
        if self._fit is not None:
            return self._fit(hp, model, *args, **kwargs)
        build_optimizer(model)
        return model.fit(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """The user's object's own attributes (``tuner.hypermodel.num_classes``), as KerasTuner's tuner gives it."""
        if name.startswith("__") or name == "target":
            raise AttributeError(name)
        return getattr(self.target, name)


def _trainable_size(model: keras.Model) -> int:
    """KerasTuner's model size: its trainable parameters once built (0 before)."""
    return sum(math.prod(w.shape) for w in model.trainable_weights) if model.built else 0


def _recompile(model: keras.Model, overrides: dict[str, Any]) -> None:
    """Compiles ``model`` again with ``overrides`` in place of its own arguments (all of them if it had none)."""
    config = model.get_compile_config() if getattr(model, "compiled", False) else None
    arguments = dict(keras.saving.deserialize_keras_object(config)) if config else {}
    optimizer = overrides.get("optimizer")
    if optimizer is not None and not isinstance(optimizer, str):  # a fresh one per model, as KerasTuner's
        overrides = {**overrides, "optimizer": keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))}
    model.compile(**{**arguments, **overrides})


class ObjectiveRecorder(keras.callbacks.Callback):  # type: ignore[misc]
    """Per epoch: hands the logs to the caller (who logs them and may prune), keeps the best epoch's weights.

    As KerasTuner does, a trial's value is its best epoch's value of the objective, and the model it leaves holds
    that epoch's weights. ``strict``: an epoch whose logs lack the objective fails the trial at once (not for a
    HyperModel with its own ``fit``, which may return the value instead).
    """

    def __init__(self, objective: str, direction: str, hook: EpochHook | None, label: str,
                 strict: bool = True) -> None:
        super().__init__()
        self.strict = strict
        self.objective, self.direction, self.hook, self.label = objective, direction, hook, label
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list[Any] | None = None
        self.epochs = 0
        self.hook_error: BaseException | None = None
        self.missing: list[str] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0 and k != "learning_rate"}
        self.epochs = epoch + 1
        if self.objective not in values:
            self.missing = sorted(values)
            if self.strict:  # model.fit's own logs are all there is: fail now, not after the last epoch
                raise self.missing_objective("or choose one of these")
        loss = values.get("loss", math.nan)
        if "loss" in values and not math.isfinite(loss):
            raise TrialDiverged(f"{self.label}: training loss became {loss} at epoch {epoch + 1}")
        if self.hook is not None:
            try:
                self.hook(epoch + 1, values)
            except BaseException as error:  # the caller's own (e.g. a pruned trial): passed on as it is
                self.hook_error = error
                raise
        if self.objective not in values:  # a HyperModel's own fit may still return it, as in KerasTuner
            return
        value = values[self.objective]
        if math.isfinite(value) and (self.best is None or (value > self.best if self.direction == "maximize"
                                                           else value < self.best)):
            self.best, self.best_epoch = value, epoch + 1
            self.best_weights = [np.array(w, copy=True) for w in self.model.get_weights()]

    def missing_objective(self, remedies: str) -> TrialError:
        """The error of an objective that the epoch logs lack (:attr:`missing` holds what they had)."""
        return TrialError(f"{self.label}: the objective {self.objective!r} is not in the model's logs, which hold: "
                          f"{', '.join(self.missing or []) or 'none'} (compile the metric, pass validation_data, "
                          f"{remedies})")

    def restore_best(self) -> None:
        if self.best_weights is not None and self.best_epoch != self.epochs:
            self.model.set_weights(self.best_weights)
        self.best_weights = None


@dataclass
class TrialFit:
    """A trained user model and its objective value (the best epoch's)."""

    model: keras.Model
    value: float
    best_epoch: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    returned: Any = None
    """What ``fit`` returned (a ``History`` for ``model.fit``)."""


class _Combine(keras.callbacks.Callback):  # type: ignore[misc]
    """Writes a combined objective into each epoch's logs, before every other callback (and History) reads them."""

    def __init__(self, objective: Any) -> None:  # mltune.search.keras_tuner.Objective
        super().__init__()
        self.objective = objective

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            self.objective.add_to(logs)


def _hparams_callback(log_dir: str, values: dict[str, Any], trial_id: str) -> list[keras.callbacks.Callback]:
    """TensorBoard's HParams callback writing the trial's hyperparameters (those TensorBoard can show) to
    ``log_dir``; none where TensorBoard is not installed."""
    try:
        from tensorboard.plugins.hparams import api as hparams_api
    except ImportError:
        return []
    shown = {name: value for name, value in values.items() if isinstance(value, (bool, int, float, str))}
    return [hparams_api.KerasCallback(writer=log_dir, hparams=shown, trial_id=trial_id)]


def fit_trial(hypermodel: HyperModel, hp: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *,
              objective: Any, seed: int, on_epoch: EpochHook | None, execution: int = 0,
              hooks: keras.callbacks.Callback | None = None, trial_id: str | None = None) -> TrialFit:
    """Builds the model for ``hp`` and trains it with the user's ``fit`` arguments plus mltune's epoch callback
    (and ``hooks``, not copied: a Tuner's epoch and batch hooks). A ``TensorBoard`` callback logs to
    ``<log_dir>/<trial_id>/execution<execution>``, with the trial's hyperparameters for TensorBoard's HParams
    dashboard, as KerasTuner's does.

    Raises:
        TrialError: the model could not be built, or ``fit`` rejected the data or the objective is not logged.
        TrialDiverged: the training loss became NaN or infinite.
    """
    from mltune.model.training import _custom_gradients_forgotten  # the same leak as a recipe trial's

    label = getattr(hp, "trial_label", "this trial")
    keras.backend.clear_session()  # as KerasTuner: an unnamed AUC() is `auc` in every trial's logs, not `auc_3`
    keras.utils.set_random_seed(seed)
    model = hypermodel.build(hp)
    every_epoch = kwargs.get("validation_freq", 1) == 1  # else validation metrics are missing from some epochs
    recorder = ObjectiveRecorder(objective.name, objective.optuna_direction, on_epoch, label,
                                 strict=not hypermodel.fits_itself and every_epoch)
    kwargs = dict(kwargs)
    callbacks = copy.deepcopy(list(kwargs.get("callbacks") or []))
    for callback in list(callbacks):  # each trial's execution logs to a folder of its own, as in KerasTuner
        if isinstance(callback, keras.callbacks.TensorBoard) and trial_id is not None:
            callback.log_dir = os.path.join(callback.log_dir, trial_id, f"execution{execution}")
            callbacks.extend(_hparams_callback(callback.log_dir, hp.values, trial_id))
    kwargs["callbacks"] = [*([_Combine(objective)] if objective.parts else []), *callbacks,
                           *([hooks] if hooks is not None else []), recorder]
    start = time.perf_counter()
    try:
        with _custom_gradients_forgotten():
            returned = hypermodel.fit(hp, model, *args, **kwargs)
    except Exception as error:
        if error is recorder.hook_error or isinstance(error, (TrialError, TrialDiverged)):
            raise
        # Keras' or TensorFlow's word on data that does not fit the model, named after the trial and shortened
        raise TrialError(f"{label}: fit failed: {type(error).__name__}: {_first_lines(error)}") from error
    seconds = time.perf_counter() - start
    value, best_epoch = _value(returned, recorder, objective, label)
    recorder.restore_best()
    history = dict(getattr(returned, "history", None) or {}) if isinstance(returned, keras.callbacks.History) else {}
    return TrialFit(model=model, value=value, best_epoch=best_epoch, seconds=seconds, history=history,
                    returned=returned)


def _value(returned: Any, recorder: ObjectiveRecorder, objective: Any, label: str) -> tuple[float, int]:
    """The trial's value: the best epoch's, or what a custom ``fit`` returned (a number or a dict of metrics)."""
    if recorder.best is not None:
        return recorder.best, recorder.best_epoch
    if isinstance(returned, dict) or is_number(returned):
        return returned_value(returned, objective, label, source="fit"), recorder.epochs
    if recorder.missing is not None:
        raise recorder.missing_objective("choose one of these, or return it from HyperModel.fit")
    raise TrialError(f"{label}: training gave no value of the objective {objective.name!r} (no epoch ended, and fit "
                     f"returned {type(returned).__name__})")


def is_number(value: Any) -> bool:
    """A number, or a 0-d array or tensor of one (``metric.result()``)."""
    if isinstance(value, (bool, str, bytes, dict, list, tuple)) or value is None:
        return False
    try:
        array = np.asarray(value)
    except Exception:
        return False
    return array.ndim == 0 and array.dtype.kind in "iuf"


def returned_value(returned: Any, objective: Any, label: str, *, source: str) -> float:
    """The objective's value in what KerasTuner lets ``fit`` or ``run_trial`` return: a number, a dict of metrics
    holding it, a ``History`` (its best epoch's, by the objective's direction), or a list of these (their mean).

    Raises:
        TrialError: the objective is not in it, or it is none of these.
    """
    name = objective.name
    if isinstance(returned, (list, tuple)) and returned:
        return float(np.mean([returned_value(r, objective, label, source=source) for r in returned]))
    if is_number(returned):
        return float(np.asarray(returned))
    if isinstance(returned, dict):
        returned = objective.add_to(dict(returned))
        if name not in returned:
            raise TrialError(f"{label}: the objective {name!r} is not in what {source} returned, which holds: "
                             f"{', '.join(map(str, returned)) or 'none'}")
        return returned_value(returned[name], objective, label, source=source)
    if isinstance(returned, keras.callbacks.History):
        values = [epoch[name] for epoch in _scored_epochs(returned, objective)]
        if not values:
            raise TrialError(f"{label}: the objective {name!r} is not in the History {source} returned, which "
                             f"holds: {', '.join(returned.history) or 'none'}")
        return float(max(values) if objective.direction == "max" else min(values))
    raise TrialError(f"{label}: {source} must return the objective {name!r} as a number, a dict of metrics, a "
                     f"History or a list of these, but returned {type(returned).__name__}")


def returned_metrics(returned: Any, objective: Any) -> dict[str, float]:
    """The metrics KerasTuner records of what ``fit`` or ``run_trial`` returned (``convert_to_metrics_dict``): a
    number as the objective, a dict's numbers, a ``History``'s best epoch (by the objective), a list's mean of
    each metric."""
    if isinstance(returned, (list, tuple)):
        parts = [returned_metrics(r, objective) for r in returned]
        keys = dict.fromkeys(k for part in parts for k in part)
        return {k: float(np.mean([part[k] for part in parts if k in part])) for k in keys}
    if is_number(returned):
        return {objective.name: float(np.asarray(returned))}
    if isinstance(returned, dict):
        return {str(k): float(np.asarray(v)) for k, v in objective.add_to(dict(returned)).items() if is_number(v)}
    scored = _scored_epochs(returned, objective) if isinstance(returned, keras.callbacks.History) else []
    if scored:
        best = (max if objective.direction == "max" else min)(scored, key=lambda e: e[objective.name])
        return {str(k): float(v) for k, v in best.items() if is_number(v)}
    return {}


def _scored_epochs(history: Any, objective: Any) -> list[dict[str, Any]]:
    """A ``History``'s epochs (their logs) that hold a finite value of the objective."""
    epochs = [objective.add_to(dict(zip(history.history, row, strict=True)))
              for row in zip(*history.history.values(), strict=False)]
    return [e for e in epochs if objective.name in e and math.isfinite(e[objective.name])]


def _first_lines(error: BaseException, limit: int = 6) -> str:
    lines = str(error).strip().splitlines()
    return "\n".join(lines[:limit]) + ("\n..." if len(lines) > limit else "")


def sample_inputs(args: tuple[Any, ...], kwargs: dict[str, Any], *, rows: int = 5) -> Any:
    """A few input rows of the data given to ``search`` (for the registered model's signature), or None: an array,
    a frame or a dict of named inputs, as the model takes them. Inputs given in order (a list) get no signature:
    MLflow's schemas have no list of arrays."""
    x = args[0] if args else kwargs.get("x")
    if x is None:
        return None
    if hasattr(x, "iloc"):
        return x.iloc[:rows]
    if isinstance(x, np.ndarray | dict):
        return _head(x, rows)
    if hasattr(x, "take") and hasattr(x, "element_spec"):  # tf.data.Dataset of (x, y) batches
        for batch in x.take(1):
            return _head(batch[0] if isinstance(batch, tuple) else batch, rows)
    if hasattr(x, "__getitem__") and hasattr(x, "__len__") and isinstance(x, keras.utils.PyDataset):
        first = x[0]
        return _head(first[0] if isinstance(first, tuple) else first, rows)
    return None


def _head(x: Any, rows: int) -> Any:
    """The first ``rows`` rows of a model's input: one array or a dict of them (None for a list of them)."""
    if isinstance(x, dict):
        return {k: np.asarray(v)[:rows] for k, v in x.items()}
    if isinstance(x, list | tuple):
        return None
    return np.asarray(x)[:rows]
