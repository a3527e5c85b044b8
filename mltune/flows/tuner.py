"""``mltune.Tuner``: tune a KerasTuner ``build_model(hp)`` (or HyperModel) unchanged, with MLflow and Optuna.

The study is an Optuna study like a recipe's (same storages, resume by study name and storage, the shared trial
budget and lost-trial handling of :func:`mltune.runtime.workers.run_trials`, SIGTERM handling); every trial is a
nested MLflow run under the study's parent run, with the ``hp`` values as params and per-epoch metrics; the best
model is saved once, at the end of ``search``, as an MLflow pyfunc model that takes what the Keras model takes;
``promote`` registers it behind the same champion/challenger gate as ``mltune promote``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna

from mltune import names
from mltune.config.redaction import redact
from mltune.errors import ConfigError, NoCompleteTrial, SearchFailed
from mltune.flows.promote import ANY_CHAMPION, Gate, PromotionResult, run_gate
from mltune.flows.tune import log_learning_curves, log_study_plots, record_study, setup_lock
from mltune.model.hypermodel import HyperModel, sample_inputs
from mltune.names import (
    BUILD_CONFIG_ATTR,
    ERROR,
    EXPERIMENT_ATTR,
    HP_VALUES_ATTR,
    OBJECTIVE_ATTR,
    PARENT_RUN_ATTR,
    RUN_ID_ATTR,
)
from mltune.runtime.storage import DEFAULT_STORAGE, StorageLock, open_storage
from mltune.runtime.workers import (
    RetryLostTrial,
    fail_dead_local_trials,
    run_trials,
    signals_interrupt,
    trials_counted,
)
from mltune.search import oracles
from mltune.search.keras_tuner import HyperParameters, Objective, infer_direction, trial_id_of
from mltune.search.objective import close_trial_run
from mltune.search.oracles import (
    GridSearchOracle,
    HyperbandOracle,
    InOrder,
    KerasTunerOracle,
    Search,
    Untried,
    tuner_sampler,
)
from mltune.search.strategies import pruner_named
from mltune.search.user_model import (
    BEST_EPOCH_METRIC,
    OBJECTIVE_METRIC,
    TRAINING_TIME_METRIC,
    TUNER_HOOKS,
    HyperModelObjective,
    RunningTrial,
    TunerSetting,
    checkpoint_path,
    merged_space,
    trial_folder,
)
from mltune.tracking.runs import Tracker
from mltune.views.plots import draw_or_warn, optuna_says_only
from mltune.views.progress import ProgressMode, StudyProgress


class Tuner:
    """Tunes a KerasTuner-style ``build_model(hp)`` with Optuna; every trial is a nested MLflow run.

    Example::

        tuner = mltune.Tuner(build_model, objective="val_accuracy", max_trials=20, study_name="cnn")
        tuner.search(x_train, y_train, epochs=10, validation_data=(x_val, y_val))
        model = tuner.get_best_models(1)[0]
        tuner.promote("digits-cnn", test_data=(x_test, y_test))

    Args:
        hypermodel: a ``build_model(hp)`` function returning a compiled ``keras.Model``, or an object with
            ``build(hp)`` and optionally ``fit(hp, model, *args, **kwargs)`` (a ``keras_tuner.HyperModel``). A
            subclass that overrides :meth:`run_trial` may leave it out, or build uncompiled models.
        objective: a name from Keras' epoch logs (direction inferred: losses and errors are minimized,
            accuracy, AUC, precision, recall and the like maximized), or ``mltune.Objective(name, direction)``.
            Left out: ``val_accuracy``; for a HyperModel with its own ``fit`` or a subclass with its own
            ``run_trial``, KerasTuner's default, the number they return, minimized.
        max_trials: trials the study should hold in all (a resumed study runs only the missing ones).
        study_name: the Optuna study; defaults to ``project_name``, else the build function's name.
        storage: an Optuna storage (``journal:PATH`` or a database URL); defaults to a journal file in
            ``directory`` when given, else ``optuna-journal.log`` in the working directory.
        experiment_name: the MLflow experiment; defaults to ``MLFLOW_EXPERIMENT_NAME``, else the study name.
        sampler: ``tpe``, ``random``, ``gp``, ``cmaes`` (a recipe's sampler names), or an Optuna sampler.
        pruner: ``hyperband``, ``median``, ``successive_halving``, ``none``, or an Optuna pruner; its steps are
            epochs, and it sees the objective at every epoch it may decide at (Hyperband's rungs; every epoch for
            a pruner mltune does not know).
        seed: seeds the sampler (a resumed study's with ``seed`` plus the trials it holds, so that it does not
            draw the first run's configurations again); trial ``n`` trains with ``seed + n``.
        timeout: seconds after which no new trial starts.
        tracking_uri: the MLflow tracking URI (default: MLflow's own choice).
        code_paths: files or packages the registered model needs (custom layers); shipped with it and
            imported before it loads.
        max_consecutive_failed_trials: stop :meth:`search` with an error after this many failed trials in a
            row (as KerasTuner does); each failure is recorded first.
        progress: ``auto``, ``bar``, ``lines`` or ``quiet``: progress on stderr.
        directory: KerasTuner's results directory: here, where the default journal storage goes and where
            every trial's folder is kept in KerasTuner's layout (``<directory>/<study>/trial_<id>/``: its
            ``trial.json``, and a complete trial's ``checkpoint.weights.h5`` and ``build_config.json``) for
            :meth:`get_best_models`; without it they are kept in a temporary folder while this Tuner lives.
        project_name: KerasTuner's project name: the default study name.
        overwrite: start the study afresh (delete one of the same name) instead of resuming it.
        executions_per_trial: models trained per trial, as in KerasTuner: the trial's value is the mean of their
            best-epoch values (which reduces the variance); only the first reports to the pruner, and the best
            of them is the trial's model.
        keras_tuner_only: KerasTuner's ``hyperparameters`` (a preset whose ``Fixed`` values hold in every trial,
            and whose other hyperparameters replace the build function's of the same name), ``tune_new_entries``
            (False: only the preset's names are searched), ``allow_new_entries`` (False: ``build_model`` may
            declare only the preset's names, else :meth:`search` raises ``ConfigError``), ``optimizer``, ``loss``
            and ``metrics`` (they override the model's own compile arguments), ``oracle`` (a base Tuner's search:
            :mod:`mltune.oracles`), and its settings that mltune has no use for (:data:`KERAS_TUNER_ONLY`), accepted
            with a warning so that a KerasTuner script runs; any other name is a ``TypeError``.

    KerasTuner's base ``Tuner(oracle, hypermodel)``, with the oracle first and positional, works too.

    Raises:
        ConfigError: a setting breaks a rule (``max_trials < 1``, an unknown sampler, ...).
    """

    distribution_strategy: Any = None
    """KerasTuner's setting, kept for scripts that read it (``with tuner.distribution_strategy.scope():``);
    mltune trains each trial on the default strategy."""
    logger: Any = None
    tuner_id = "tuner0"

    def __init__(self, hypermodel: Any = None, *oracle_form: Any, objective: Any = None, max_trials: int = 20,
                 study_name: str | None = None, storage: str | None = None, experiment_name: str | None = None,
                 sampler: Any = "tpe", pruner: Any = "hyperband", seed: int = 0, timeout: float | None = None,
                 tracking_uri: str | None = None, code_paths: Sequence[str] = (),
                 max_consecutive_failed_trials: int = 3, progress: ProgressMode = "auto",
                 directory: str | None = None, project_name: str | None = None, overwrite: bool = False,
                 executions_per_trial: int = 1, **keras_tuner_only: Any) -> None:
        """Checks the settings (see the class for each); nothing is written before :meth:`search`."""
        hypermodel, oracle = _positional(hypermodel, oracle_form, keras_tuner_only)
        search: Search | None = None
        if oracle is not None:  # KerasTuner's base Tuner takes its search from an oracle
            objective = oracle.objective if objective is None else objective
            seed = oracle.seed if oracle.seed is not None else seed
            search = oracle.search(seed)
            sampler, pruner, max_trials = search.sampler, search.pruner, search.max_trials  # type: ignore[assignment]
            for key in ("hyperparameters", "tune_new_entries", "allow_new_entries"):
                keras_tuner_only.setdefault(key, getattr(oracle, key))
            max_consecutive_failed_trials = oracle.max_consecutive_failed_trials
        compile_with = {key: keras_tuner_only.pop(key, None) for key in ("optimizer", "loss", "metrics")}
        self.max_retries_per_trial = int(keras_tuner_only.pop(
            "max_retries_per_trial", oracle.max_retries_per_trial if oracle is not None else 0))
        self.preset: HyperParameters | None = keras_tuner_only.pop("hyperparameters", None)
        self.tune_new_entries, self.allow_new_entries = (
            bool(keras_tuner_only.pop(key, True)) for key in ("tune_new_entries", "allow_new_entries"))
        _check_limits(None if isinstance(sampler, InOrder) and max_trials is None else max_trials, timeout,
                      executions_per_trial, max_consecutive_failed_trials)
        self._own_trials = own_trials = type(self).run_trial is not Tuner.run_trial
        self.hypermodel = _hypermodel(hypermodel, own_trials=own_trials, tuner=type(self).__name__,
                                      compile_with=compile_with)
        _keras_tuner_settings(self, keras_tuner_only)
        if objective is None and not self.hypermodel.fits_itself and not own_trials:
            objective = "val_accuracy"
        self.objective = Objective.of(objective)
        self.max_trials: int | None = None if max_trials is None else int(max_trials)  # None: a whole grid
        self.timeout, self.seed = timeout, int(seed)
        self.study_name = study_name or project_name or self.hypermodel.name
        if storage is None and directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            storage = f"journal:{Path(directory) / f'{self.study_name}.optuna.log'}"
        self.storage, self.experiment_name, self.overwrite = storage, experiment_name, overwrite
        if directory is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="mltune-tuner-")
        self.checkpoints = self._scratch.name if directory is None else str(Path(directory) / self.study_name)
        Path(self.checkpoints).mkdir(parents=True, exist_ok=True)
        self._use(sampler, pruner, search)
        self.tracker = Tracker(tracking_uri)
        self.code_paths = [str(Path(p).resolve()) for p in code_paths]
        self.max_consecutive_failed_trials, self.progress = max_consecutive_failed_trials, progress
        self.executions = self.executions_per_trial = int(executions_per_trial)
        # KerasTuner's names for the settings, which scripts read
        self.directory, self.project_name, self.project_dir = directory, self.study_name, self.checkpoints
        self.parent_run_id, self.experiment_id = "", ""
        self.promotion: PromotionResult | None = None
        """The gate's decision of the last :meth:`promote`."""
        self._study: optuna.Study | None = None
        self._best: tuple[int, Any] | None = None
        self._space, self._conditional = list[Any](), set[str]()  # and names declared in a conditional scope
        self._objective: HyperModelObjective | None = None
        self.oracle_settings: dict[str, Any] = dict(vars(oracle)) if oracle is not None else {}
        """KerasTuner's oracle's settings, as ``tuner.oracle`` shows them (``num_initial_points``, ``factor``, ...)."""

    def _use(self, sampler: Any, pruner: Any, search: Search | None) -> None:
        """Sets the sampler (and how to reseed it), the pruner, their names, and an oracle's ``max_epochs``."""
        self.sampler = tuner_sampler(sampler, seed=self.seed)
        self._reseeded: Callable[[int], optuna.samplers.BaseSampler] | None = (
            search.reseeded if search is not None else
            (lambda new_seed: tuner_sampler(sampler, seed=new_seed)) if isinstance(sampler, str) else None)
        """The sampler by name with another seed (None: the user's own sampler object, used as it is)."""
        self.pruner = pruner_named(pruner)
        self.sampler_name = "grid" if isinstance(self.sampler, InOrder) else \
            sampler if isinstance(sampler, str) else type(sampler).__name__
        self.pruner_name = pruner if isinstance(pruner, str) else type(pruner).__name__
        self.max_epochs = search.max_epochs if search is not None else None
        """Replaces the ``epochs`` given to :meth:`search` (KerasTuner's Hyperband), or None."""

    # ------------------------------------------------------------ search

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs trials until the study holds ``max_trials``; the arguments go to ``model.fit`` unchanged.

        Raises:
            ConfigError: with ``allow_new_entries=False``, ``build_model`` declares a name the preset does not hold
                (nothing is trained or written).
            SearchFailed: ``max_consecutive_failed_trials`` trials failed in a row (each is recorded as failed,
                with its error, in Optuna and MLflow).
        """
        if not self.allow_new_entries:  # KerasTuner's guard: the preset is the whole space
            preset = {spec.name for spec in self.preset.space} if self.preset is not None else set()
            new = [spec.name for spec in self.space if spec.name not in preset]
            if new:
                raise ConfigError(f"allow_new_entries=False: build_model declares {', '.join(map(repr, new))}, which "
                                  "the hyperparameters= preset does not hold; declare it there, or allow new entries")
        if self.max_epochs is not None:  # KerasTuner's Hyperband
            fit_kwargs = {**fit_kwargs, "epochs": self.max_epochs}
        study = self._open()
        setting = TunerSetting(hypermodel=self.hypermodel, objective=self.objective, tracker=self.tracker,
                               study_name=study.study_name, parent_run_id=self.parent_run_id,
                               experiment_id=self.experiment_id, seed=self.seed, fit_args=fit_args,
                               fit_kwargs=fit_kwargs, checkpoints=self.checkpoints,
                               executions=self.executions, preset=self.preset,
                               tune_new_entries=self.tune_new_entries, grid=isinstance(self.sampler, InOrder),
                               run_trial=self.run_trial if self._own_trials else None,
                               retries=self.max_retries_per_trial, hooks=self, max_trials=self.keras_tuner_max_trials,
                               max_epochs=self.max_epochs, fit_hooks=self._fit_hooks)
        self._objective = objective = HyperModelObjective(setting)
        lost = RetryLostTrial(tracking_uri=self.tracker.tracking_uri)
        fail_dead_local_trials(study, lost)
        display = StudyProgress(total=self.max_trials, done=trials_counted(study), metric=self.objective.name,
                                direction=self.objective.optuna_direction, timeout=self.timeout, mode=self.progress)
        guard = _FailureGuard(self.max_consecutive_failed_trials, objective)
        lock = StorageLock(self.storage, f"mltune-trials:{study.study_name}")
        status = "FAILED"
        self.on_search_begin()
        try:
            with display, signals_interrupt(), optuna_says_only(optuna.logging.WARNING):  # the display says more
                run_trials(study, objective, n_trials=self.max_trials, timeout=self.timeout, lock=lock,
                           callbacks=[close_trial_run(self.tracker), self._write_trial_file, display, guard],
                           on_lost=lost)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            lock.close()
            self._space = merged_space(self._space, objective.space)
            self._conditional |= objective.conditional
            try:
                self._keep_best(study, objective, fit_args, fit_kwargs)
                self._summarize(study)
            except BaseException:
                self.tracker.finish(self.parent_run_id, "FAILED")  # never left RUNNING
                raise
            self.tracker.finish(self.parent_run_id, status)
        self.on_search_end()

    def run_trial(self, trial: RunningTrial, *args: Any, **kwargs: Any) -> list[Any]:
        """Trains the trial's model(s) (``executions_per_trial``) with ``fit(*args, **kwargs)``: every epoch logged
        and shown to the pruner, each model left with its best epoch's weights; returns each ``fit``'s ``History``.

        As in KerasTuner, a subclass may override it: to set ``fit`` arguments from ``trial.hyperparameters`` and
        ``return super().run_trial(trial, *args, **kwargs)``, or to train (or compute) anything in its own way and
        return the objective's value: a number, a dict of metrics holding the objective, a ``History`` (its best
        epoch's value), or a list of these (their mean). :meth:`search` passes it its own arguments.
        """
        return trial.train(args, kwargs)

    # KerasTuner's hooks: a subclass may override them; mltune's training calls the epoch and batch ones as
    # KerasTuner's does, and a custom training loop in run_trial calls on_epoch_end (its guides of 2019-2021)

    def on_epoch_end(self, trial: RunningTrial, model: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Logs the epoch's metrics (``epoch`` 0-based) on the trial's run, shows its objective to the pruner, and
        keeps ``model`` as the trial's; the objective's best value is the trial's if ``run_trial`` returns nothing.
        While mltune's training runs (an override's ``super().on_epoch_end``), it does nothing: that training logs
        its epochs itself."""
        if trial.fitting:
            return
        trial.model = model
        trial.epoch_end(epoch, dict(logs or {}))

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Keeps ``model`` as the running trial's model (saved with the trial if it is the study's best)."""
        self._running(trial_id).model = model

    def on_search_begin(self) -> None:
        """KerasTuner's hook, called as :meth:`search` starts; a subclass may override it."""

    def on_search_end(self) -> None:
        """KerasTuner's hook, called once :meth:`search` has ended well; a subclass may override it."""

    def on_trial_begin(self, trial: RunningTrial) -> None:
        """KerasTuner's hook, called before each trial trains; a subclass may override it."""

    def on_trial_end(self, trial: RunningTrial) -> None:
        """KerasTuner's hook, called after each trial with its ``status`` and ``score``; a subclass may override
        it."""

    def on_epoch_begin(self, trial: RunningTrial, model: Any, epoch: int, logs: Any = None) -> None:
        """KerasTuner's hook, called as mltune's training runs; a subclass may override it."""

    def on_batch_begin(self, trial: RunningTrial, model: Any, batch: int, logs: Any = None) -> None:
        """KerasTuner's hook, called as mltune's training runs; a subclass may override it."""

    def on_batch_end(self, trial: RunningTrial, model: Any, batch: int, logs: Any = None) -> None:
        """KerasTuner's hook, called as mltune's training runs; a subclass may override it."""

    @property
    def _fit_hooks(self) -> tuple[str, ...]:
        """The epoch and batch hooks this Tuner's class overrides."""
        return tuple(name for name in TUNER_HOOKS if getattr(type(self), name) is not getattr(Tuner, name))

    def _running(self, trial_id: str) -> RunningTrial:
        running = self._objective.running if self._objective is not None else None
        if running is None or running.trial_id.lstrip("0") != str(trial_id).lstrip("0"):  # "03", "3": trial 3
            raise ConfigError(f"trial_id: trial {trial_id!r} is not running; call this from run_trial")
        return running

    def _open(self) -> optuna.Study:
        """Creates or loads the study and opens (or reopens) its parent run, one set-up at a time."""
        storage = open_storage(self.storage, on_lost_trial=RetryLostTrial(tracking_uri=self.tracker.tracking_uri))
        name = self.study_name
        with setup_lock(self.storage, name):
            if self.overwrite:
                self.overwrite = False  # once per Tuner: a second search goes on with the new study
                if name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
                    optuna.delete_study(study_name=name, storage=storage)
                for folder in Path(self.checkpoints).glob("trial_*"):  # the old study's trial folders too
                    shutil.rmtree(folder, ignore_errors=True)
            study = optuna.create_study(storage=storage, sampler=self.sampler, pruner=self.pruner,
                                        study_name=name, direction=self.objective.optuna_direction,  # type: ignore[arg-type]
                                        load_if_exists=True)
            if study.direction.name.lower() != self.objective.optuna_direction:
                raise ConfigError(f"study_name: study {name!r} exists and is to {study.direction.name.lower()}, "
                                  f"but the objective {self.objective.name!r} is to {self.objective.optuna_direction}; "
                                  "choose another study name (or overwrite=True)")
            known = study.user_attrs.get(OBJECTIVE_ATTR)
            if known and known != self.objective.name:
                raise ConfigError(f"objective: study {name!r} optimizes {known!r}, but got {self.objective.name!r}; "
                                  "choose another study name (or overwrite=True)")
            study.set_user_attr(OBJECTIVE_ATTR, self.objective.name)
            self.parent_run_id, self.experiment_id = self._parent_run(study)
            if study.trials and self._reseeded is not None:  # resumed: not the first run's random draws again
                study.sampler = self.sampler = self._reseeded(self.seed + len(study.trials))
        if isinstance(self.sampler, Untried):
            self.sampler.notice_exhausted(study)
        self._study = study
        return study

    def _parent_run(self, study: optuna.Study) -> tuple[str, str]:
        known = study.user_attrs.get(PARENT_RUN_ATTR)
        if known and self.tracker.run_exists(known):
            self.tracker.reopen(known)
            return str(known), str(study.user_attrs[EXPERIMENT_ATTR])
        experiment = self.experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or study.study_name
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID") if not self.experiment_name else None
        experiment_id = experiment_id or self.tracker.experiment_id(experiment)
        parent = self.tracker.start_study_run(
            experiment_id=experiment_id, study_name=study.study_name, adopt_run_id=None,
            tags={names.STORAGE: redact(self.storage or "default journal file"),
                  names.HYPERMODEL: self.hypermodel.name,
                  names.OBJECTIVE: f"{self.objective.name} ({self.objective.optuna_direction})"})
        self.tracker.log_params(parent, {
            "hypermodel": self.hypermodel.name, "objective": self.objective.name,
            "direction": self.objective.optuna_direction, "sampler": self.sampler_name, "pruner": self.pruner_name,
            "seed": self.seed, "max_trials": self.max_trials})
        study.set_user_attr(PARENT_RUN_ATTR, parent)
        study.set_user_attr(EXPERIMENT_ATTR, experiment_id)
        return parent, experiment_id

    def _keep_best(self, study: optuna.Study, objective: HyperModelObjective, fit_args: tuple[Any, ...],
                   fit_kwargs: dict[str, Any]) -> None:
        """Saves the best model this process trained, if its trial is the study's best, as the pyfunc model
        that :meth:`promote` registers (once per search, not after every better trial)."""
        kept, objective.kept = objective.kept, None
        if kept is None or _best_trial(study) is None or study.best_trial.number != kept.trial_number:
            return
        self._best = (kept.trial_number, kept.model)
        try:
            self.tracker.log_keras_model(kept.run_id, kept.model, input_example=sample_inputs(fit_args, fit_kwargs),
                                         code_paths=self.code_paths)
        except Exception as error:  # the search itself went well: get_best_models() still answers
            warnings.warn(f"trial {kept.trial_number}'s model (the best) could not be saved as an MLflow model, so "
                          f"promote() cannot register it: {type(error).__name__}: {error}", UserWarning,
                          stacklevel=_callers_level())

    def _summarize(self, study: optuna.Study) -> None:
        draw_or_warn(lambda: log_study_plots(study, self.tracker, self.parent_run_id))
        log_learning_curves(study.get_trials(deepcopy=False), self.tracker, metric=self.objective.metric)
        record_study(study, self.tracker, self.parent_run_id)

    # ------------------------------------------------------------ results

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (loaded from the storage when this Tuner has not searched)."""
        if self._study is None:
            try:
                self._study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage))
            except KeyError:
                raise NoCompleteTrial(f"no study {self.study_name!r} in "
                                      f"{redact(self.storage or DEFAULT_STORAGE)}: call search() first") from None
        return self._study

    def _best_trials(self, n: int) -> list[optuna.trial.FrozenTrial]:
        complete = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise NoCompleteTrial(f"study {self.study_name!r} has no complete trial yet")
        reverse = self.objective.direction == "max"
        return sorted(complete, key=lambda t: (-(t.value or 0.0) if reverse else (t.value or 0.0), t.number))[:n]

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[HyperParameters]:
        """The best trials' hyperparameters, best first; ``.values`` is a dict, and ``build_model(hp)`` rebuilds
        the trial's model. As KerasTuner's, they hold a value for every name the trials declared outside a
        conditional scope: ``units_2`` of a trial that built two layers is another trial's (unused)."""
        conditional = self._conditional | {spec.name for spec in self._space if spec.conditions}
        declared: dict[str, Any] = {}  # KerasTuner's hold every name declared: units_2 of a deeper network too
        for trial in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            for name, value in _values(trial).items():
                if name not in conditional:
                    declared.setdefault(name, value)
        best = [_values(t) for t in self._best_trials(num_trials)]
        return [HyperParameters.fixed({**values, **{k: v for k, v in declared.items() if k not in values}},
                                      self.space) for values in best]

    @property
    def remaining_trials(self) -> int | None:
        """Trials left to run before the study holds ``max_trials`` (None: no such bound)."""
        return None if self.max_trials is None else max(self.max_trials - trials_counted(self.study), 0)

    @property
    def keras_tuner_max_trials(self) -> int | None:
        """``max_trials`` as KerasTuner's oracle has it (trial ids are padded to its digits): this Tuner's."""
        return self.max_trials

    @property
    def oracle(self) -> Oracle:
        """KerasTuner's ``tuner.oracle``, for what scripts read from it (see :class:`Oracle`)."""
        return Oracle(self)

    def get_best_models(self, num_models: int = 1) -> list[Any]:
        """The best trials' compiled models with their trained weights (the best epoch's), best first.

        As in KerasTuner, each is built anew with ``build_model`` and given its trial's saved weights (see
        ``directory``; else the weights of the model logged with the study's best trial), so that a layer the
        trials share (a base model built once) holds the trial's weights. The best trial's model of a ``run_trial``
        that trains one of its own (saved with ``save_model``, no weights file) is the one this process kept.

        Raises:
            NoCompleteTrial: no trial completed, or a trial's weights were not kept.
        """
        return [self._model_of(trial) for trial in self._best_trials(num_models)]

    def _model_of(self, trial: optuna.trial.FrozenTrial) -> Any:
        weights = checkpoint_path(self.checkpoints, trial_id_of(trial, self.keras_tuner_max_trials))
        if self._best is not None and self._best[0] == trial.number and not os.path.isfile(weights):
            return self._best[1]
        return self._rebuilt(trial, weights)

    def _rebuilt(self, trial: optuna.trial.FrozenTrial, weights: str) -> Any:
        """The trial's model rebuilt with ``build_model`` and given its weights: ``weights`` (its checkpoint), else
        those of the model logged with the trial (the study's best)."""
        if isinstance(self.hypermodel.target, _NoHyperModel):
            raise NoCompleteTrial(f"trial {trial.number} has no model: {type(self).__name__} was given no "
                                  "hypermodel, and its run_trial built none")
        if not os.path.isfile(weights):
            run_id = str(trial.user_attrs.get(RUN_ID_ATTR, ""))
            if not run_id or not self.tracker.has_model(run_id):
                raise NoCompleteTrial(f"trial {trial.number}'s weights were not kept (they are kept in `directory`, "
                                      "and the study's best trial's model in MLflow); rebuild it with "
                                      "build_model(hp) from get_best_hyperparameters(n) and train it")
            weights = self.tracker.keras_model_file(run_id)
        keras.backend.clear_session()  # as KerasTuner: an unnamed AUC() is `auc` again, its layers `dense`, ...
        model = self.hypermodel.build(HyperParameters.fixed(_values(trial)))
        built = trial.user_attrs.get(BUILD_CONFIG_ATTR)
        if not model.built and built:  # a Sequential with no Input is built by fit: build it as fit did
            config = json.loads(built)
            model.build_from_config(config)
            shape = config.get("input_shape")
            if not model.built and isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape):
                model(np.zeros([d or 1 for d in shape], dtype="float32"))  # a subclassed model: built by a call
        with warnings.catch_warnings():  # as KerasTuner: the layers' weights, and a fresh optimizer
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            model.load_weights(weights)
        return model

    def load_model(self, trial: Any) -> Any:
        """KerasTuner's: the model of ``trial`` (from ``oracle.get_best_trials``, or its id) with its best epoch's
        weights (see :meth:`get_best_models`)."""
        return self._model_of(self.study.get_trials(deepcopy=False)[int(getattr(trial, "trial_id", trial))])

    def get_trial_dir(self, trial_id: str) -> str:
        """KerasTuner's: the trial's folder under ``directory`` (created if missing), which holds its ``trial.json``
        and, once it completed, its ``checkpoint.weights.h5`` and ``build_config.json``."""
        folder = trial_folder(self.checkpoints, str(trial_id))
        os.makedirs(folder, exist_ok=True)
        return folder

    def _write_trial_file(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """An Optuna callback: the ended trial's ``trial.json`` in its folder (KerasTuner's ``trial.get_state()``)."""
        declared = self._objective.space if self._objective is not None else []
        view = self.oracle._view(trial, merged_space(self._space, declared))  # building no model to learn them
        try:
            text = json.dumps(view.get_state(), indent=1)  # whole, or no file: never half a trial.json
            with open(os.path.join(self.get_trial_dir(view.trial_id), "trial.json"), "w") as file:
                file.write(text)
        except (OSError, TypeError, ValueError) as error:  # the trial is recorded: only its copy here is missing
            warnings.warn(f"trial {trial.number}'s trial.json could not be written: {error}", UserWarning,
                          stacklevel=_callers_level())

    def reload(self) -> None:
        """KerasTuner's: reads the study again from its storage (a later :meth:`search` resumes it anyway)."""
        self._study = None
        _ = self.study

    def results_summary(self, num_trials: int = 10) -> None:
        """Prints the best trials, their hyperparameters and scores (as KerasTuner does)."""
        study = self.study
        lines = ["Results summary", f"Results in {self.project_dir}", f"Showing {num_trials} best trials",
                 repr(self.objective)]
        complete = self._best_trials(num_trials) if _best_trial(study) is not None else []
        for trial in complete:
            lines += ["", *_summary(trial_id_of(trial, self.keras_tuner_max_trials), _values(trial),
                                    trial.value)]
        counts = {s.name: 0 for s in (optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)}
        for trial in study.get_trials(deepcopy=False):
            if trial.state.name in counts:
                counts[trial.state.name] += 1
        lines += ["", f"{len(study.trials)} trials: {len(complete)} shown, {counts['PRUNED']} pruned, "
                      f"{counts['FAIL']} failed (study {study.study_name!r} in "
                      f"{redact(self.storage or DEFAULT_STORAGE)})"]
        print("\n".join(lines))

    def search_space_summary(self, extended: bool = False) -> None:
        """Prints the hyperparameters the search tunes, as KerasTuner does: each one's name, class and config, as the
        trials declared them (before any, as ``build_model`` declares them with every hyperparameter at its default);
        ``extended`` is KerasTuner's and changes nothing."""
        space = self.tuned_space
        print(f"Search space summary\nDefault search space size: {len(space)}")
        for spec in space:
            config = spec.get_config()
            print(f"{config.pop('name')} ({type(spec).__name__})\n{config}")

    @property
    def space(self) -> list[Any]:
        """Every hyperparameter the trials declared (KerasTuner's ``oracle.get_space()``: a conditional one that a
        single trial declared too), in the order first declared; before any trial, what ``build_model`` declares at
        the defaults."""
        if not self._space and not isinstance(self.hypermodel.target, _NoHyperModel):
            hp = HyperParameters()
            self.hypermodel.build(hp)
            self._space = hp.space
        return self._space

    @property
    def tuned_space(self) -> list[Any]:
        """:attr:`space` less what is not searched: with ``tune_new_entries=False``, the names that the
        ``hyperparameters`` preset does not hold (they keep their defaults), as KerasTuner leaves them out."""
        if self.tune_new_entries or self.preset is None:
            return self.space
        preset = {spec.name for spec in self.preset.space}
        return [spec for spec in self.space if spec.name in preset]

    # ------------------------------------------------------------ promotion

    def promote(self, model_name: str, *, test_data: tuple[Any, Any], margin: float = 0.0,
                expected_champion: str | None = ANY_CHAMPION, lock_timeout: float = 600.0) -> str:
        """Registers the best trial's model as a new version of ``model_name`` behind the champion/challenger
        gate of ``mltune promote``, and returns the version.

        Both the best model and the current champion are scored on ``test_data = (x, y)`` with the objective's
        metric (``val_accuracy`` → ``accuracy``, as ``model.evaluate`` reports it). No champion yet: the version
        gets ``champion``; better than the champion by more than ``margin``: it takes ``champion`` and the old one
        keeps ``previous``; else it gets ``challenger``. The decision is in :attr:`promotion`.

        Raises:
            NoCompleteTrial: no trial completed.
            ConfigError: the champion is not a model a Tuner registered, so the two cannot be compared.
        """
        from mltune.tracking.pyfunc import KerasNativeModel

        best = self._best_trials(1)[0]
        run_id = str(best.user_attrs.get(RUN_ID_ATTR, ""))
        model = self.get_best_models(1)[0]
        if not self.tracker.has_model(run_id):  # its process ended before saving it; the weights were kept
            self.tracker.log_keras_model(run_id, model, code_paths=self.code_paths)
        x, y = test_data
        metric = self.objective.metric
        challenger = KerasNativeModel.of(model).score(x, y, metric)
        gate = Gate(model_name, metric, self.objective.optuna_direction, margin)
        self.promotion = run_gate(
            gate, tracker=self.tracker, storage=self.storage, run_id=run_id,
            parent_run_id=str(self.study.user_attrs.get(PARENT_RUN_ATTR, "")), challenger_score=challenger,
            score_champion=lambda uri: _score_champion(uri, x, y, metric, model_name),
            data_fingerprint=_fingerprint(x, y), expected_champion=expected_champion, lock_timeout=lock_timeout,
            tags={names.STUDY_NAME: self.study.study_name, names.TRIAL_NUMBER: best.number})
        return self.promotion.version


def _positional(first: Any, more: tuple[Any, ...],
                keras_tuner_only: dict[str, Any]) -> tuple[Any, KerasTunerOracle | None]:
    """A Tuner's hypermodel and oracle: the first positional argument and ``oracle=``, or KerasTuner's
    ``Tuner(oracle, hypermodel)`` (``hypermodel=`` after a positional oracle)."""
    if not isinstance(first, KerasTunerOracle):
        if more:
            raise TypeError(f"Tuner() takes one positional argument (the hypermodel), or KerasTuner's (oracle, "
                            f"hypermodel), but got {1 + len(more)}")
        return first, _oracle(keras_tuner_only.pop("oracle", None))
    if len(more) > 1 or "oracle" in keras_tuner_only:
        raise TypeError("Tuner() takes an oracle and a hypermodel as its positional arguments, but got "
                        f"{1 + len(more)} positional argument(s) or a second oracle")
    return (more[0] if more else keras_tuner_only.pop("hypermodel", None)), first


def _oracle(oracle: Any) -> KerasTunerOracle | None:
    if oracle is not None and not isinstance(oracle, KerasTunerOracle):
        raise ConfigError(f"oracle: must be one of mltune.oracles' ({', '.join(oracles.__all__)}), but got "
                          f"{type(oracle).__module__}.{type(oracle).__qualname__}")
    return oracle


def _check_limits(max_trials: int | None, timeout: float | None, executions: int, failures: int) -> None:
    """Refuses a Tuner's numbers out of range (``max_trials`` None: a whole grid)."""
    if max_trials is not None and max_trials < 1:
        raise ConfigError(f"max_trials: must be >= 1, but got {max_trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"timeout: must be > 0 seconds, but got {timeout}")
    if executions < 1:
        raise ConfigError(f"executions_per_trial: must be >= 1, but got {executions}")
    if failures < 0:
        raise ConfigError(f"max_consecutive_failed_trials: must be >= 0, but got {failures}")


def _hypermodel(hypermodel: Any, *, own_trials: bool, tuner: str, compile_with: dict[str, Any]) -> HyperModel:
    """The user's hypermodel; a Tuner with its own ``run_trial`` may go without one, or build uncompiled models."""
    if hypermodel is None:
        if not own_trials:
            raise ConfigError("hypermodel: missing; pass a build_model(hp) function or a HyperModel (only a "
                              "Tuner whose own run_trial trains without one may leave it out)")
        hypermodel = _NoHyperModel(tuner)
    try:
        return HyperModel(hypermodel, must_compile=not own_trials, compile_with=compile_with)
    except TypeError as error:
        raise ConfigError(str(error)) from None


class _NoHyperModel:
    """The hypermodel of a Tuner whose own ``run_trial`` needs none (KerasTuner's "tune anything")."""

    def __init__(self, name: str) -> None:
        self.name = name

    def build(self, hp: HyperParameters) -> Any:
        raise ConfigError(f"hypermodel: {self.name} was given none, so it cannot build a model; pass one")


class _FailureGuard:
    """An Optuna callback that stops the search after ``limit`` failed trials in a row (0: never), or at once when
    a trial raised KerasTuner's :class:`~mltune.errors.FatalError` (raised again here), or when a failed trial used
    up the space of a random or grid search with no trial complete (KerasTuner would end quietly, with nothing to
    show; a failed configuration is not drawn again). A trial whose loss diverged
    does not count: it says that its configuration (a learning rate too high) is bad, not that the search is broken,
    and KerasTuner goes on after it too."""

    def __init__(self, limit: int, objective: HyperModelObjective) -> None:
        self.limit, self.objective, self.count = limit, objective, 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        fatal, self.objective.fatal = self.objective.fatal, None
        if fatal is not None:
            raise fatal
        if trial.state == optuna.trial.TrialState.FAIL and self.objective.diverged:
            return
        self.count = self.count + 1 if trial.state == optuna.trial.TrialState.FAIL else 0
        if self.limit and self.count >= self.limit:
            raise SearchFailed(f"{self.count} trials in a row failed (max_consecutive_failed_trials="
                               f"{self.limit}); the last, trial {trial.number}: {self.objective.last_error}")
        if self.count and getattr(study.sampler, "exhausted", False) and _best_trial(study) is None:
            failed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
            raise SearchFailed(f"the space's {len(study.trials)} configurations were all tried and none completed "
                               f"({failed} failed); the last, trial {trial.number}: {self.objective.last_error}")


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


@dataclass(frozen=True)
class MetricObservation:
    """KerasTuner's: a metric's values at one step (epoch, 0-based), one per execution (here one)."""

    value: list[float]
    step: int

    def mean(self) -> float:
        return float(np.mean(self.value))


class TrialMetrics:
    """KerasTuner's ``trial.metrics``: each metric's values by epoch, read from the trial's MLflow run."""

    def __init__(self, tracker: Tracker, run_id: str, objective: Objective | None = None) -> None:
        self.tracker, self.run_id, self.objective = tracker, run_id, objective

    @property
    def metrics(self) -> dict[str, MetricHistory]:
        """Each metric the trial's training logged, by name (KerasTuner's ``trial.metrics.metrics``): not mltune's
        own once-a-trial ones, nor a second execution's ``execution_<k>/`` copies."""
        names = self.tracker.client.get_run(self.run_id).data.metrics if self.run_id else {}
        ours = (OBJECTIVE_METRIC, BEST_EPOCH_METRIC, TRAINING_TIME_METRIC)
        return {name: MetricHistory(self, name) for name in sorted(names)
                if name not in ours and not name.startswith("execution_")}

    def exists(self, name: str) -> bool:
        return bool(self.get_history(name))

    def get_direction(self, name: str) -> str:
        """``"max"`` or ``"min"``: the objective's direction for the objective, else the one its name says (losses
        minimized, accuracies maximized), else ``"min"``."""
        if self.objective is not None and self.objective.name == name:
            return self.objective.direction
        return "max" if infer_direction(name) == "maximize" else "min"

    def get_history(self, name: str) -> list[MetricObservation]:
        """The metric's values by epoch (0-based steps, as KerasTuner counts them); empty if never logged."""
        logged = self.tracker.client.get_metric_history(self.run_id, name) if self.run_id else []
        return [MetricObservation([m.value], max(m.step - 1, 0)) for m in sorted(logged, key=lambda m: m.step)]

    def get_best_value(self, name: str) -> float | None:
        """The metric's best epoch value: the objective's direction for the objective, else the one its name says
        (losses minimized, accuracies maximized), else minimized."""
        values = [o.mean() for o in self.get_history(name)]
        if not values:
            return None
        return max(values) if self.get_direction(name) == "max" else min(values)

    def get_last_value(self, name: str) -> float | None:
        history = self.get_history(name)
        return history[-1].mean() if history else None

    def get_config(self) -> dict[str, Any]:
        """KerasTuner's form, as its ``trial.json`` holds it: each metric's direction and values by step."""
        return {"metrics": {name: history.get_config() for name, history in self.metrics.items()}}


@dataclass(frozen=True)
class MetricHistory:
    """KerasTuner's ``MetricHistory``: one metric of a trial, its direction and its values by epoch."""

    trial_metrics: TrialMetrics
    name: str

    @property
    def direction(self) -> str:
        return self.trial_metrics.get_direction(self.name)

    def get_history(self) -> list[MetricObservation]:
        return self.trial_metrics.get_history(self.name)

    def get_best_value(self) -> float | None:
        return self.trial_metrics.get_best_value(self.name)

    def get_last_value(self) -> float | None:
        return self.trial_metrics.get_last_value(self.name)

    def get_config(self) -> dict[str, Any]:
        return {"direction": self.direction,
                "observations": [{"value": o.value, "step": o.step} for o in self.get_history()]}


@dataclass(frozen=True)
class TrialView:
    """A trial as KerasTuner's ``Trial`` shows it: ``trial_id``, ``score`` (None until it completes),
    ``best_step`` (the best epoch, 0-based as in KerasTuner; 0 when no epoch was reported), ``status``,
    ``hyperparameters`` and ``metrics``."""

    trial_id: str
    score: float | None
    best_step: int
    status: str
    hyperparameters: HyperParameters
    metrics: TrialMetrics

    @property
    def message(self) -> str | None:
        """KerasTuner's: why the trial failed (the error its MLflow run records), else None."""
        if self.status != TrialStatus.FAILED or not self.metrics.run_id:
            return None
        return self.metrics.tracker.client.get_run(self.metrics.run_id).data.tags.get(ERROR)

    def get_state(self) -> dict[str, Any]:
        """KerasTuner's ``trial.get_state()``: the trial as a dict (what its ``trial.json`` holds)."""
        return {"trial_id": self.trial_id, "metrics": self.metrics.get_config(),
                "hyperparameters": self.hyperparameters.get_config(), "score": self.score,
                "best_step": self.best_step, "status": self.status, "message": self.message}

    def summary(self) -> None:
        """KerasTuner's ``trial.summary()``: prints the trial's hyperparameters and score."""
        print("\n".join(_summary(self.trial_id, self.hyperparameters.values, self.score)))


def _summary(trial_id: str, values: dict[str, Any], score: float | None) -> list[str]:
    return [f"Trial {trial_id} summary", "Hyperparameters:", *(f"{k}: {v}" for k, v in values.items()),
            f"Score: {score}"]


class Oracle:
    """The part of KerasTuner's oracle that scripts read: the objective, ``max_trials``, the trials, the best, and
    its settings (``max_retries_per_trial``, BayesianOptimization's ``num_initial_points``, Hyperband's
    ``factor``, ...: :attr:`Tuner.oracle_settings`)."""

    def __init__(self, tuner: Tuner) -> None:
        self.tuner = tuner

    @property
    def max_retries_per_trial(self) -> int:
        return self.tuner.max_retries_per_trial

    @property
    def max_consecutive_failed_trials(self) -> int:
        return self.tuner.max_consecutive_failed_trials

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__["tuner"].oracle_settings
        if name not in settings:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return settings[name]

    @property
    def objective(self) -> Objective:
        return self.tuner.objective

    @property
    def max_trials(self) -> int | None:
        return self.tuner.keras_tuner_max_trials

    @property
    def seed(self) -> int:
        return self.tuner.seed

    def remaining_trials(self) -> int | None:
        """KerasTuner's ``oracle.remaining_trials()``: trials left before ``max_trials`` (None with no bound)."""
        return None if self.max_trials is None else self.tuner.remaining_trials

    @property
    def hyperparameters(self) -> HyperParameters:
        """The search space as the trials declared it (KerasTuner's ``oracle.hyperparameters``), each at its
        default."""
        hp = HyperParameters()
        for spec in self.tuner.tuned_space:
            hp._replay(spec)
        return hp

    def get_space(self) -> HyperParameters:
        return self.hyperparameters

    @property
    def trials(self) -> dict[str, TrialView]:
        """Every trial of the study by id (its number), as KerasTuner's ``oracle.trials``."""
        views = (self._view(t) for t in self.tuner.study.get_trials(deepcopy=False))
        return {view.trial_id: view for view in views}

    def get_trial(self, trial_id: str) -> TrialView:
        """The trial by KerasTuner's id (``"03"``; ``"3"`` or 3 as well)."""
        trials = self.tuner.study.get_trials(deepcopy=False)
        number = int(trial_id) if str(trial_id).isdigit() else -1
        if not 0 <= number < len(trials):
            raise KeyError(trial_id)
        return self._view(trials[number])

    def update_trial(self, trial_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """KerasTuner's older way for a ``run_trial`` to give its trial's metrics (instead of returning them), as at
        epoch ``step`` (0-based): logged and shown to the pruner as :meth:`Tuner.on_epoch_end` does; the trial's
        value is the objective's best, if ``run_trial`` returns nothing."""
        self.tuner._running(trial_id).epoch_end(step, dict(metrics))

    def _save_trial(self, trial: Any) -> None:
        """KerasTuner's private save, which some ``run_trial`` overrides call: every trial is in the study already."""

    def get_best_trials(self, num_trials: int = 1) -> list[TrialView]:
        """The best complete trials, best first.

        Raises:
            NoCompleteTrial: no trial completed.
        """
        return [self._view(t) for t in self.tuner._best_trials(num_trials)]

    def _view(self, trial: optuna.trial.FrozenTrial, space: list[Any] | None = None) -> TrialView:
        """The trial as KerasTuner shows it; its hyperparameters declare ``space`` (default: the Tuner's)."""
        pick = max if self.tuner.objective.direction == "max" else min
        steps = trial.intermediate_values  # epochs, 1-based; the best one among them (EpochReports.close)
        best = pick(steps, key=steps.__getitem__, default=None)
        return TrialView(trial_id_of(trial, self.tuner.keras_tuner_max_trials),
                         None if trial.value is None else float(trial.value),
                         0 if best is None else best - 1, _KERAS_TUNER_STATUS[trial.state.name],
                         HyperParameters.fixed(_values(trial), self.tuner.space if space is None else space),
                         TrialMetrics(self.tuner.tracker, str(trial.user_attrs.get(RUN_ID_ATTR, "")),
                                      self.tuner.objective))


class TrialStatus:
    """KerasTuner's trial statuses (``keras_tuner.engine.trial.TrialStatus``), as ``TrialView.status`` holds them."""

    RUNNING = "RUNNING"
    IDLE = "IDLE"
    INVALID = "INVALID"
    STOPPED = "STOPPED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


_KERAS_TUNER_STATUS = {"COMPLETE": TrialStatus.COMPLETED, "PRUNED": TrialStatus.STOPPED, "FAIL": TrialStatus.FAILED,
                       "RUNNING": TrialStatus.RUNNING, "WAITING": TrialStatus.IDLE}
"""KerasTuner's name of each Optuna trial state."""


def _values(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    raw = trial.user_attrs.get(HP_VALUES_ATTR)
    return dict(json.loads(raw)) if raw else dict(trial.params)


def _fingerprint(x: Any, y: Any) -> str:
    from mltune.tracking.pyfunc import is_input_list

    def parts(data: Any) -> list[Any]:  # the arrays of several inputs or outputs, by name or in order
        return [data[k] for k in sorted(data)] if isinstance(data, dict) else list(data) if is_input_list(data) \
            else [data]

    digest = hashlib.sha256()
    for part in (*parts(x), *parts(y)):
        array = np.ascontiguousarray(part.to_numpy() if hasattr(part, "to_numpy") else np.asarray(part))
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _score_champion(uri: str, x: Any, y: Any, metric: str, model_name: str) -> float:
    from mltune.tracking.pyfunc import KerasNativeModel
    from mltune.tracking.runs import load_python_model

    champion = load_python_model(uri)
    if not isinstance(champion, KerasNativeModel):
        raise ConfigError(f"model_name: the champion of {model_name!r} ({uri}) was registered from a recipe, not "
                          f"by a Tuner, so the two cannot be scored on the same data; choose another model name")
    return champion.score(x, y, metric)


__all__ = ["BayesianOptimization", "GridSearch", "Hyperband", "Objective", "RandomSearch", "Tuner"]


class RandomSearch(Tuner):
    """KerasTuner's ``RandomSearch`` by name: a :class:`Tuner` with Optuna's random sampler, ``max_trials=10``, and
    every trial trained to the end (as KerasTuner's; ``pruner=`` prunes), so that ``import mltune as keras_tuner``
    runs a KerasTuner script."""

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int = 10, *,
                 sampler: Any = "random", pruner: Any = "none", **options: Any) -> None:
        super().__init__(hypermodel, objective=objective, max_trials=max_trials, sampler=sampler, pruner=pruner,
                         **options)


class BayesianOptimization(Tuner):
    """KerasTuner's ``BayesianOptimization`` by name: a :class:`Tuner` with Optuna's TPE sampler (a Bayesian
    optimizer that handles define-by-run spaces), ``max_trials=10`` and no pruner by default, as KerasTuner's;
    KerasTuner's ``num_initial_points`` is TPE's number of random trials before it models the space."""

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int = 10, *,
                 sampler: Any = "tpe", num_initial_points: int | None = None, pruner: Any = "none",
                 **options: Any) -> None:
        tpe: Callable[[int], optuna.samplers.BaseSampler] | None = None
        if num_initial_points is not None and sampler == "tpe":
            if num_initial_points < 1:
                raise ConfigError(f"num_initial_points: must be >= 1, but got {num_initial_points}")
            tpe = functools.partial(optuna.samplers.TPESampler, n_startup_trials=num_initial_points)
            sampler = tpe(seed=options.get("seed", 0))
        super().__init__(hypermodel, objective=objective, max_trials=max_trials, sampler=sampler, pruner=pruner,
                         **options)
        if tpe is not None:
            self._reseeded = tpe
        self.oracle_settings.update(num_initial_points=num_initial_points, alpha=options.get("alpha", 1e-4),
                                    beta=options.get("beta", 2.6))  # alpha, beta: KerasTuner's GP's, unused


class GridSearch(Tuner):
    """KerasTuner's ``GridSearch`` by name: every combination of the values the build function declares, each
    once, in KerasTuner's order (each one's values as declared, the last declared changing fastest; conditional
    scopes followed), until all are tried or ``max_trials`` are (None: all). As in KerasTuner, a ``Float`` with no
    step and a log-sampled ``Int`` with no step take 10 values spread over their range. No pruner by default."""

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int | None = None, *,
                 pruner: Any = "none", **options: Any) -> None:
        search = GridSearchOracle(max_trials=max_trials).search(options.get("seed", 0))
        super().__init__(hypermodel, objective=objective, max_trials=max_trials, sampler=search.sampler,  # type: ignore[arg-type]
                         pruner=pruner, **options)


class Hyperband(Tuner):
    """KerasTuner's ``Hyperband`` by name: random configurations, each trained for up to ``max_epochs`` epochs
    (the ``epochs`` given to :meth:`search` is replaced, as in KerasTuner), and Optuna's ``HyperbandPruner`` over
    epochs 1 to ``max_epochs`` with reduction factor ``factor`` stopping the weaker ones at its rungs. By default
    ``max_trials`` is the number of configurations KerasTuner's Hyperband tries with these settings."""

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_epochs: int = 100, factor: int = 3,
                 hyperband_iterations: int = 1, *, max_trials: int | None = None, sampler: Any = "random",
                 **options: Any) -> None:
        search = HyperbandOracle(max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations,
                                 max_trials=max_trials).search(options.get("seed", 0))
        super().__init__(hypermodel, objective=objective, max_trials=search.max_trials,  # type: ignore[arg-type]
                         sampler=sampler, pruner=search.pruner, **options)
        self.max_epochs, self._given_max_trials = search.max_epochs, max_trials
        self.oracle_settings.update(max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations)

    @property
    def keras_tuner_max_trials(self) -> int | None:
        """None unless given, as KerasTuner's Hyperband has it (its trial ids are ``"0003"``)."""
        return self._given_max_trials


KERAS_TUNER_ONLY = frozenset({
    "distribution_strategy", "logger", "tuner_id", "max_model_size", "alpha", "beta"})
"""KerasTuner settings that mltune accepts so that a KerasTuner script runs: ``max_model_size`` fails a trial
whose model has more trainable parameters, as KerasTuner's; the others are kept as the Tuner's attributes of those
names (``tuner.distribution_strategy``, which scripts read) and not used, with a warning (``hyperparameters`` and
``tune_new_entries`` it does use: see :meth:`HyperParameters.for_trial`)."""


def _keras_tuner_settings(tuner: Tuner, options: dict[str, Any]) -> None:
    """Applies KerasTuner's settings of :data:`KERAS_TUNER_ONLY` given in ``options``; warns about those unused.

    Raises:
        TypeError: a setting neither mltune nor KerasTuner has (a typo), as Python would.
        ConfigError: ``max_model_size`` is not a whole number >= 1.
    """
    unknown = sorted(set(options) - KERAS_TUNER_ONLY)
    if unknown:
        raise TypeError(f"{type(tuner).__name__}() got unexpected keyword argument(s): {', '.join(unknown)}")
    size = options.pop("max_model_size", None)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"max_model_size: must be a whole number of parameters >= 1, but got {size!r}")
    tuner.hypermodel.max_model_size = size
    tuner.distribution_strategy, tuner.logger = options.get("distribution_strategy"), options.get("logger")
    tuner.tuner_id = options.get("tuner_id") or tuner.tuner_id
    if options:
        warnings.warn(f"{type(tuner).__name__}: mltune does not use KerasTuner's {', '.join(sorted(options))} "
                      "(ignored)", UserWarning, stacklevel=_callers_level())


def _callers_level() -> int:
    """The ``stacklevel`` of the first frame outside mltune (a warning points at the user's line)."""
    level, frame = 2, sys._getframe(2)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("mltune"):
        level, frame = level + 1, frame.f_back
    return level

