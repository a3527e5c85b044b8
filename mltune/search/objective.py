"""One trial: sample a configuration, train it on every fold, report each epoch, log it as a nested run."""

from __future__ import annotations

import contextlib
import math
import statistics
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from mltune.errors import TrialDiverged
from mltune.names import (
    BEST_EPOCH_ATTR,
    ENQUEUED,
    ENQUEUED_ATTR,
    ERROR,
    PRUNED,
    RUN_ID_ATTR,
    TRACEBACK_ARTIFACT,
    TRIAL_STATE,
    WORKER_ATTR,
)
from mltune.runtime.workers import stop_if_interrupted, worker_id
from mltune.search.context import StudyContext
from mltune.search.reports import EpochReports
from mltune.tasks import is_better
from mltune.tracking.runs import Tracker, TrialRun
from mltune.views import plots

if TYPE_CHECKING:
    import pandas as pd

    from mltune.model.training import Prepared
    from mltune.tasks import Encoding
    from mltune.tracking.pyfunc import KerasTabularModel


@dataclass(frozen=True)
class KeptModel:
    """A trial's trained model, held until the study knows whether it is the best."""

    trial_number: int
    run_id: str
    model: Any
    encoding: Encoding


class Objective:
    """The Optuna objective. It owns the trial: it trains, reports per epoch and decides when to prune.

    Under k-fold cross-validation the folds train one after the other; only the first fold reports to the
    pruner (steps are its epochs), so a trial is pruned early or runs all folds. With the ``wilcoxon`` pruner
    each fold reports its value instead (steps are folds), and a trial stops between folds. The objective is the mean of
    the folds' final validation metric; its spread is logged as ``cv_std_val_<metric>``.

    The model of the best trial this process has run stays in memory (``kept``) and is saved once, by
    :meth:`finish` at the end of the study, as the MLflow model that will be registered, instead of after every
    trial that is the best so far.
    """

    def __init__(self, setting: StudyContext) -> None:
        self.setting = setting
        self.kept: KeptModel | None = None
        self.best_model: KerasTabularModel | None = None
        """The study's best model, when this process trained and saved it (promotion scores it in memory)."""
        self.prepared: dict[int, Prepared] = {}
        """Each fold's encoding and arrays, made by the first trial that trains on it."""

    def __call__(self, trial: optuna.Trial) -> float:
        s = self.setting
        params = s.space.sample(trial)
        enqueued = trial.user_attrs.get(ENQUEUED_ATTR)
        tags = {ENQUEUED: enqueued} if enqueued else {}
        run = s.tracker.start_trial(experiment_id=s.experiment_id, parent_run_id=s.parent_run_id,
                                    study_name=s.study_name, number=trial.number, params=params, tags=tags,
                                    dataset=s.dataset)
        with trial_outcome(trial, run, s.tracker):
            return self._train(trial, params, run)

    def _train(self, trial: optuna.Trial, params: dict[str, Any], run: TrialRun) -> float:
        from mltune.model.training import fit_fold, prepare

        s = self.setting
        metric, folds = s.recipe.metric, s.splits.folds
        monitor = f"val_{metric}"
        values, best_epochs, seconds = [], [], 0.0
        by_fold = s.recipe.pruner.name == "wilcoxon"
        for k, fold in enumerate(folds):
            prefix = f"fold_{k}/" if len(folds) > 1 else ""

            reports = EpochReports(trial, direction=s.recipe.direction, label=monitor,
                                   epochs=int(params["epochs"])) if k == 0 and not by_fold \
                else None

            def on_epoch(epoch: int, logs: dict[str, float], prefix: str = prefix,
                         reports: EpochReports | None = reports) -> None:
                stop_if_interrupted()
                run.log_epoch(epoch, logs, prefix=prefix)
                if reports is not None:
                    reports.epoch(epoch, logs[monitor])

            if k not in self.prepared:
                self.prepared[k] = prepare(s.recipe, s.table, fold)
            result = fit_fold(recipe=s.recipe, params=params, table=s.table, fold=fold,
                              seed=s.recipe.seed + trial.number, on_epoch=on_epoch, prepared=self.prepared[k])
            if reports is not None:
                reports.close()
            values.append(result.value)
            best_epochs.append(result.best_epoch)
            seconds += result.seconds
            if len(folds) > 1:
                run.log_value(f"fold_{monitor}", result.value, step=k)
            if by_fold:
                trial.report(result.value, k)
                if k < len(folds) - 1 and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {k + 1} of {len(folds)} with "
                                             f"{monitor}={statistics.fmean(values):.6g} so far")
        value = statistics.fmean(values)
        if by_fold:  # its steps are folds: what a refit needs is kept beside them
            trial.set_user_attr(BEST_EPOCH_ATTR, round(statistics.fmean(best_epochs)))
        if not math.isfinite(value):
            raise TrialDiverged(f"the objective {monitor} is {value}")
        run.log_value("objective", value)
        run.log_value("training_time_s", seconds)
        if len(folds) > 1:
            run.log_value(f"cv_mean_{monitor}", value)
            run.log_value(f"cv_std_{monitor}", statistics.pstdev(values))
        if len(folds) == 1 and beats_best(trial.study, value, s.recipe.direction):
            self.kept = KeptModel(trial.number, run.run_id, result.model, result.encoding)
        return value

    def finish(self, study: optuna.Study) -> None:
        """Saves the kept model if its trial is the study's best (under CV, promotion refits instead), with a
        diagnostic plot on its validation rows: a confusion matrix (classifier) or reconstructions (autoencoder)."""
        kept, self.kept = self.kept, None
        if kept is None or _best_number(study) != kept.trial_number:  # its trial may have failed after training
            return
        from mltune.tracking.pyfunc import KerasTabularModel

        s = self.setting
        s.tracker.log_model(kept.run_id, kept.model, kept.encoding, input_example=s.table.features_frame().head(5))
        self.best_model = KerasTabularModel.of(kept.model, kept.encoding)
        if s.recipe.task in DIAGNOSTICS:
            name, draw = DIAGNOSTICS[s.recipe.task]
            rows = s.table.frame.iloc[s.splits.folds[0].validation]
            predicted = self.best_model.predict(None, rows)
            run = TrialRun(s.tracker.client, kept.run_id, {})
            plots.draw_or_warn(lambda: run.log_plot(lambda path: draw(s, rows, predicted, path), name))


