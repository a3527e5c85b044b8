"""Promotion: register a study's best model and move alias ``champion`` only past a champion/challenger gate.

Both models are scored on the study's held-out test split, rebuilt from the recipe and seed the study used.
The challenger takes ``champion`` only when it beats the current champion by more than the recipe's margin;
otherwise it gets ``challenger``. The replaced champion keeps ``previous``. Registry stages are not used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from mlflow.exceptions import MlflowException

from mltune import names
from mltune.config.recipe import Recipe
from mltune.config.redaction import redact
from mltune.data import Fold
from mltune.errors import ConfigError, NoCompleteTrial, NothingToRollBack
from mltune.flows.baseline import baseline
from mltune.flows.ensemble import ensemble_of_best
from mltune.model.notices import no_retracing_warnings
from mltune.names import CHALLENGER, CHAMPION, PREVIOUS, ROLLED_BACK, RUN_ID_ATTR, TEST_SCORE_ATTR
from mltune.runtime.storage import existing_study, promotion_lock
from mltune.search.context import StudyContext
from mltune.search.reports import best_epoch
from mltune.tasks import is_better
from mltune.tracking.registry import Registry
from mltune.tracking.runs import Tracker, is_missing, load_python_model, model_uri


@dataclass(frozen=True)
class PromotionResult:
    """The gate's decision.

    Attributes:
        decision: "first champion", "promoted", "kept" or "already champion".
        reason: one sentence a person can read.
        model_name: the registered model.
        version: the challenger's version.
        champion_before: the version that held ``champion`` before, if any.
        champion_after: the version that holds ``champion`` now.
        metric: the objective metric.
        challenger_score: the challenger on the test split.
        champion_score: the previous champion on the same split, if there was one.
        validation_score: the best trial's validation value (the study's objective).
        warning: a call-out when the validation score is far better than the test score, else "".
        baseline: scikit-learn's HistGradientBoosting with its defaults on the same split (estimator, metric,
            score, run_id, seconds); None for an autoencoder.
    """

    decision: str
    reason: str
    model_name: str
    version: str
    champion_before: str | None
    champion_after: str
    metric: str
    challenger_score: float
    champion_score: float | None
    validation_score: float | None = None
    warning: str = ""
    baseline: dict[str, Any] | None = None

    @property
    def test_score(self) -> float:
        """The promoted (or kept) challenger's score on the held-out test split."""
        return self.challenger_score

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "test_score": self.test_score}


OVERFIT_GAP = 0.25
"""A validation score better than the test score by more than this share of the test score is called out."""


def overfit_warning(metric: str, direction: str, validation: float | None, test: float) -> str:
    """Says so when the validation score is far better than the test score (a lucky split, leakage, or a
    search that fitted its validation rows), else returns ""."""
    if validation is None or not math.isfinite(validation) or not math.isfinite(test):
        return ""
    better = validation > test if direction == "maximize" else validation < test
    gap = abs(validation - test)
    if not better or gap <= OVERFIT_GAP * max(abs(test), 1e-12):
        return ""
    return (f"validation {metric} {validation:.6g} is far better than test {metric} {test:.6g} "
            f"(by {gap / max(abs(test), 1e-12):.0%}): check the data report for leaks, duplicates and outliers, "
            "or add rows")


ANY_CHAMPION = "any"
"""``expected_champion`` value that accepts whichever version holds ``champion`` when the gate runs."""


def promote(*, study_name: str | None = None, storage: str | None = None, run_id: str | None = None,
            tracking_uri: str | None = None, expected_champion: str | None = ANY_CHAMPION,
            lock_timeout: float = 600.0, context: StudyContext | None = None, model: Any = None,
            refit: bool | None = None, ensemble: int | None = None) -> PromotionResult:
    """Promotes the best trial of a study, given by name (and storage) or by its parent run id.

    Optuna is the source of truth: the study gives the recipe and the best trial. The challenger is scored first
    (``model``, the best trial's model in memory when the caller trained it, else the logged one); then, under the
    model's promotion lock (held in ``storage``, see :func:`mltune.runtime.storage.promotion_lock`), its version is
    registered, the current champion is re-scored on the same test split, and the aliases move.
    ``expected_champion`` makes the move a check-and-set: when another job changed the champion since this one
    started (``None`` meaning "there was none"), the challenger is kept. ``refit`` and ``ensemble`` override the
    recipe's ``promotion.refit`` and ``promotion.ensemble``.
    """
    # A study named is looked up first: a wrong name is answered at once, and opens (or creates) nothing else.
    study = existing_study(study_name, storage) if study_name and not run_id else None
    tracker = context.tracker if context is not None else Tracker(tracking_uri, existing=True)
    if study is None:
        study, storage = _study(tracker, study_name=study_name, storage=storage, run_id=run_id)
    if context is None or context.study_name != study.study_name:
        context = StudyContext.of_study(study, storage=storage, tracking_uri=tracker.tracking_uri)
    refit = context.recipe.promotion.refit if refit is None else refit
    ensemble = context.recipe.promotion.ensemble if ensemble is None else ensemble
    with no_retracing_warnings():  # the ensemble's and the refit's new models trace their own functions
        best, best_run_id, challenger_score = _challenger(context, study, model, refit=refit, ensemble=ensemble)
    tree = baseline(context, study) if context.recipe.promotion.baseline else None
    test = context.table.frame.iloc[context.splits.test]

    result = run_gate(
        Gate.of_recipe(context.recipe), tracker=tracker, storage=storage, run_id=best_run_id,
        parent_run_id=context.parent_run_id, challenger_score=challenger_score,
        score_champion=lambda uri: _score(uri, context, test), data_fingerprint=context.table.fingerprint,
        expected_champion=expected_champion, lock_timeout=lock_timeout,
        tags={names.STUDY_NAME: study.study_name, names.TRIAL_NUMBER: best.number},
        validation_score=best.value, baseline=tree.as_dict() if tree else None)
    study.set_user_attr(TEST_SCORE_ATTR, {k: result.as_dict()[k] for k in (
        "metric", "test_score", "validation_score", "model_name", "version", "decision", "warning")})
    return result


