"""Training one fixed configuration outside a study (``mltune train``), e.g. to reproduce a trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from mlflow.exceptions import MlflowException

from mltune import names
from mltune.config.recipe import FixedParam, Recipe
from mltune.config.redaction import redact
from mltune.errors import ConfigError
from mltune.runtime.storage import open_storage
from mltune.search.context import StudyContext
from mltune.tracking.runs import Tracker, is_missing


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    value: float
    epochs: int
    seconds: float
    metric: str


def train_configuration(recipe: Recipe, *, from_run: str | None = None, experiment_name: str | None = None,
                        tracking_uri: str | None = None, storage: str | None = None,
                        source: str = "recipe") -> TrainResult:
    """Trains the recipe's configuration on the first fold and logs it as one run with a pyfunc model.

    Every search parameter must be fixed, by the recipe, ``--set search.NAME=VALUE`` or ``from_run`` (a trial's
    run: its typed parameters come from the trial in the Optuna ``storage``).
    """
    from mltune.model.training import fit_fold

    # A trial's run must be in a tracking store that exists: look before creating one.
    context = StudyContext.load(recipe, tracking_uri=tracking_uri, source=source, existing=bool(from_run))
    recipe, tracker = context.recipe, context.tracker
    chosen = _trial_params(tracker, from_run, storage) if from_run else {}
    chosen.update({k: s.value for k, s in recipe.search.items() if isinstance(s, FixedParam)})
    try:
        params = {**chosen, **context.space.sample(optuna.trial.FixedTrial(chosen))}
    except ValueError as error:
        raise ConfigError(f"{source}: search: `mltune train` needs a value for every searched parameter "
                          f"(add --set search.NAME=VALUE or --from-run RUN_ID): {error}") from None
    experiment_id = tracker.experiment_id(experiment_name or recipe.experiment_name or recipe.name)
    run = tracker.start_run(experiment_id=experiment_id, run_name=f"train-{recipe.name}", params=params,
                            tags={names.ROLE: "train", **({names.FROM_RUN: from_run} if from_run else {})})
    status = "FAILED"
    try:
        result = fit_fold(recipe=recipe, params=params, table=context.table, fold=context.splits.folds[0],
                          seed=recipe.seed, on_epoch=run.log_epoch)
        run.log_value("objective", result.value)
        run.flush()
        tracker.log_model(run.run_id, result.model, result.encoding,
                          input_example=context.table.features_frame().head(5))
        status = "FINISHED"
    finally:
        run.flush()
        tracker.finish(run.run_id, status)
    return TrainResult(run.run_id, result.value, result.epochs, result.seconds, recipe.metric)


def _trial_params(tracker: Tracker, run_id: str, storage: str | None) -> dict[str, Any]:
    """The typed parameters of the trial that ``run_id`` logged, as its Optuna study keeps them."""
    try:
        tags = tracker.client.get_run(run_id).data.tags
    except MlflowException as error:
        if not is_missing(error):
            raise
        raise ConfigError(f"--from-run: no such run in {redact(tracker.tracking_uri)}, but got {run_id!r}") from None
    study_name, number = tags.get(names.STUDY_NAME), tags.get(names.TRIAL_NUMBER, "")
    if not study_name or not number.isdigit():
        raise ConfigError(f"--from-run: run {run_id} is not an mltune trial (no {names.TRIAL_NUMBER} tag)")
    try:
        trials = optuna.load_study(study_name=study_name, storage=open_storage(storage)).get_trials(deepcopy=False)
    except KeyError:
        raise ConfigError(f"--from-run: run {run_id} belongs to study {study_name!r}, which is not in the storage "
                          "(give --storage where it lives)") from None
    return dict(next(t for t in trials if t.number == int(number)).params)
