"""Scheduled retuning: a warm-started study on today's data, a fair gate against the champion, and a result
that pipelines can read and safely ask for twice.

A retune is a new study named ``<study>-<run key>`` (a UTC timestamp without a key). It first tries the current
champion's configuration and the best configurations of the recipe's previous study, then searches with the
recipe's budget. Promotion re-scores the champion on today's test split and moves ``champion`` with a
check-and-set under the model's promotion lock, so of two retunes started together only one can win.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, replace
from typing import Any

import optuna
from typing_extensions import Unpack

from mltune import names
from mltune.config.recipe import Recipe
from mltune.data import for_table, load_table
from mltune.errors import NoCompleteTrial
from mltune.flows.promote import promote
from mltune.flows.tune import TuneOptions, tune
from mltune.names import CHAMPION, RECIPE_ATTR, RETUNE_RESULT_ATTR
from mltune.runtime.storage import open_storage
from mltune.search.space import SearchSpace
from mltune.tracking.registry import Registry, Version
from mltune.tracking.runs import Tracker


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
        validation_score: the best trial's validation value.
        warning: a call-out when the validation score is far better than the test score.
        baseline: HistGradientBoosting with its defaults on the same split (see ``PromotionResult.baseline``).
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
    validation_score: float | None = None
    warning: str = ""
    baseline: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON result; ``test_score`` is the challenger's score on the held-out test split."""
        return {"status": "ok", **asdict(self), "test_score": self.challenger_score}


def retune(recipe: Recipe, *, run_key: str | None = None, skip_if_unchanged: bool = False,
           now: datetime.datetime | None = None, **options: Unpack[TuneOptions]) -> RetuneResult:
    """Tunes the recipe on today's data, warm-started, and promotes the result behind the champion gate.

    ``options`` are :func:`~mltune.flows.tune.tune`'s; the study is named ``<study_name>-<run key>``.
    """
    storage, tracking_uri = options.get("storage"), options.get("tracking_uri")
    optuna_storage = open_storage(storage)
    stamp = run_key or (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    name = f"{options.get('study_name') or recipe.study_name or recipe.name}-{stamp}"
    if run_key:
        earlier = _earlier_result(optuna_storage, name)
        if earlier is not None:
            return replace(earlier, repeated=True)

    # The rows are loaded once here (the fingerprint decides a skip); `tune` builds the study's context from them.
    table = load_table(recipe, source=options.get("source", "recipe"))
    recipe = for_table(recipe, table)
    tracker = Tracker(tracking_uri)
    champion = Registry(tracker.client).version(recipe.model_name, CHAMPION)
    if skip_if_unchanged and champion and champion.data_fingerprint == table.fingerprint:
        return RetuneResult(
            decision="skipped", reason=f"the data fingerprint {table.fingerprint} equals champion "
            f"v{champion.version}'s", study_name=None, parent_run_id=None, metric=recipe.metric, best_value=None,
            model_name=recipe.model_name, version=None, champion_before=champion.version,
            champion_after=champion.version, challenger_score=None, champion_score=None,
            data_fingerprint=table.fingerprint, warm_start=0, run_key=run_key,
        )

    enqueue = _warm_start(recipe, SearchSpace.from_recipe(recipe), champion, optuna_storage, exclude=name)
    named: TuneOptions = {**options, "study_name": name}
    study = tune(recipe, **named, enqueue=enqueue, table=table)
    if study.best_trial is None:
        raise NoCompleteTrial(f"no trial of study {name!r} completed: nothing to promote")
    tracker.set_tags(study.parent_run_id, {names.RUN_KEY: run_key or "", names.ROLE_DETAIL: "retune"})
    promotion = promote(study_name=name, storage=storage, expected_champion=champion.version if champion else None,
                        context=study.context, model=study.best_model)
    result = RetuneResult(
        decision=promotion.decision, reason=promotion.reason, study_name=name,
        parent_run_id=study.parent_run_id, metric=recipe.metric, best_value=study.best_value,
        model_name=promotion.model_name, version=promotion.version,
        champion_before=champion.version if champion else None, champion_after=promotion.champion_after,
        challenger_score=promotion.challenger_score, champion_score=promotion.champion_score,
        data_fingerprint=table.fingerprint, warm_start=len(enqueue), run_key=run_key,
        validation_score=promotion.validation_score, warning=promotion.warning, baseline=promotion.baseline,
    )
    optuna.load_study(study_name=name, storage=optuna_storage).set_user_attr(RETUNE_RESULT_ATTR, asdict(result))
    return result


def _earlier_result(storage: optuna.storages.BaseStorage, name: str) -> RetuneResult | None:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    saved = study.user_attrs.get(RETUNE_RESULT_ATTR)
    return RetuneResult(**saved) if saved else None


def _warm_start(recipe: Recipe, space: SearchSpace, champion: Version | None,
                storage: optuna.storages.BaseStorage, *, exclude: str) -> list[tuple[dict[str, Any], str]]:
    """The configurations to try first: the champion's, then the best of the recipe's previous study.

    Both come from Optuna's typed parameters; a champion whose study is not in this storage (or that mltune did
    not register) is not tried first.
    """
    found: list[tuple[dict[str, Any], str]] = []
    if champion is not None and recipe.retune.warm_start_champion and champion.trial_number is not None:
        trial = _trial(storage, champion.study_name, champion.trial_number)
        if trial is not None:
            found.append((space.sampled(trial.params), f"champion v{champion.version}"))
    k = recipe.retune.warm_start_best
    previous = [s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
                if s.user_attrs.get(RECIPE_ATTR) == recipe.name and s.study_name != exclude and s.datetime_start]
    if k and previous:
        latest = optuna.load_study(study_name=max(previous, key=lambda s: s.datetime_start or 0).study_name,
                                   storage=storage)
        complete = latest.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        ranked = sorted(complete, key=lambda t: t.value or 0.0, reverse=recipe.direction == "maximize")
        for trial in ranked[:k]:
            found.append((space.sampled(trial.params), f"study {latest.study_name} trial {trial.number}"))
    unique: list[tuple[dict[str, Any], str]] = []
    for params, why in found:
        if params and all(params != seen for seen, _ in unique):
            unique.append((params, why))
    return unique


def _trial(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> optuna.trial.FrozenTrial | None:
    try:
        trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return None
    return next((t for t in trials if t.number == number), None)