@dataclass(frozen=True)
class Gate:
    """What the champion/challenger gate compares: the registered model, the metric and by how much.

    Attributes:
        model_name: the registered model.
        metric: the metric both models are scored on.
        direction: "maximize" or "minimize".
        margin: how much the challenger must beat the champion by.
    """

    model_name: str
    metric: str
    direction: str
    margin: float = 0.0

    @classmethod
    def of_recipe(cls, recipe: Recipe) -> Gate:
        return cls(recipe.model_name, recipe.metric, recipe.direction, recipe.promotion.margin)


def run_gate(gate: Gate, *, tracker: Tracker, storage: str | None, run_id: str, parent_run_id: str,
             challenger_score: float, score_champion: Callable[[str], float], data_fingerprint: str,
             expected_champion: str | None = ANY_CHAMPION, lock_timeout: float = 600.0,
             tags: dict[str, Any] | None = None, validation_score: float | None = None,
             baseline: dict[str, Any] | None = None) -> PromotionResult:
    """Registers ``runs:/<run_id>/model`` and moves the aliases past the gate, under the model's promotion lock.

    The current champion is scored with ``score_champion(models:/NAME/VERSION)`` on the same data as the
    challenger. The decision is written on the parent run and on both versions. ``tags`` are added to the new
    version's tags (study, trial, ...); ``validation_score`` (the study's best value) is set beside the test score
    and called out when far better, and ``baseline`` is reported as given.
    """
    registry, name, metric = Registry(tracker.client), gate.model_name, gate.metric
    with promotion_lock(storage, name, timeout=lock_timeout):
        version = registry.register(name, run_id, tags={
            names.VERSION_RUN_ID: run_id, names.VERSION_PARENT_RUN_ID: parent_run_id,
            names.DATA_FINGERPRINT: data_fingerprint, names.VERSION_METRIC: metric,
            names.score_tag(metric): f"{challenger_score:.6g}", **(tags or {})})
        champion = registry.alias(name, CHAMPION)
        champion_score = None
        if champion is not None and champion != version:
            champion_score = score_champion(f"models:/{name}/{champion}")
        decision, reason = _gate(gate, version, challenger_score, champion, champion_score, expected_champion)
        _move_aliases(registry, name, decision, version, champion)
        result = PromotionResult(decision=decision, reason=reason, model_name=name, version=version,
                                 champion_before=champion, champion_after=registry.alias(name, CHAMPION) or version,
                                 metric=metric, challenger_score=challenger_score, champion_score=champion_score,
                                 validation_score=validation_score, warning=overfit_warning(
                                     metric, gate.direction, validation_score, challenger_score),
                                 baseline=baseline)
        _record(tracker, registry, parent_run_id, result, data_fingerprint=data_fingerprint)
    return result


def _challenger(context: StudyContext, study: optuna.Study, model: Any, *,
                refit: bool, ensemble: int) -> tuple[optuna.trial.FrozenTrial, str, float]:
    """The study's best trial, the run of the model to register, and that model's score on the test rows
    (``model`` in memory when the caller trained it, else the logged one, else refitted on all development rows;
    or the refit, or the ensemble, when asked)."""
    best = _best_trial(study)
    best_run_id = str(best.user_attrs.get(RUN_ID_ATTR, ""))
    epochs = context.recipe.promotion.epochs
    if ensemble > 1 or (epochs and not refit):
        best_run_id, model = ensemble_of_best(context, study, best, model, ensemble, epochs)
    elif refit:
        best_run_id, model = _refit_best(context, study, best, epochs)
    elif model is None and not context.tracker.has_model(best_run_id):  # k-fold, or its process died first
        model = _refit_on_development(context, best, best_run_id)
    test = context.table.frame.iloc[context.splits.test]
    return best, best_run_id, _score(model if model is not None else model_uri(best_run_id), context, test)


