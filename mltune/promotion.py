"""Promotion: register a study's best model and move alias ``champion`` only past a champion/challenger gate.

Both models are scored on the study's held-out test split, rebuilt from the recipe and seed the study used.
The challenger takes ``champion`` only when it beats the current champion by more than the recipe's margin;
otherwise it gets ``challenger``. The replaced champion keeps ``previous``. Registry stages are not used.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltune.data import Table, load_table, make_splits
from mltune.errors import ConfigError
from mltune.metrics import is_better
from mltune.recipe import Recipe, parse_recipe
from mltune.tracking import BEST_RUN_ID, STUDY_NAME, Tracker, model_uri

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
RUN_TAG = "mltune.run_id"

log = logging.getLogger("mltune")


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def promote(*, study_name: str | None = None, storage: str | None = None, run_id: str | None = None,
            tracking_uri: str | None = None) -> PromotionResult:
    """Promotes the best trial of a study, given by name (and storage) or by its parent run id."""
    tracker = Tracker(tracking_uri)
    parent_run_id = run_id or _parent_of(study_name, storage)
    try:
        parent = tracker.client.get_run(parent_run_id)
    except MlflowException:
        raise ConfigError(f"--run-id: no such run in {tracker.tracking_uri}, but got {parent_run_id!r}") from None
    best_run_id = parent.data.tags.get(BEST_RUN_ID)
    if not best_run_id:
        raise ConfigError(f"--run-id: run {parent_run_id} is not a finished mltune study with a complete trial")
    recipe = parse_recipe(_read_recipe(tracker, parent_run_id), source=f"runs:/{parent_run_id}/recipe.yaml")
    table = load_table(recipe, source=f"runs:/{parent_run_id}/recipe.yaml")
    splits = make_splits(recipe, table)
    test = table.frame.iloc[splits.test]

    if not tracker.has_model(best_run_id):
        _refit_on_development(recipe, table, splits, tracker, best_run_id)
    challenger_score = _score(model_uri(best_run_id), recipe, table, test)

    client = tracker.client
    name = recipe.model_name
    _ensure_registered_model(client, name)
    version = _version_for_run(client, name, best_run_id)
    if version is None:
        version = client.create_model_version(
            name, source=model_uri(best_run_id), run_id=best_run_id,
            tags={RUN_TAG: best_run_id, "mltune.study_name": parent.data.tags.get(STUDY_NAME, ""),
                  "mltune.parent_run_id": parent_run_id, "mltune.trial_number":
                  client.get_run(best_run_id).data.tags.get("mltune.trial_number", ""),
                  "mltune.data_fingerprint": table.fingerprint, "mltune.metric": recipe.metric,
                  f"mltune.test_{recipe.metric}": f"{challenger_score:.6g}"},
        ).version
    version = str(version)

    champion = _alias(client, name, CHAMPION)
    champion_score: float | None = None
    if champion is None:
        decision, reason = "first champion", f"no version of {name!r} held alias {CHAMPION!r}"
    elif champion == version:
        decision, reason = "already champion", f"version {version} already holds alias {CHAMPION!r}"
    else:
        champion_score = _score(f"models:/{name}/{champion}", recipe, table, test)
        if is_better(challenger_score, champion_score, direction=recipe.direction, margin=recipe.promotion.margin):
            decision = "promoted"
            reason = (f"test {recipe.metric} {challenger_score:.6g} beats champion v{champion}'s "
                      f"{champion_score:.6g} by more than margin {recipe.promotion.margin:g}")
        else:
            decision = "kept"
            reason = (f"test {recipe.metric} {challenger_score:.6g} does not beat champion v{champion}'s "
                      f"{champion_score:.6g} by more than margin {recipe.promotion.margin:g}")

    if decision in ("first champion", "promoted"):
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, champion)
        client.set_registered_model_alias(name, CHAMPION, version)
        if _alias(client, name, CHALLENGER) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
    elif decision == "kept":
        client.set_registered_model_alias(name, CHALLENGER, version)
    result = PromotionResult(decision=decision, reason=reason, model_name=name, version=version,
                             champion_before=champion, champion_after=_alias(client, name, CHAMPION) or version,
                             metric=recipe.metric, challenger_score=challenger_score, champion_score=champion_score)
    _record(tracker, parent_run_id, result)
    client.set_model_version_tag(name, version, "mltune.decision", f"{decision}: {reason}")
    return result


def _parent_of(study_name: str | None, storage: str | None) -> str:
    import optuna

    from mltune.storage import open_storage
    from mltune.study import PARENT_RUN_ATTR

    if not study_name:
        raise ConfigError("promote: give --study-name NAME (with --storage URL) or --run-id PARENT_RUN_ID")
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise ConfigError(f"--study-name: no such study in the storage, but got {study_name!r}") from None
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if not parent:
        raise ConfigError(f"--study-name: study {study_name!r} has no MLflow parent run; tune it with mltune")
    return str(parent)


def _read_recipe(tracker: Tracker, run_id: str) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        return dict(yaml.safe_load(Path(tracker.client.download_artifacts(run_id, "recipe.yaml", tmp)).read_text()))


def _score(uri: str, recipe: Recipe, table: Table, test: Any) -> float:
    model = mlflow.pyfunc.load_model(uri)
    y_true = test[table.target].to_numpy() if table.target else None
    return float(model.unwrap_python_model().score(test, y_true, recipe.metric))


def _refit_on_development(recipe: Recipe, table: Table, splits: Any, tracker: Tracker, run_id: str) -> None:
    """Trains the trial's configuration on all development rows.

    Under k-fold CV no single fold's model is the trial's; without CV this happens only when the trial's model
    was never saved (its process died before the end of the study).
    """
    from mltune.data import Fold
    from mltune.tracking import TrialRun
    from mltune.training import fit_fold

    params = {k: _parse(v) for k, v in tracker.client.get_run(run_id).data.params.items()}
    everything = Fold(train=splits.development, validation=splits.development)
    result = fit_fold(recipe=recipe, params=params, table=table, fold=everything, seed=recipe.seed)
    TrialRun(tracker.client, run_id, {}).log_keras_model(result.model, result.encoding)
    tracker.set_tags(run_id, {"mltune.model_fit": "refit on all development rows"})
    tracker.log_pyfunc_model(run_id, input_example=table.frame[list(table.features)].head(5))


def _parse(text: str) -> Any:
    import yaml

    return None if text == "None" else yaml.safe_load(text)


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Tuned by mltune.")


def _version_for_run(client: MlflowClient, name: str, run_id: str) -> str | None:
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return str(found[0].version) if found else None


def _alias(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _record(tracker: Tracker, run_id: str, result: PromotionResult) -> None:
    tracker.set_tags(run_id, {"mltune.promotion.decision": result.decision,
                              "mltune.promotion.reason": result.reason,
                              "mltune.promotion.model": f"{result.model_name}/{result.version}"})
    metrics = {f"test_{result.metric}": result.challenger_score}
    if result.champion_score is not None:
        metrics[f"champion_test_{result.metric}"] = result.champion_score
    tracker.log_metrics(run_id, metrics)