@contextlib.contextmanager
def trial_outcome(trial: optuna.Trial, run: TrialRun, tracker: Tracker) -> Iterator[None]:
    """Records how a trial's block ended on its run: its state (and why it was pruned or failed) in tags written
    with the run's final batch. SIGTERM/SIGINT also close the run here, as FAILED: Optuna fails the trial and
    skips the callbacks (:func:`close_trial_run` closes the run otherwise)."""
    trial.set_user_attr(RUN_ID_ATTR, run.run_id)
    trial.set_user_attr(WORKER_ATTR, worker_id())
    final: dict[str, Any] = {}
    trace = ""
    try:
        yield
        final[TRIAL_STATE] = "COMPLETE"
    except optuna.TrialPruned as pruned:
        final.update({TRIAL_STATE: "PRUNED", PRUNED: str(pruned)})
        raise
    except Exception as error:
        final.update({TRIAL_STATE: "FAIL", ERROR: f"{type(error).__name__}: {error}"})
        trace = traceback.format_exc()  # kept in the run: the console gets one line (see mltune.cli)
        raise
    except BaseException as stop:
        final.update({TRIAL_STATE: "FAIL", ERROR: f"interrupted: {stop or type(stop).__name__}"})
        run.flush(tags=final)
        final.clear()
        tracker.end_trial(run.run_id, "FAIL")
        raise
    finally:
        run.flush(tags=final)
        if trace:
            run.log_text(trace, TRACEBACK_ARTIFACT)


def _confusion_matrix(s: StudyContext, rows: pd.DataFrame, predicted: Any, path: Any) -> None:
    assert s.table.target is not None
    labels = np.unique(s.table.y()).tolist()
    plots.write_confusion_matrix(rows[s.table.target].to_numpy(), predicted, labels=labels, path=path)


def _reconstructions(s: StudyContext, rows: pd.DataFrame, predicted: Any, path: Any) -> None:
    original = s.table.features_frame(rows).to_numpy(dtype=float)
    plots.write_reconstructions(original, predicted.to_numpy(dtype=float), path=path)


DIAGNOSTICS = {"classification": ("confusion_matrix.png", _confusion_matrix),
               "autoencoder": ("reconstructions.png", _reconstructions)}
"""The figure drawn for the best trial, by task."""


def _best_number(study: optuna.Study) -> int | None:
    try:
        return study.best_trial.number
    except ValueError:  # no complete trial
        return None


def beats_best(study: optuna.Study, value: float, direction: str) -> bool:
    """Whether ``value`` beats every complete trial of the study so far. A tie does not: Optuna's ``best_trial``
    is the earliest of equal values (accuracies on a few hundred rows tie often), and that trial's model is the
    one to keep."""
    try:
        best = study.best_value
    except ValueError:  # no complete trial yet
        return True
    return is_better(value, best, direction=direction)


def close_trial_run(tracker: Tracker):  # type: ignore[no-untyped-def]
    """An Optuna callback that closes a trial's run once Optuna has recorded the trial's final state."""

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:
            tracker.end_trial(run_id, trial.state.name)

    return callback
