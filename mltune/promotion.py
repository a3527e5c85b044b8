"""Promotion: register a study's best model and move alias ``champion`` only past a champion/challenger gate.

Both models are scored on the study's held-out test split, rebuilt from the recipe and seed the study used.
The challenger takes ``champion`` only when it beats the current champion by more than the recipe's margin;
otherwise it gets ``challenger``. The replaced champion keeps ``previous``. Registry stages are not used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltune.data import Table, load_table, make_splits
from mltune.errors import ConfigError, NoCompleteTrial, NothingToRollBack
from mltune.metrics import is_better
from mltune.recipe import Recipe, parse_recipe
from mltune.storage import promotion_lock
from mltune.tracking import BEST_RUN_ID, STUDY_NAME, Tracker, model_uri

CHAMPION, CHALLENGER, PREVIOUS, ROLLED_BACK = "champion", "challenger", "previous", "rolled_back"
RUN_TAG = "mltune.run_id"



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


ANY_CHAMPION = "any"
"""``expected_champion`` value that accepts whichever version holds ``champion`` when the gate runs."""


def promote(*, study_name: str | None = None, storage: str | None = None, run_id: str | None = None,
            tracking_uri: str | None = None, expected_champion: str | None = ANY_CHAMPION,
            lock_timeout: float = 600.0) -> PromotionResult:
    """Promotes the best trial of a study, given by name (and storage) or by its parent run id.

    The challenger is scored first; then, under the model's promotion lock (held in ``storage``, see
    :func:`mltune.storage.promotion_lock`), its version is registered, the current champion is re-scored on the
    same test split, and the aliases move. ``expected_champion`` makes the move a check-and-set: when another
    job changed the champion since this one started (``None`` meaning "there was none"), the challenger is kept.
    """
    tracker = Tracker(tracking_uri)
    parent_run_id = run_id or _parent_of(study_name, storage)
    try:
        parent = tracker.client.get_run(parent_run_id)
    except MlflowException:
        raise ConfigError(f"--run-id: no such run in {tracker.tracking_uri}, but got {parent_run_id!r}") from None
    best_run_id = parent.data.tags.get(BEST_RUN_ID)
    if not best_run_id:
        raise NoCompleteTrial(f"run {parent_run_id} is not a finished mltune study with a complete trial")
    recipe = parse_recipe(_read_recipe(tracker, parent_run_id), source=f"runs:/{parent_run_id}/recipe.yaml")
    table = load_table(recipe, source=f"runs:/{parent_run_id}/recipe.yaml")
    test = table.frame.iloc[make_splits(recipe, table).test]
    if tracker.has_keras_model(best_run_id) and not tracker.has_model(best_run_id):  # saved by a worker
        tracker.log_pyfunc_model(best_run_id, input_example=table.frame[list(table.features)].head(5))
    elif not tracker.has_model(best_run_id):  # a k-fold study, or the trial's process died before saving it
        _refit_on_development(recipe, table, tracker, best_run_id)
    challenger_score = _score(model_uri(best_run_id), recipe, table, test)

    client, name, metric = tracker.client, recipe.model_name, recipe.metric
    with promotion_lock(storage, name, timeout=lock_timeout):
        _ensure_registered_model(client, name)
        version = _version_for_run(client, name, best_run_id) or str(client.create_model_version(
            name, source=model_uri(best_run_id), run_id=best_run_id,
            tags={RUN_TAG: best_run_id, "mltune.study_name": parent.data.tags.get(STUDY_NAME, ""),
                  "mltune.parent_run_id": parent_run_id, "mltune.trial_number":
                  client.get_run(best_run_id).data.tags.get("mltune.trial_number", ""),
                  "mltune.data_fingerprint": table.fingerprint, "mltune.metric": metric,
                  f"mltune.test_{metric}": f"{challenger_score:.6g}"},
        ).version)
        champion = _alias(client, name, CHAMPION)
        champion_score = None
        if champion is not None and champion != version:
            champion_score = _score(f"models:/{name}/{champion}", recipe, table, test)
        decision, reason = _gate(recipe, version, challenger_score, champion, champion_score, expected_champion)
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
                                 metric=metric, challenger_score=challenger_score, champion_score=champion_score)
        _record(tracker, parent_run_id, result, data_fingerprint=table.fingerprint)
    return result


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

    client = Tracker(tracking_uri).client
    with promotion_lock(storage, model_name, timeout=lock_timeout):
        previous = _alias(client, model_name, PREVIOUS)
        if previous is None:
            raise NothingToRollBack(f"model {model_name!r} has no version with alias {PREVIOUS!r} to roll back to")
        current = _alias(client, model_name, CHAMPION)
        result = RollbackResult(model_name=model_name, champion_before=current, champion_after=previous,
                                by=f"{getpass.getuser()}@{socket.gethostname()}",
                                at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                                reason=reason or "no reason given")
        client.set_registered_model_alias(model_name, CHAMPION, previous)
        client.delete_registered_model_alias(model_name, PREVIOUS)
        record = {"by": result.by, "at": result.at, "reason": result.reason}
        client.set_model_version_tag(model_name, previous, "mltune.rollback.restored",
                                     json.dumps({**record, "replacing": current}))
        if current is not None and current != previous:
            client.set_registered_model_alias(model_name, ROLLED_BACK, current)
            client.set_model_version_tag(model_name, current, "mltune.rollback.removed",
                                         json.dumps({**record, "restoring": previous}))
    return result


def _gate(recipe: Recipe, version: str, challenger: float, champion: str | None, champion_score: float | None,
          expected: str | None) -> tuple[str, str]:
    """The decision and its reason."""
    metric, margin = recipe.metric, recipe.promotion.margin
    if champion == version:
        return "already champion", f"version {version} already holds alias {CHAMPION!r}"
    if expected != ANY_CHAMPION and champion != expected:
        was = f"v{expected}" if expected else "none"
        return "kept", (f"the champion changed while this job ran (it expected {was}, found v{champion}); "
                        f"another job promoted first")
    if champion is None:
        return "first champion", f"no version of {recipe.model_name!r} held alias {CHAMPION!r}"
    assert champion_score is not None
    if is_better(challenger, champion_score, direction=recipe.direction, margin=margin):
        return "promoted", (f"test {metric} {challenger:.6g} beats champion v{champion}'s {champion_score:.6g} "
                            f"by more than margin {margin:g}")
    return "kept", (f"test {metric} {challenger:.6g} does not beat champion v{champion}'s {champion_score:.6g} "
                    f"by more than margin {margin:g}")


def _parent_of(study_name: str | None, storage: str | None) -> str:
    import optuna

    from mltune.storage import PARENT_RUN_ATTR, open_storage

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


def _refit_on_development(recipe: Recipe, table: Table, tracker: Tracker, run_id: str) -> None:
    """Trains the trial's configuration on all development rows.

    Under k-fold CV no single fold's model is the trial's; without CV this happens only when the trial's model
    was never saved (its process died before the end of the study).
    """
    from mltune.data import Fold
    from mltune.tracking import TrialRun
    from mltune.training import fit_fold

    params = {k: _parse(v) for k, v in tracker.client.get_run(run_id).data.params.items()}
    development = make_splits(recipe, table).development
    everything = Fold(train=development, validation=development)
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


def _record(tracker: Tracker, run_id: str, result: PromotionResult, *, data_fingerprint: str) -> None:
    """Writes the decision on the study's parent run and on both model versions."""
    tracker.set_tags(run_id, {"mltune.promotion.decision": result.decision,
                              "mltune.promotion.reason": result.reason,
                              "mltune.promotion.model": f"{result.model_name}/{result.version}",
                              "mltune.promotion.champion_before": result.champion_before or "",
                              "mltune.promotion.champion_after": result.champion_after})
    metrics = {f"test_{result.metric}": result.challenger_score}
    if result.champion_score is not None:
        metrics[f"champion_test_{result.metric}"] = result.champion_score
    tracker.log_metrics(run_id, metrics)

    client, name = tracker.client, result.model_name
    scores = {"mltune.decision.challenger_score": f"{result.challenger_score:.6g}",
              "mltune.decision.champion_score": "" if result.champion_score is None
              else f"{result.champion_score:.6g}"}
    for key, value in {"mltune.decision": result.decision, "mltune.decision.reason": result.reason,
                       "mltune.decision.parent_run_id": run_id, **scores}.items():
        client.set_model_version_tag(name, result.version, key, value)
    if result.champion_before and result.champion_before != result.version:
        rescored = f"{result.champion_score:.6g}" if result.champion_score is not None else ""
        for key, value in {f"mltune.rescored_test_{result.metric}": rescored,
                           "mltune.rescored_data_fingerprint": data_fingerprint,
                           "mltune.challenged_by": f"v{result.version}: {result.decision}"}.items():
            client.set_model_version_tag(name, result.champion_before, key, value)
