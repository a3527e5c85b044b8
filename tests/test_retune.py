"""Scheduled retuning: warm start, the fair gate on today's split, rollback, run keys, JSON, exit codes, races."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_digits

from mltune.config.recipe import Recipe, load_recipe
from mltune.data import load_table, make_splits
from mltune.errors import NothingToRollBack
from mltune.flows.promote import rollback
from mltune.flows.retune import retune
from mltune.names import ENQUEUED_ATTR
from mltune.runtime.storage import open_storage

from .conftest import TINY
from .jobs import finish_all, with_stacks
from .servers import start_mlflow_server

pytestmark = pytest.mark.slow

MODEL = "tiny-digits"
WEAK = ["search.epochs=1", "search.learning_rate=0.0001"]
STRONG = ["search.epochs=5", "search.learning_rate=0.01", "search.optimizer=adam"]
RESULT_KEYS = {"status", "decision", "reason", "study_name", "parent_run_id", "metric", "best_value", "model_name",
               "version", "champion_before", "champion_after", "challenger_score", "champion_score",
               "data_fingerprint", "warm_start", "run_key", "repeated",
               "test_score", "validation_score", "warning",  # the test score after promotion (issue 13)
               "baseline"}  # HistGradientBoosting on the same split (issue 15)


def digits_csv(folder: Path, name: str, rows: slice) -> Path:
    """A day's data: a slice of scikit-learn's digits as a CSV file."""
    path = folder / f"{name}.csv"
    load_digits(as_frame=True).frame.iloc[rows].to_csv(path, index=False)
    return path


def day(path: Path, *overrides: str) -> Recipe:
    return load_recipe(TINY, [f"data={{path: {path}, target: target}}", *overrides])


def alias(name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(MODEL, name).version)


def test_successive_retunes_warm_start_rescore_the_champion_and_roll_back(workdir: Path, storage: str) -> None:
    day1 = digits_csv(workdir, "day1", slice(0, 900))
    day2 = digits_csv(workdir, "day2", slice(600, 1500))
    client = MlflowClient()

    first = retune(day(day1, *WEAK), run_key="d1", storage=storage, n_trials=2)
    assert (first.decision, first.version, first.champion_before, first.champion_after) == (
        "first champion", "1", None, "1")

    recipe2 = day(day2, *STRONG)
    second = retune(recipe2, run_key="d2", storage=storage, n_trials=3)
    assert second.decision == "promoted" and second.champion_before == "1" and second.champion_after == "2"
    assert (alias("champion"), alias("previous")) == ("2", "1")

    # Warm start: the champion's configuration and the previous study's best come first, tagged as such.
    assert second.warm_start >= 1
    study = optuna.load_study(study_name="tiny_digits-d2", storage=open_storage(storage))
    enqueued = [t for t in study.trials if ENQUEUED_ATTR in t.user_attrs]
    assert len(enqueued) == second.warm_start
    assert enqueued[0].user_attrs[ENQUEUED_ATTR] == "champion v1"
    for trial in enqueued:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.tags["mltune.enqueued"] == trial.user_attrs[ENQUEUED_ATTR]

    # The fair gate: the champion was re-scored on today's test split, the one the challenger was scored on.
    table = load_table(recipe2)
    test = table.frame.iloc[make_splits(recipe2, table).test]
    old_champion = mlflow.pyfunc.load_model(f"models:/{MODEL}/1").unwrap_python_model()
    assert second.champion_score == pytest.approx(
        old_champion.score(test, test["target"].to_numpy(), "accuracy"))
    v2, v1 = client.get_model_version(MODEL, "2"), client.get_model_version(MODEL, "1")
    assert v2.tags["mltune.decision"] == "promoted" and "beats champion v1" in v2.tags["mltune.decision.reason"]
    assert float(v1.tags["mltune.rescored_test_accuracy"]) == pytest.approx(second.champion_score, rel=1e-5)
    assert v1.tags["mltune.rescored_data_fingerprint"] == table.fingerprint != v1.tags["mltune.data_fingerprint"]
    parent = client.get_run(second.parent_run_id)
    assert parent.data.tags["mltune.promotion.decision"] == "promoted"
    assert parent.data.metrics["champion_test_accuracy"] == pytest.approx(second.champion_score)
    (dataset,) = parent.inputs.dataset_inputs
    assert dataset.dataset.digest == table.fingerprint

    # The same run key again: the first result, no tuning, no new version.
    trials_before = len(study.trials)
    again = retune(recipe2, run_key="d2", storage=storage, n_trials=3)
    assert again.repeated and again.version == "2" and again.decision == "promoted"
    assert len(optuna.load_study(study_name="tiny_digits-d2", storage=open_storage(storage)).trials) == \
        trials_before
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2

    # Rollback restores the replaced champion and says who, when and why on both versions.
    rolled = rollback(model_name=MODEL, reason="bad predictions in production", storage=storage)
    assert (rolled.champion_before, rolled.champion_after) == ("2", "1")
    assert (alias("champion"), alias("rolled_back")) == ("1", "2")
    restored = json.loads(client.get_model_version(MODEL, "1").tags["mltune.rollback.restored"])
    assert restored["reason"] == "bad predictions in production" and restored["by"] and restored["at"]
    assert json.loads(client.get_model_version(MODEL, "2").tags["mltune.rollback.removed"])["restoring"] == "1"
    with pytest.raises(NothingToRollBack):
        rollback(model_name=MODEL, storage=storage)

    # Day 1's data again, and the champion (v1) was trained on it: nothing to do.
    skipped = retune(day(day1, *WEAK), run_key="d3", storage=storage, skip_if_unchanged=True)
    assert skipped.decision == "skipped" and skipped.champion_after == "1" and skipped.study_name is None


def mltune_command(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the installed `mltune` as a pipeline would, with this test's tracking store."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    command = [sys.executable, "-m", "mltune", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


def test_json_output_and_exit_codes(workdir: Path, storage: str) -> None:
    data = digits_csv(workdir, "today", slice(0, 600))
    common = [str(TINY), "--set", f"data={{path: {data}, target: target}}", "--n-trials", "2", "--storage", storage,
              "--output", "json"]
    done = mltune_command(workdir, "retune", *common, "--run-key", "k1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is exactly one JSON object; progress went to stderr
    assert set(result) == RESULT_KEYS
    assert result["status"] == "ok" and result["decision"] == "first champion" and result["version"] == "1"
    assert isinstance(result["best_value"], float) and isinstance(result["warm_start"], int)
    assert "trial 0" in done.stderr

    bad = mltune_command(workdir, "retune", *common, "--set", "sampler=annealing")
    assert bad.returncode == 2
    error = json.loads(bad.stdout)
    assert error["status"] == "error" and error["error"] == "config" and error["exit_code"] == 2
    assert "sampler: 'name' must be one of" in error["message"]

    nothing = mltune_command(workdir, "rollback", MODEL, "--storage", storage, "--output", "json")
    assert nothing.returncode == 6 and json.loads(nothing.stdout)["error"] == "nothing_to_roll_back"


def test_two_retunes_started_together_make_one_champion(workdir: Path, storage: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = digits_csv(workdir, "today", slice(0, 600))
    args = [str(TINY), "--set", f"data={{path: {data}, target: target}}", "--set", "promotion.margin=0.01",
            "--n-trials", "2", "--storage", storage, "--output", "json"]
    # Concurrent jobs share a tracking server, as in production: two processes writing one SQLite file at the
    # same moment get "database is locked" from MLflow's store, which is not what this test is about.
    server = start_mlflow_server(workdir, f"sqlite:///{workdir / 'server.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    try:
        jobs = [subprocess.Popen([sys.executable, "-m", "mltune", "retune", *args, "--run-key", key],
                                 cwd=workdir, env=with_stacks(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
                for key in ("a", "b")]
        results = []
        for code, stdout, stderr in finish_all(jobs, also=server.log_tail):
            assert code == 0, stdout + stderr
            assert stdout.count("\n") == 1, stdout  # one JSON object, one line: nothing else on stdout
            results.append(json.loads(stdout))
        _check_one_champion(results)
    finally:
        server.stop()


def _check_one_champion(results: list[dict[str, str]]) -> None:
    decisions = sorted(r["decision"] for r in results)
    assert decisions == ["first champion", "kept"], results
    winner = next(r for r in results if r["decision"] == "first champion")
    loser = next(r for r in results if r["decision"] == "kept")
    assert alias("champion") == winner["version"] == loser["champion_after"]
    assert alias("challenger") == loser["version"] != winner["version"]
    assert len(MlflowClient().search_model_versions(f"name = '{MODEL}'")) == 2


def test_warm_start_drops_values_outside_todays_space() -> None:
    from mltune.search.space import SearchSpace

    space = SearchSpace.from_recipe(load_recipe(TINY))
    config = {"learning_rate": 0.005, "n_layers": 2, "units_0": 16, "units_1": 48, "optimizer": "rmsprop",
              "momentum": 0.5, "epochs": 2}
    # units_1=48 is off the step-16 grid up to 32, rmsprop is not a choice, epochs is fixed: all left out.
    assert space.sampled(config) == {"learning_rate": 0.005, "n_layers": 2, "units_0": 16, "momentum": 0.5}
