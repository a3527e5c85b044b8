"""One trial of a user's own model: ``build_model(hp)`` with Optuna's suggestions, ``fit``, report each epoch.

The counterpart of :mod:`mltune.search.objective` for a :class:`~mltune.flows.tuner.Tuner`: the same nested run,
the same states and tags, the same per-epoch pruning; the search space is whatever ``hp`` calls the build function
makes (define-by-run).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from mltune.errors import FailedTrialError, FatalError, TrialDiverged, TrialError
from mltune.model.hypermodel import HyperModel, TrialFit, fit_trial, returned_metrics, returned_value
from mltune.names import BUILD_CONFIG_ATTR, HP_VALUES_ATTR, TRIAL_ID_ATTR
from mltune.runtime.workers import stop_if_interrupted
from mltune.search.keras_tuner import HyperParameters, Objective, Spec, keras_tuner_trial_id
from mltune.search.objective import beats_best, trial_outcome
from mltune.search.reports import EpochReports
from mltune.tracking.runs import Tracker, TrialRun


@dataclass(frozen=True)
class TunerSetting:
    """What every trial of a Tuner study shares.

    Attributes:
        hypermodel: the user's build function or HyperModel.
        objective: the metric from Keras' logs and its direction.
        tracker: where the runs go.
        study_name: the Optuna study.
        parent_run_id: the study's parent run.
        experiment_id: its experiment.
        seed: trial ``n`` trains with ``seed + n``.
        fit_args: the positional arguments given to ``search`` (for ``fit``).
        fit_kwargs: the keyword arguments given to ``search``.
        checkpoints: a folder where each complete trial's weights and build config are saved, in KerasTuner's
            layout (``trial_<id>/checkpoint.weights.h5``, ``build_config.json``), so that ``get_best_models(n)``
            can return more than the best; None to save none.
        executions: models trained per trial (KerasTuner's ``executions_per_trial``); the value is their mean.
        preset: KerasTuner's ``hyperparameters=``: its ``Fixed`` values hold in every trial.
        tune_new_entries: KerasTuner's: False searches only the preset's names.
        grid: a grid search (see :attr:`HyperParameters.grid`).
        run_trial: the Tuner's own ``run_trial(trial, *args, **kwargs)`` (KerasTuner's), which trains the trial
            in its own way, or sets ``fit`` arguments and calls mltune's (``trial.train``); None: mltune's.
    """

    hypermodel: HyperModel
    objective: Objective
    tracker: Tracker
    study_name: str
    parent_run_id: str
    experiment_id: str
    seed: int
    fit_args: tuple[Any, ...]
    fit_kwargs: dict[str, Any]
    checkpoints: str | None = None
    executions: int = 1
    preset: HyperParameters | None = None
    tune_new_entries: bool = True
    grid: bool = False
    run_trial: Callable[..., Any] | None = None
    retries: int = 0
    """KerasTuner's ``max_retries_per_trial``: a trial that raised is trained again up to this many times (not one
    that raised ``FailedTrialError`` or ``FatalError``, nor a pruned one)."""
    hooks: Any = None
    """What has KerasTuner's ``on_trial_begin(trial)`` and ``on_trial_end(trial)`` (the Tuner), or None."""
    fit_hooks: tuple[str, ...] = ()
    """The hooks of :data:`TUNER_HOOKS` that ``hooks`` overrides: called as ``fit`` trains, as KerasTuner does."""
    max_trials: int | None = None
    """The Tuner's, for KerasTuner's trial ids (zero-padded to its digits)."""
    max_epochs: int | None = None
    """KerasTuner's Hyperband: every trial is given these epochs (the pruner stops the weaker ones early), and its
    values say so as KerasTuner's do (``tuner/epochs``, ``tuner/initial_epoch``, ...), which scripts read."""


