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
from dataclasses import dataclass
from typing import Any

import optuna

from mltune.errors import TrialDiverged
from mltune.model.hypermodel import HyperModel, TrialFit, fit_trial
from mltune.names import BUILD_CONFIG_ATTR, HP_VALUES_ATTR
from mltune.runtime.workers import stop_if_interrupted
from mltune.search.keras_tuner import HyperParameters, Objective, Spec
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
        checkpoints: a folder where each complete trial's weights are saved (``trial_<n>.weights.h5``), so that
            ``get_best_models(n)`` can return more than the best; None to save none.
        executions: models trained per trial (KerasTuner's ``executions_per_trial``); the value is their mean.
        preset: KerasTuner's ``hyperparameters=``: its ``Fixed`` values hold in every trial.
        tune_new_entries: KerasTuner's: False searches only the preset's names.
        grid: a grid search (see :attr:`HyperParameters.grid`).
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


def checkpoint_path(folder: str, number: int) -> str:
    """Where trial ``number``'s weights are saved in ``folder``."""
    return os.path.join(folder, f"trial_{number}.weights.h5")


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
        self.last_space: list[Spec] = []
        """The hyperparameters the last trial declared."""

    def __call__(self, trial: optuna.Trial) -> float:
        s = self.setting
        run = s.tracker.start_trial(experiment_id=s.experiment_id, parent_run_id=s.parent_run_id,
                                    study_name=s.study_name, number=trial.number, params={})
        hp = HyperParameters.for_trial(trial, s.preset, s.tune_new_entries, grid=s.grid)
        run.params = hp.values  # the same dict: the run's final batch writes every value asked for by then
        try:
            with trial_outcome(trial, run, s.tracker):
                return self._train(trial, hp, run)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            raise
        finally:
            self.last_space = hp.space
            trial.set_user_attr(HP_VALUES_ATTR, json.dumps(hp.values, default=str))

    def _train(self, trial: optuna.Trial, hp: HyperParameters, run: TrialRun) -> float:
        """Trains ``executions`` models of the trial's configuration (KerasTuner's ``executions_per_trial``); the
        value is the mean of their best-epoch values. Only the first reports to the pruner (its steps are epochs);
        the others' epochs are logged as ``execution_<k>/<metric>``. The best of them is kept."""
        s = self.setting
        name = s.objective.name
        fits: list[TrialFit] = []
        for k in range(s.executions):
            reports = EpochReports(trial, direction=s.objective.direction, label=name,
                                   epochs=s.fit_kwargs.get("epochs", 1)) if k == 0 else None

            def on_epoch(epoch: int, logs: dict[str, float], k: int = k,
                         reports: EpochReports | None = reports) -> None:
                stop_if_interrupted()
                run.log_epoch(epoch, logs, prefix=f"execution_{k}/" if k else "")
                if reports is not None and name in logs:
                    reports.epoch(epoch, logs[name])

            fits.append(fit_trial(s.hypermodel, hp, s.fit_args, s.fit_kwargs, objective=name,
                                  direction=s.objective.direction, seed=s.seed + trial.number + 100_003 * k,
                                  on_epoch=on_epoch))
            if reports is not None:
                reports.close()
        value = statistics.fmean(f.value for f in fits)
        if not math.isfinite(value):
            raise TrialDiverged(f"trial {trial.number}: the objective {name} is {value}")
        result = max(fits, key=lambda f: f.value if s.objective.direction == "maximize" else -f.value)
        run.log_value("objective", value)
        run.log_value("best_epoch", result.best_epoch)
        run.log_value("training_time_s", sum(f.seconds for f in fits))
        if s.checkpoints:
            result.model.save_weights(checkpoint_path(s.checkpoints, trial.number))
        built = result.model.get_build_config()  # the input shapes fit built it with (a Sequential with no Input)
        if built:
            trial.set_user_attr(BUILD_CONFIG_ATTR, json.dumps(built))
        if beats_best(trial.study, value, s.objective.direction):
            self.kept = KeptUserModel(trial.number, run.run_id, result.model)
        return value
