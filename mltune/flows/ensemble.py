"""``promotion.ensemble``: the best configuration trained with several seeds, averaged into the registered model."""

from __future__ import annotations

from typing import Any

import optuna

from mltune import names
from mltune.names import RUN_ID_ATTR
from mltune.search.context import StudyContext

SEED_STRIDE = 7919
"""Member i trains with the best trial's seed + i * this (a prime, far from the seeds other trials used)."""


def ensemble_of_best(context: StudyContext, study: optuna.Study, trial: optuna.trial.FrozenTrial, model: Any,
                     size: int) -> tuple[str, Any]:
    """The best trial's model and ``size - 1`` more of its configuration, each trained as the trial was (its
    first fold, early stopping on the validation rows) with another seed, averaged into one model and logged as
    an ``ensemble`` run under the study's parent run. Once per best trial and size: Optuna keeps the run.

    ``model`` is the best trial's model in memory (a ``KerasTabularModel``), when the caller has it. Returns the
    run and the model in memory (None when an earlier promotion made it).
    """
    from mltune.model.ensemble import averaged
    from mltune.model.training import fit_fold
    from mltune.tracking.pyfunc import KerasTabularModel
    from mltune.tracking.runs import load_python_model, model_uri

    kept = study.user_attrs.get(names.ENSEMBLE_ATTR)
    if kept and kept["trial"] == trial.number and kept["size"] == size:
        return str(kept["run_id"]), None
    best_run_id = str(trial.user_attrs.get(RUN_ID_ATTR, ""))
    if model is None and context.tracker.has_model(best_run_id):
        model = load_python_model(model_uri(best_run_id))
    members, encoding = ([model.model], model.encoding) if model is not None else ([], None)
    params = context.space.sample(optuna.trial.FixedTrial(trial.params))
    seed = context.recipe.seed + trial.number
    for i in range(len(members), size):
        result = fit_fold(recipe=context.recipe, params=params, table=context.table, fold=context.splits.folds[0],
                          seed=seed + i * SEED_STRIDE)
        members.append(result.model)
        encoding = encoding or result.encoding
    assert encoding is not None  # size >= 1: at least one member
    ensemble = averaged(members)
    run_id = context.log_model_run(trial.number, role="ensemble", params={**params, "ensemble_size": size},
                                   model=ensemble, encoding=encoding,
                                   model_fit=f"average of {size} models of trial {trial.number}'s configuration, "
                                             "each with its own seed")
    study.set_user_attr(names.ENSEMBLE_ATTR, {"trial": trial.number, "size": size, "run_id": run_id})
    return run_id, KerasTabularModel.of(ensemble, encoding)