@dataclass
class RunningTrial:
    """A trial as KerasTuner's ``Tuner.run_trial(trial, *args, **kwargs)`` receives it."""

    trial_id: str
    hyperparameters: HyperParameters
    train: Callable[[tuple[Any, ...], dict[str, Any]], list[Any]]
    """mltune's training of the trial with these ``fit`` arguments (what ``Tuner.run_trial`` does): every epoch
    logged and shown to the pruner, the best epoch's weights kept; returns what each execution's ``fit`` returned
    (``History`` objects), as KerasTuner's."""
    epoch_end: Callable[[int, dict[str, float]], None]
    """Logs a custom loop's epoch (0-based) and shows its objective to the pruner (``Tuner.on_epoch_end``)."""
    status: str = "RUNNING"
    """KerasTuner's: RUNNING, then COMPLETED, STOPPED (pruned) or FAILED."""
    score: float | None = None
    """The trial's value, once it completed."""
    fits: list[TrialFit] = field(default_factory=list)
    """The models :attr:`train` trained."""
    reported: dict[str, float] = field(default_factory=dict)
    """Metrics given by KerasTuner's older ways (``oracle.update_trial``, ``on_epoch_end``): the objective's best
    value so far, the others' last."""
    model: Any = None
    """The model a custom loop gave (``save_model``, ``on_epoch_end``)."""
    fitting: bool = False
    """Whether mltune's training (:attr:`train`) is running: it logs the epochs itself."""

    def report(self, metrics: dict[str, Any], objective: Objective) -> None:
        """Keeps reported metrics, the objective's best value (by its direction) and the others' last."""
        for key, value in metrics.items():
            number, known = float(value), self.reported.get(str(key))
            if key != objective.name or known is None or (
                    number > known if objective.direction == "max" else number < known):
                self.reported[str(key)] = number


def merged_space(known: list[Spec], declared: list[Spec]) -> list[Spec]:
    """KerasTuner's oracle space: ``known`` with ``declared``'s new names added, each as ``declared`` has it."""
    latest = {spec.name: spec for spec in declared}
    return [latest.pop(spec.name, spec) for spec in known] + list(latest.values())


OBJECTIVE_METRIC, BEST_EPOCH_METRIC, TRAINING_TIME_METRIC = "objective", "best_epoch", "training_time_s"
"""What a Tuner's trial run logs once, besides the metrics of its training (which KerasTuner's trial records)."""


def trial_folder(folder: str, trial_id: str) -> str:
    """KerasTuner's folder of a trial in its project folder: ``trial_<trial_id>``."""
    return os.path.join(folder, f"trial_{trial_id}")


def checkpoint_path(folder: str, trial_id: str) -> str:
    """Where a trial's weights are saved in ``folder``: KerasTuner's ``trial_<id>/checkpoint.weights.h5``."""
    return os.path.join(trial_folder(folder, trial_id), "checkpoint.weights.h5")


@dataclass
class KeptUserModel:
    """The best trial's trained model this process holds, until the study knows whether it is the best."""

    trial_number: int
    run_id: str
    model: Any


