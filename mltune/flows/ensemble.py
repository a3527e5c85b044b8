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
                     size: int, epochs: int | None = None) -> tuple[str, Any]:
    """The best trial's model and ``size - 1`` more of its configuration, each trained as the trial was (its
    first fold, early stopping on the validation rows) with another seed, averaged into one model and logged as
    an ``ensemble`` run under the study's parent run. Once per best trial, size and epochs: Optuna keeps the run.

    ``epochs`` (``promotion.epochs``) trains every member anew for that many epochs (its patience scaled alike), the
    trial's own model included: the study searched at a lower fidelity than the model it registers.
    ``model`` is the best trial's model in memory (a ``KerasTabularModel``), when the caller has it. Returns the
    run and the model in memory (None when an earlier promotion made it).
    """
    from mltune.model.ensemble import averaged
    from mltune.model.training import fit_fold
    from mltune.tracking.pyfunc import KerasTabularModel
    from mltune.tracking.runs import load_python_model, model_uri

    kept = study.user_attrs.get(names.ENSEMBLE_ATTR)
    if kept and kept["trial"] == trial.number and kept["size"] == size and kept.get("epochs") == epochs:
        return str(kept["run_id"]), None
    params = context.space.sample(optuna.trial.FixedTrial(trial.params))
    best_run_id = str(trial.user_attrs.get(RUN_ID_ATTR, ""))
    if epochs is not None:  # longer than the trial trained: its own model is not a member
        patience = params.get("patience")
        params = {**params, "epochs": epochs, "patience": patience and -(-patience * epochs // params["epochs"])}
        model = None
    elif model is None and context.tracker.has_model(best_run_id):
        model = load_python_model(model_uri(best_run_id))
    members, encoding = ([model.model], model.encoding) if model is not None else ([], None)
    seed = context.recipe.seed + trial.number
    for i in range(len(members), size):
        result = fit_fold(recipe=context.recipe, params=params, table=context.table, fold=context.splits.folds[0],
                          seed=seed + i * SEED_STRIDE)
        members.append(result.model)
        encoding = encoding or result.encoding
    assert encoding is not None  # size >= 1: at least one member
    ensemble = averaged(members)
    trained = f"trial {trial.number}'s configuration" + (f" trained for {epochs} epochs" if epochs else "")
    run_id = context.log_model_run(trial.number, role="ensemble", params={**params, "ensemble_size": size},
                                   model=ensemble, encoding=encoding,
                                   model_fit=f"average of {size} models of {trained}, each with its own seed"
                                   if size > 1 else trained)
    study.set_user_attr(names.ENSEMBLE_ATTR, {"trial": trial.number, "size": size, "epochs": epochs,
                                              "run_id": run_id})
    return run_id, KerasTabularModel.of(ensemble, encoding)
