"""Scheduled retuning: a warm-started study on today's data, a fair gate against the champion, and a result
that pipelines can read and safely ask for twice.

A retune is a new study named ``<study>-<run key>`` (a UTC timestamp without a key). It first tries the current
champion's configuration and the best configurations of the recipe's previous study, then searches with the
recipe's budget. Promotion re-scores the champion on today's test split and moves ``champion`` with a
check-and-set under the model's promotion lock, so of two retunes started together only one can win.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltune.data import load_table
from mltune.errors import NoCompleteTrial
from mltune.progress import ProgressMode
from mltune.promotion import CHAMPION, promote
from mltune.recipe import Recipe
from mltune.space import SearchSpace
from mltune.storage import RECIPE_ATTR, open_storage
from mltune.study import tune
from mltune.tracking import Tracker

RESULT_ATTR = "mltune_retune_result"
"""Study user attribute holding the retune's result, returned again for a repeated run key."""


@dataclass(frozen=True)
class RetuneResult:
    """What a retune did; ``mltune retune --output json`` prints it.

    Attributes:
        decision: "first champion", "promoted", "kept" or "skipped".
        reason: one sentence a person can read.
        study_name: the retune's study (None when skipped).
        parent_run_id: the study's parent run (None when skipped).
        metric: the objective metric.
        best_value: the best trial's validation value.
        model_name: the registered model.
        version: the challenger's model version.
        champion_before: the version that held ``champion`` when the retune started.
        champion_after: the version that holds it now.
        challenger_score: the challenger on today's test split.
        champion_score: the champion before, re-scored on the same split.
        data_fingerprint: the fingerprint of today's data.
        warm_start: how many configurations were tried first.
        run_key: the caller's key.
        repeated: True when this result was reported by an earlier run with the same key.
    """

    decision: str
    reason: str
    study_name: str | None
    parent_run_id: str | None
    metric: str
    best_value: float | None
    model_name: str
    version: str | None
    champion_before: str | None
    champion_after: str | None
    challenger_score: float | None
    champion_score: float | None
    data_fingerprint: str
    warm_start: int
    run_key: str | None
    repeated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ok", **asdict(self)}


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    data_fingerprint: str


def retune(
    recipe: Recipe,
    *,
    run_key: str | None = None,
    skip_if_unchanged: bool = False,
    n_trials: int | None = None,
    timeout: float | None = None,
    study_name: str | None = None,
    storage: str | None = None,
    experiment_name: str | None = None,
    tracking_uri: str | None = None,
    source: str = "recipe",
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    now: datetime.datetime | None = None,
    progress: ProgressMode = "quiet",
) -> RetuneResult:
    """Tunes the recipe on today's data, warm-started, and promotes the result behind the champion gate."""
    table = load_table(recipe, source=source)
    optuna_storage = open_storage(storage)
    stamp = run_key or (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    name = f"{study_name or recipe.study_name or recipe.name}-{stamp}"
    if run_key:
        earlier = _earlier_result(optuna_storage, name)
        if earlier is not None:
            return replace(earlier, repeated=True)

    tracker = Tracker(tracking_uri)
    champion = _champion(tracker.client, recipe.model_name)
    if skip_if_unchanged and champion and champion.data_fingerprint == table.fingerprint:
        return RetuneResult(
            decision="skipped", reason=f"the data fingerprint {table.fingerprint} equals champion "
            f"v{champion.version}'s", study_name=None, parent_run_id=None, metric=recipe.metric, best_value=None,
            model_name=recipe.model_name, version=None, champion_before=champion.version,
            champion_after=champion.version, challenger_score=None, champion_score=None,
            data_fingerprint=table.fingerprint, warm_start=0, run_key=run_key,
        )

    space = SearchSpace.from_recipe(recipe)
    enqueue = _warm_start(recipe, space, tracker.client, champion, optuna_storage, exclude=name)
    study = tune(recipe, n_trials=n_trials, timeout=timeout, study_name=name, storage=storage,
                 experiment_name=experiment_name, tracking_uri=tracking_uri, source=source, on_trial=on_trial,
                 enqueue=enqueue, table=table, progress=progress)
    if study.best_trial is None:
        raise NoCompleteTrial(f"no trial of study {name!r} completed: nothing to promote")
    tracker.set_tags(study.parent_run_id, {"mltune.run_key": run_key or "", "mltune.role_detail": "retune"})
    promotion = promote(run_id=study.parent_run_id, storage=storage, tracking_uri=tracking_uri,
                        expected_champion=champion.version if champion else None)
    result = RetuneResult(
        decision=promotion.decision, reason=promotion.reason, study_name=name,
        parent_run_id=study.parent_run_id, metric=recipe.metric, best_value=study.best_value,
        model_name=promotion.model_name, version=promotion.version,
        champion_before=champion.version if champion else None, champion_after=promotion.champion_after,
        challenger_score=promotion.challenger_score, champion_score=promotion.champion_score,
        data_fingerprint=table.fingerprint, warm_start=len(enqueue), run_key=run_key,
    )
    optuna.load_study(study_name=name, storage=optuna_storage).set_user_attr(RESULT_ATTR, asdict(result))
    return result


def _earlier_result(storage: optuna.storages.BaseStorage, name: str) -> RetuneResult | None:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    saved = study.user_attrs.get(RESULT_ATTR)
    return RetuneResult(**saved) if saved else None


def _champion(client: MlflowClient, name: str) -> Champion | None:
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return Champion(str(version.version), str(version.run_id), version.tags.get("mltune.data_fingerprint", ""))


def _warm_start(recipe: Recipe, space: SearchSpace, client: MlflowClient, champion: Champion | None,
                storage: optuna.storages.BaseStorage, *, exclude: str) -> list[tuple[dict[str, Any], str]]:
    """The configurations to try first: the champion's, then the best of the recipe's previous study."""
    import yaml

    found: list[tuple[dict[str, Any], str]] = []
    if champion is not None and recipe.retune.warm_start_champion:
        params = client.get_run(champion.run_id).data.params
        values = {k: None if v == "None" else yaml.safe_load(v) for k, v in params.items()}
        found.append((space.sampled(values), f"champion v{champion.version}"))
    k = recipe.retune.warm_start_best
    previous = [s for s in storage.get_all_studies()
                if s.user_attrs.get(RECIPE_ATTR) == recipe.name and s.study_name != exclude]
    if k and previous:
        latest = max(previous, key=lambda s: s._study_id)
        complete = storage.get_all_trials(latest._study_id, deepcopy=False,
                                          states=(optuna.trial.TrialState.COMPLETE,))
        ranked = sorted(complete, key=lambda t: t.value or 0.0, reverse=recipe.direction == "maximize")
        for trial in ranked[:k]:
            found.append((space.sampled(trial.params), f"study {latest.study_name} trial {trial.number}"))
    unique: list[tuple[dict[str, Any], str]] = []
    for params, why in found:
        if params and all(params != seen for seen, _ in unique):
            unique.append((params, why))
    return unique