class HyperModelObjective:
    """The Optuna objective of a Tuner: it owns the trial, and keeps the best model this process trained."""

    def __init__(self, setting: TunerSetting) -> None:
        self.setting = setting
        self.kept: KeptUserModel | None = None
        self.last_error: str = ""
        self.space: list[Spec] = []
        """Every hyperparameter the trials declared, in the order first declared, each as last declared."""
        self.conditional: set[str] = set()
        """The names any trial declared inside a conditional scope."""
        self.running: RunningTrial | None = None
        """The trial the Tuner's own ``run_trial`` is running."""
        self.fatal: FatalError | None = None
        """KerasTuner's error that stops the search, if the last trial raised one."""
        self.diverged = False
        """Whether the last trial failed because its loss or objective became NaN or infinite."""

    def __call__(self, trial: optuna.Trial) -> float:
        s = self.setting
        run = s.tracker.start_trial(experiment_id=s.experiment_id, parent_run_id=s.parent_run_id,
                                    study_name=s.study_name, number=trial.number, params={})
        hp = HyperParameters.for_trial(trial, s.preset, s.tune_new_entries, grid=s.grid)
        if s.max_epochs is not None:
            hp.values.update({"tuner/epochs": s.max_epochs, "tuner/initial_epoch": 0, "tuner/bracket": 0,
                              "tuner/round": 0})
        run.params = hp.values  # the same dict: the run's final batch writes every value asked for by then
        running, reports = self._running_trial(trial, hp, run)
        try:
            with trial_outcome(trial, run, s.tracker):
                if s.hooks is not None:
                    s.hooks.on_trial_begin(running)
                running.score = self._attempts(trial, hp, run, running, reports)
                running.status = "COMPLETED"
                return running.score
        except optuna.TrialPruned:
            running.status = "STOPPED"
            raise
        except Exception as error:
            running.status = "FAILED"
            self.last_error = f"{type(error).__name__}: {error}"
            self.fatal = _raised(error, FatalError)
            self.diverged = _raised(error, TrialDiverged) is not None
            raise
        finally:
            self.space = merged_space(self.space, hp.space)
            self.conditional.update(spec.name for spec in hp.space if spec.conditions)
            trial.set_user_attr(HP_VALUES_ATTR, json.dumps(hp.values, default=str))
            if s.hooks is not None and running.status != "RUNNING":
                s.hooks.on_trial_end(running)

    def _attempts(self, trial: optuna.Trial, hp: HyperParameters, run: TrialRun, running: RunningTrial,
                  reports: EpochReports) -> float:
        """:meth:`_train`, tried again after an error up to ``retries`` times (what it logged is dropped first)."""
        for attempt in range(self.setting.retries + 1):
            try:
                return self._train(trial, hp, run, running, reports)
            except Exception as error:
                if attempt == self.setting.retries or _raised(error, (FailedTrialError, FatalError)) is not None:
                    raise
                warnings.warn(f"trial {trial.number} raised {type(error).__name__}: {error}; training it again "
                              f"(retry {attempt + 1} of {self.setting.retries})", UserWarning, stacklevel=2)
                run.metrics.clear()
                running.fits.clear()
                running.reported.clear()
        raise AssertionError("unreachable")

    def _running_trial(self, trial: optuna.Trial, hp: HyperParameters,
                       run: TrialRun) -> tuple[RunningTrial, EpochReports]:
        """The trial as KerasTuner's ``run_trial`` and hooks receive it, and where its custom loop's epochs go."""
        s = self.setting

        def train(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
            fits = self._fit(trial, hp, run, running, args, kwargs)
            running.fits.extend(fits)
            return [f.returned for f in fits]

        reports = EpochReports(trial, direction=s.objective.optuna_direction, label=s.objective.name)

        def epoch_end(epoch: int, logs: dict[str, float]) -> None:
            stop_if_interrupted()
            values = s.objective.add_to({str(k): float(v) for k, v in logs.items()})
            run.log_epoch(epoch + 1, values)
            running.report(values, s.objective)
            if s.objective.name in values:
                reports.epoch(epoch + 1, values[s.objective.name])

        trial_id = keras_tuner_trial_id(trial.number, s.max_trials)
        trial.set_user_attr(TRIAL_ID_ATTR, trial_id)
        running = RunningTrial(trial_id, hp, train, epoch_end)
        return running, reports

    def _train(self, trial: optuna.Trial, hp: HyperParameters, run: TrialRun, running: RunningTrial,
               reports: EpochReports) -> float:
        """Trains the trial with mltune's training (:meth:`_fit`), or runs the Tuner's own ``run_trial`` and
        takes its value from what it returns (KerasTuner's rules), unless it returned what mltune's training did."""
        s = self.setting
        if s.run_trial is None:
            return self._settle(trial, run, self._fit(trial, hp, run, running, s.fit_args, s.fit_kwargs))
        import keras

        keras.backend.clear_session()
        keras.utils.set_random_seed(s.seed + trial.number)
        s.hypermodel.last_built = None
        self.running = running
        try:
            returned = s.run_trial(running, *s.fit_args, **s.fit_kwargs)
        finally:
            self.running = None
        if running.fits and _is_ours(returned, [f.returned for f in running.fits]):
            return self._settle(trial, run, running.fits)
        if returned is None and running.reported:
            returned = running.reported
        if returned is None:
            raise TrialError(f"trial {trial.number}: run_trial returned None; return the objective "
                             f"{s.objective.name!r} (a number, a dict of metrics, a History or a list of these)")
        value = returned_value(returned, s.objective, f"trial {trial.number}", source="run_trial")
        reports.close()
        model = running.model if running.model is not None else s.hypermodel.last_built
        fits = [TrialFit(model, value, 0, 0.0)] if model is not None else []
        return self._settle(trial, run, fits, value, returned=returned)

    def _fit(self, trial: optuna.Trial, hp: HyperParameters, run: TrialRun, running: RunningTrial,
             args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[TrialFit]:
        """Trains ``executions`` models of the trial's configuration (KerasTuner's ``executions_per_trial``).
        Only the first reports to the pruner (its steps are epochs); the others' epochs are logged as
        ``execution_<k>/<metric>``."""
        fits: list[TrialFit] = []
        running.fitting = True
        try:
            for k in range(self.setting.executions):
                fits.append(self._execution(trial, hp, run, running, args, kwargs, k))
        finally:
            running.fitting = False
        return fits

    def _execution(self, trial: optuna.Trial, hp: HyperParameters, run: TrialRun, running: RunningTrial,
                   args: tuple[Any, ...], kwargs: dict[str, Any], k: int) -> TrialFit:
        """Trains the trial's model once (execution ``k``)."""
        s = self.setting
        name = s.objective.name
        reports = EpochReports(trial, direction=s.objective.optuna_direction, label=name,
                               epochs=kwargs.get("epochs", 1)) if k == 0 else None

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            stop_if_interrupted()
            run.log_epoch(epoch, logs, prefix=f"execution_{k}/" if k else "")
            if reports is not None and name in logs:
                reports.epoch(epoch, logs[name])

        fit = fit_trial(s.hypermodel, hp, args, kwargs, objective=s.objective, seed=s.seed + trial.number + 100_003 * k,
                        on_epoch=on_epoch, execution=k, hooks=tuner_callback(s.hooks, s.fit_hooks, running),
                        trial_id=running.trial_id)
        if reports is not None:
            reports.close()
        return fit

    def _settle(self, trial: optuna.Trial, run: TrialRun, fits: list[TrialFit], value: float | None = None, *,
                returned: Any = None) -> float:
        """The trial's value (given, else the mean of the models' best-epoch values); logs it with the metrics the
        training returned (``returned``, else each fit's), and keeps the best of the models (and saves its
        weights) when the trial beats the study's best."""
        s = self.setting
        name = s.objective.name
        if value is None:
            value = statistics.fmean(f.value for f in fits)
        if not math.isfinite(value):
            raise TrialDiverged(f"trial {trial.number}: the objective {name} is {value}")
        run.log_value(OBJECTIVE_METRIC, value)
        run.log_results(returned_metrics(returned if returned is not None else [f.returned for f in fits],
                                         s.objective))
        if not fits:  # the Tuner's own run_trial built no model (it tunes something else)
            return value
        result = max(fits, key=lambda f: f.value if s.objective.direction == "max" else -f.value)
        run.log_value(BEST_EPOCH_METRIC, result.best_epoch)
        run.log_value(TRAINING_TIME_METRIC, sum(f.seconds for f in fits))
        built = result.model.get_build_config()  # the input shapes fit built it with (a Sequential with no Input)
        if built:
            trial.set_user_attr(BUILD_CONFIG_ATTR, json.dumps(built))
        if s.checkpoints:
            trial_id = str(trial.user_attrs[TRIAL_ID_ATTR])
            os.makedirs(trial_folder(s.checkpoints, trial_id), exist_ok=True)
            result.model.save_weights(checkpoint_path(s.checkpoints, trial_id))
            with open(os.path.join(trial_folder(s.checkpoints, trial_id), "build_config.json"), "w") as file:
                json.dump(built or {}, file)
        if beats_best(trial.study, value, s.objective.optuna_direction):
            self.kept = KeptUserModel(trial.number, run.run_id, result.model)
        return value


TUNER_HOOKS = {"on_epoch_begin": "on_epoch_begin", "on_epoch_end": "on_epoch_end",
               "on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
"""KerasTuner's Tuner hooks that its ``TunerCallback`` calls as ``fit`` trains, and the Keras callback methods that
call them."""


def tuner_callback(tuner: Any, overridden: tuple[str, ...], trial: RunningTrial) -> Any:
    """KerasTuner's ``TunerCallback``: a Keras callback that calls the ``overridden`` hooks of ``tuner`` (a Tuner
    subclass's ``on_epoch_end(trial, model, epoch, logs)``, ...) as mltune's training runs; None when there are none
    (a batch hook costs a call a batch)."""
    if not overridden:
        return None
    import keras

    def forward(hook: str) -> Callable[..., None]:
        return lambda callback, step, logs=None: getattr(tuner, hook)(trial, callback.model, step, logs=logs)

    methods = {TUNER_HOOKS[name]: forward(name) for name in overridden}
    return type("TunerCallback", (keras.callbacks.Callback,), methods)()


def _raised(error: BaseException | None, kind: Any) -> Any:
    """The exception of ``kind`` that ``error`` is or was raised from (mltune names the trial around the user's
    own), or None."""
    while error is not None and not isinstance(error, kind):
        error = error.__cause__ or error.__context__
    return error


def _is_ours(returned: Any, ours: list[Any]) -> bool:
    """Whether ``returned`` is nothing, or what mltune's training returned (all of it or some, in any list)."""
    items = returned if isinstance(returned, (list, tuple)) else [returned]
    return returned is None or bool(items) and all(any(item is our for our in ours) for item in items)