def _move_aliases(registry: Registry, name: str, decision: str, version: str, champion: str | None) -> None:
    if decision in ("first champion", "promoted"):
        if champion is not None:
            registry.set_alias(name, PREVIOUS, champion)
        registry.set_alias(name, CHAMPION, version)
        if registry.alias(name, CHALLENGER) == version:
            registry.delete_alias(name, CHALLENGER)
    elif decision == "kept":
        registry.set_alias(name, CHALLENGER, version)


@dataclass(frozen=True)
class RollbackResult:
    """What ``mltune rollback`` did: ``champion`` moved from ``champion_before`` back to ``champion_after``."""

    model_name: str
    champion_before: str | None
    champion_after: str
    by: str
    at: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ok", "decision": "rolled back", **asdict(self)}


def rollback(*, model_name: str, reason: str = "", storage: str | None = None, tracking_uri: str | None = None,
             lock_timeout: float = 600.0) -> RollbackResult:
    """Moves ``champion`` back to the version holding ``previous``; the replaced one gets ``rolled_back``.

    Who, when and why are written as tags on both versions. Runs under the model's promotion lock.

    Raises:
        NothingToRollBack: no version holds ``previous``.
    """
    import datetime
    import getpass
    import json
    import socket

    registry = Registry(Tracker(tracking_uri, existing=True).client)
    _previous(registry, model_name)  # nothing to roll back is answered before the lock (and its file) is taken
    with promotion_lock(storage, model_name, timeout=lock_timeout):
        previous = _previous(registry, model_name)
        current = registry.alias(model_name, CHAMPION)
        result = RollbackResult(model_name=model_name, champion_before=current, champion_after=previous,
                                by=f"{getpass.getuser()}@{socket.gethostname()}",
                                at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                                reason=reason or "no reason given")
        registry.set_alias(model_name, CHAMPION, previous)
        registry.delete_alias(model_name, PREVIOUS)
        record = {"by": result.by, "at": result.at, "reason": result.reason}
        registry.tag(model_name, previous, {names.ROLLBACK_RESTORED: json.dumps({**record, "replacing": current})})
        if current is not None and current != previous:
            registry.set_alias(model_name, ROLLED_BACK, current)
            registry.tag(model_name, current, {names.ROLLBACK_REMOVED: json.dumps({**record, "restoring": previous})})
    return result


def _previous(registry: Registry, model_name: str) -> str:
    previous = registry.alias(model_name, PREVIOUS)
    if previous is None:
        raise NothingToRollBack(f"model {model_name!r} has no version with alias {PREVIOUS!r} to roll back to")
    return previous


def _gate(gate: Gate, version: str, challenger: float, champion: str | None, champion_score: float | None,
          expected: str | None) -> tuple[str, str]:
    """The decision and its reason."""
    metric, margin = gate.metric, gate.margin
    if champion == version:
        return "already champion", f"version {version} already holds alias {CHAMPION!r}"
    if expected != ANY_CHAMPION and champion != expected:
        was = f"v{expected}" if expected else "none"
        return "kept", (f"the champion changed while this job ran (it expected {was}, found v{champion}); "
                        f"another job promoted first")
    if champion is None:
        return "first champion", f"no version of {gate.model_name!r} held alias {CHAMPION!r}"
    assert champion_score is not None
    if is_better(challenger, champion_score, direction=gate.direction, margin=margin):
        return "promoted", (f"test {metric} {challenger:.6g} beats champion v{champion}'s {champion_score:.6g} "
                            f"by more than margin {margin:g}")
    return "kept", (f"test {metric} {challenger:.6g} does not beat champion v{champion}'s {champion_score:.6g} "
                    f"by more than margin {margin:g}")


def _study(tracker: Tracker, *, study_name: str | None, storage: str | None,
           run_id: str | None) -> tuple[optuna.Study, str | None]:
    """The study to promote and its storage: by name, or by its parent run (whose tags name the study and, for a
    storage without a password, where it lives)."""
    if run_id:
        try:
            tags = tracker.client.get_run(run_id).data.tags
        except MlflowException as error:
            if not is_missing(error):
                raise
            raise ConfigError(f"--run-id: no such run in {redact(tracker.tracking_uri)}, but got {run_id!r}") from None
        study_name = tags.get(names.STUDY_NAME)
        if not study_name or tags.get(names.ROLE) != "study":
            raise NoCompleteTrial(f"run {run_id} is not the parent run of an mltune study")
        logged = tags.get(names.STORAGE, "")
        if storage is None and "***" not in logged and logged not in ("", "default journal file"):
            storage = logged
    if not study_name:
        raise ConfigError("promote: give --study-name NAME (with --storage URL) or --run-id PARENT_RUN_ID")
    return existing_study(study_name, storage), storage


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    try:
        return study.best_trial
    except ValueError:
        raise NoCompleteTrial(f"study {study.study_name!r} has no complete trial: nothing to promote") from None


