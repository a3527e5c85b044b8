"""Training one fixed configuration outside a study (``mltune train``), e.g. to reproduce a trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from mltune.data import load_table, make_splits
from mltune.errors import ConfigError
from mltune.recipe import FixedParam, Recipe
from mltune.space import SearchSpace
from mltune.tracking import ROLE, Tracker


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    value: float
    epochs: int
    seconds: float


def train_configuration(recipe: Recipe, *, from_run: str | None = None, experiment_name: str | None = None,
                        tracking_uri: str | None = None, source: str = "recipe") -> TrainResult:
    """Trains the recipe's configuration on the first fold and logs it as one run with a pyfunc model.

    Every search parameter must be fixed, by the recipe, ``--set search.NAME=VALUE`` or ``from_run``.
    """
    from mltune.training import fit_fold

    tracker = Tracker(tracking_uri)
    chosen: dict[str, Any] = {}
    if from_run:
        from mltune.promotion import _parse

        chosen = {k: _parse(v) for k, v in tracker.client.get_run(from_run).data.params.items()}
    chosen.update({k: s.value for k, s in recipe.search.items() if isinstance(s, FixedParam)})
    space = SearchSpace.from_recipe(recipe)
    try:
        params = {**chosen, **space.sample(optuna.trial.FixedTrial(chosen))}
    except ValueError as error:
        raise ConfigError(f"{source}: search: `mltune train` needs a value for every searched parameter "
                          f"(add --set search.NAME=VALUE or --from-run RUN_ID): {error}") from None
    table = load_table(recipe, source=source)
    splits = make_splits(recipe, table, source=source)
    experiment_id = tracker.experiment_id(experiment_name or recipe.experiment_name or recipe.name)
    run = tracker.start_run(experiment_id=experiment_id, run_name=f"train-{recipe.name}", params=params,
                            tags={ROLE: "train", **({"mltune.from_run": from_run} if from_run else {})})
    status = "FAILED"
    try:
        result = fit_fold(recipe=recipe, params=params, table=table, fold=splits.folds[0], seed=recipe.seed,
                          on_epoch=run.log_epoch)
        run.log_value("objective", result.value)
        run.flush()
        run.log_keras_model(result.model, result.encoding)
        tracker.log_pyfunc_model(run.run_id, input_example=table.frame[list(table.features)].head(5))
        status = "FINISHED"
    finally:
        run.flush()
        tracker.finish(run.run_id, status)
    return TrainResult(run.run_id, result.value, result.epochs, result.seconds)