def _score(model: Any, context: StudyContext, test: Any) -> float:
    """The metric of a pyfunc model (in memory, or by URI) on the test rows."""
    if isinstance(model, str):
        model = load_python_model(model)
    y_true = test[context.table.target].to_numpy() if context.table.target else None
    return float(model.score(test, y_true, context.recipe.metric))


def _refit_on_development(context: StudyContext, trial: optuna.trial.FrozenTrial, run_id: str) -> Any:
    """Trains the trial's configuration (Optuna's typed parameters) on all development rows and logs it.

    Under k-fold CV no single fold's model is the trial's; without CV this happens only when the trial's model
    was never saved (its process died before the end of the study). Returns the model in memory.
    """
    from mltune.model.training import fit_fold
    from mltune.tracking.pyfunc import KerasTabularModel

    params = context.space.sample(optuna.trial.FixedTrial(trial.params))
    development = context.splits.development
    everything = Fold(train=development, validation=development)
    result = fit_fold(recipe=context.recipe, params=params, table=context.table, fold=everything,
                      seed=context.recipe.seed)
    context.tracker.log_model(run_id, result.model, result.encoding,
                              input_example=context.table.features_frame().head(5))
    context.tracker.set_tags(run_id, {names.MODEL_FIT: "refit on all development rows"})
    return KerasTabularModel.of(result.model, result.encoding)


def _refit_best(context: StudyContext, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                given: int | None = None) -> tuple[str, Any]:
    """``promotion.refit``: the best configuration trained on all development rows for as many epochs as its best
    epoch (or ``given``, ``promotion.epochs``), logged as a ``refit`` run under the study's parent run. Once per
    best trial: Optuna keeps the run."""
    from mltune.model.training import fit_fold
    from mltune.tracking.pyfunc import KerasTabularModel

    kept = study.user_attrs.get(names.REFIT_ATTR)
    if kept and kept["trial"] == trial.number:
        return str(kept["run_id"]), None
    epochs = best_epoch(trial, direction=context.recipe.direction)
    params = context.space.sample(optuna.trial.FixedTrial(trial.params))
    params.update({"epochs": given or epochs or params["epochs"], "patience": None})
    development = context.splits.development
    result = fit_fold(recipe=context.recipe, params=params, table=context.table,
                      fold=Fold(train=development, validation=development), seed=context.recipe.seed)
    run_id = context.log_model_run(trial.number, role="refit", params=params, model=result.model,
                                   encoding=result.encoding,
                                   model_fit=f"refit on all development rows for {params['epochs']} epochs")
    study.set_user_attr(names.REFIT_ATTR, {"trial": trial.number, "run_id": run_id, "epochs": params["epochs"]})
    return run_id, KerasTabularModel.of(result.model, result.encoding)


def _record(tracker: Tracker, registry: Registry, run_id: str, result: PromotionResult, *,
            data_fingerprint: str) -> None:
    """Writes the decision on the study's parent run and on both model versions."""
    tracker.set_tags(run_id, {names.PROMOTION_DECISION: result.decision, names.PROMOTION_REASON: result.reason,
                              **({names.PROMOTION_WARNING: result.warning} if result.warning else {}),
                              names.PROMOTION_MODEL: f"{result.model_name}/{result.version}",
                              names.PROMOTION_CHAMPION_BEFORE: result.champion_before or "",
                              names.PROMOTION_CHAMPION_AFTER: result.champion_after})
    metrics = {f"test_{result.metric}": result.challenger_score}
    if result.champion_score is not None:
        metrics[f"champion_test_{result.metric}"] = result.champion_score
    tracker.log_metrics(run_id, metrics)

    champion_score = "" if result.champion_score is None else f"{result.champion_score:.6g}"
    registry.tag(result.model_name, result.version, {
        names.DECISION: result.decision, names.DECISION_REASON: result.reason,
        names.DECISION_PARENT_RUN_ID: run_id, names.DECISION_CHALLENGER_SCORE: f"{result.challenger_score:.6g}",
        names.DECISION_CHAMPION_SCORE: champion_score})
    if result.champion_before and result.champion_before != result.version:
        registry.tag(result.model_name, result.champion_before, {
            names.rescored_tag(result.metric): champion_score, names.RESCORED_DATA_FINGERPRINT: data_fingerprint,
            names.CHALLENGED_BY: f"v{result.version}: {result.decision}"})
