"""Promotion: registry versions, the champion/challenger gate, and models that take raw rows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mltune.config.recipe import load_recipe
from mltune.flows.promote import promote
from mltune.flows.tune import tune

from .conftest import RECIPES, TINY

pytestmark = pytest.mark.slow


def test_gate_keeps_a_better_champion_and_promoting_twice_adds_no_version(storage: str) -> None:
    adam = ["search.epochs=3", "search.optimizer=adam", "search.learning_rate=0.01"]
    good = tune(load_recipe(TINY, adam), storage=storage, study_name="good", n_trials=2)
    first = promote(study_name="good", storage=storage)
    assert (first.decision, first.version, first.champion_after) == ("first champion", "1", "1")

    again = promote(run_id=good.parent_run_id)
    assert again.decision == "already champion" and again.version == "1"
    client = MlflowClient()
    assert len(client.search_model_versions("name = 'tiny-digits'")) == 1

    worse_recipe = load_recipe(TINY, ["search.epochs=1", "search.optimizer=sgd", "search.momentum=0.0",
                                      "search.learning_rate=0.0001", "search.n_layers=1", "search.units=16"])
    tune(worse_recipe, storage=storage, study_name="worse", n_trials=1)
    second = promote(study_name="worse", storage=storage)
    assert second.decision == "kept" and second.version == "2"
    assert second.champion_score is not None and second.challenger_score < second.champion_score
    assert "does not beat champion v1" in second.reason
    assert client.get_model_version_by_alias("tiny-digits", "champion").version == 1
    assert client.get_model_version_by_alias("tiny-digits", "challenger").version == 2
    parent = client.get_run(client.get_model_version("tiny-digits", "2").tags["mltune.parent_run_id"])
    assert parent.data.tags["mltune.promotion.decision"] == "kept"
    assert parent.data.metrics["champion_test_accuracy"] == pytest.approx(second.champion_score)
    version = client.get_model_version("tiny-digits", "2")
    assert len(version.tags["mltune.data_fingerprint"]) == 16 and version.tags["mltune.study_name"] == "worse"

    # A zero margin lets the better model back in; the one it replaced keeps `previous`.
    third = tune(load_recipe(TINY, [*adam, "seed=11"]), storage=storage, study_name="better",
                 n_trials=2)
    result = promote(run_id=third.parent_run_id)
    if result.decision == "promoted":
        assert client.get_model_version_by_alias("tiny-digits", "previous").version == 1
        assert client.get_model_version_by_alias("tiny-digits", "champion").version == 3
    else:
        assert result.decision == "kept"
        assert client.get_model_version_by_alias("tiny-digits", "challenger").version == 3


def test_champion_takes_raw_rows_with_string_labels(workdir: Path, storage: str) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns={"target": "species"})
    frame["species"] = np.asarray(iris.target_names)[iris.target]
    frame.to_csv(workdir / "iris.csv", index=False)
    recipe = load_recipe(TINY, [f"data={{path: {workdir / 'iris.csv'}, target: species}}", "search.epochs=3",
                                "promotion.model_name=iris"])
    tune(recipe, storage=storage, study_name="iris", n_trials=1)
    promote(study_name="iris", storage=storage)

    model = mlflow.pyfunc.load_model("models:/iris@champion")
    rows = frame.drop(columns=["species"]).head(20)
    predicted = model.predict(rows)
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}
    assert model.metadata.signature.inputs.input_names() == list(frame.columns[:-1])

    # `mlflow models serve` answers raw rows with labels too.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", "models:/iris@champion", "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PATH": path}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        answer = _post_when_up(f"http://127.0.0.1:{port}", {"dataframe_split": rows.to_dict(orient="split")})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer["predictions"] == list(predicted)


def _post_when_up(url: str, body: dict[str, Any], *, within: float = 120.0) -> Any:
    """POSTs to ``url/invocations`` once ``url/ping`` answers."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body, default=str).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_regression_answers_in_target_units_and_cv_study_refits_for_promotion(storage: str) -> None:
    recipe = load_recipe(RECIPES / "diabetes_regression.yaml",
                         ["split.folds=2", "search.epochs=3", "budget.n_trials=1", "search.learning_rate=0.01"])
    tune(recipe, storage=storage, study_name="diabetes")
    result = promote(study_name="diabetes", storage=storage)
    assert result.decision == "first champion"

    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    predicted = mlflow.pyfunc.load_model("models:/diabetes-mlp@champion").predict(frame.drop(columns="target"))
    assert abs(float(np.mean(predicted)) - frame["target"].mean()) < 60  # raw units (target mean ~152), not z-scores
    version = MlflowClient().get_model_version("diabetes-mlp", result.version)
    run = MlflowClient().get_run(version.run_id)
    assert run.data.tags["mltune.model_fit"].startswith("refit on all development rows")


def test_autoencoder_reconstructs_raw_columns(storage: str) -> None:
    recipe = load_recipe(RECIPES / "digits_autoencoder.yaml", ["search.epochs=2", "budget.n_trials=1"])
    tune(recipe, storage=storage, study_name="ae")
    promote(study_name="ae", storage=storage)

    from sklearn.datasets import load_digits

    rows = load_digits(as_frame=True).frame.drop(columns="target").head(5)
    output = mlflow.pyfunc.load_model("models:/digits-autoencoder@champion").predict(rows)
    assert isinstance(output, pd.DataFrame) and list(output.columns) == list(rows.columns)
    assert output.shape == rows.shape


def test_refit_registers_the_best_configuration_trained_on_all_development_rows_once(storage: str) -> None:
    result = tune(load_recipe(TINY, ["promotion.refit=true", "promotion.baseline=false", "search.epochs=4"]),
                  storage=storage, n_trials=2)
    first = promote(study_name=result.study_name, storage=storage)
    again = promote(study_name=result.study_name, storage=storage)

    client = MlflowClient()
    version = client.get_model_version(first.model_name, first.version)
    refit_run = client.get_run(version.run_id)
    assert refit_run.data.tags["mltune.role"] == "refit"
    assert refit_run.data.tags["mlflow.parentRunId"] == result.parent_run_id
    assert refit_run.data.tags["mltune.trial_number"] == str(result.best_trial)
    assert "refit on all development rows" in refit_run.data.tags["mltune.model_fit"]
    best_run, = client.search_runs([refit_run.info.experiment_id], filter_string=(
        f"tags.`mltune.role` = 'trial' and tags.`mltune.trial_number` = '{result.best_trial}'"))
    curve = [m.value for m in sorted(client.get_metric_history(best_run.info.run_id, "val_accuracy"),
                                     key=lambda m: m.step)]
    assert refit_run.data.params["epochs"] == str(1 + curve.index(max(curve)))  # the best trial's best epoch
    assert again.decision == "already champion" and again.version == first.version  # refitted once


def test_refit_after_a_wilcoxon_study_trains_its_folds_best_epochs(storage: str) -> None:
    """Under ``wilcoxon`` a trial's steps are folds; the refit's epoch count still comes from its epochs."""
    recipe = load_recipe(RECIPES / "diabetes_regression.yaml", [
        "split.folds=3", "search.epochs=6", "search.learning_rate=0.01", "budget.n_trials=1",
        "pruner={name: wilcoxon}", "promotion.refit=true", "promotion.baseline=false"])
    result = tune(recipe, storage=storage, study_name="wilcoxon-refit")
    promoted = promote(study_name="wilcoxon-refit", storage=storage)

    client = MlflowClient()
    refit_run = client.get_run(client.get_model_version(promoted.model_name, promoted.version).run_id)
    trial_run, = client.search_runs([refit_run.info.experiment_id], filter_string=(
        f"tags.`mltune.role` = 'trial' and tags.`mltune.trial_number` = '{result.best_trial}'"))
    best_epochs = []
    for k in range(3):
        curve = [m.value for m in sorted(client.get_metric_history(trial_run.info.run_id, f"fold_{k}/val_rmse"),
                                         key=lambda m: m.step)]
        best_epochs.append(1 + curve.index(min(curve)))
    assert refit_run.data.params["epochs"] == str(round(sum(best_epochs) / 3))


def test_promotion_epochs_registers_the_best_configuration_trained_longer_than_its_trial(storage: str) -> None:
    result = tune(load_recipe(TINY, ["promotion.epochs=4", "promotion.baseline=false", "search.epochs=2",
                                     "search.patience=1"]), storage=storage, n_trials=2)
    first = promote(study_name=result.study_name, storage=storage)
    again = promote(study_name=result.study_name, storage=storage)

    client = MlflowClient()
    run = client.get_run(client.get_model_version(first.model_name, first.version).run_id)
    assert run.data.tags["mltune.role"] == "ensemble"
    assert run.data.tags["mltune.trial_number"] == str(result.best_trial)
    assert run.data.tags["mltune.model_fit"] == f"trial {result.best_trial}'s configuration trained for 4 epochs"
    assert (run.data.params["epochs"], run.data.params["patience"], run.data.params["ensemble_size"]) == (
        "4", "2", "1")  # patience scaled as the epochs
    assert again.decision == "already champion" and again.version == first.version  # trained once

    refit = tune(load_recipe(TINY, ["promotion.epochs=3", "promotion.refit=true", "promotion.baseline=false",
                                    "search.epochs=2"]), storage=storage, study_name="refit", n_trials=1)
    refitted = promote(study_name=refit.study_name, storage=storage)
    run = client.get_run(client.get_model_version(refitted.model_name, refitted.version).run_id)
    assert (run.data.tags["mltune.role"], run.data.params["epochs"]) == ("refit", "3")  # not its best epoch


@pytest.mark.slow
def test_ensemble_registers_the_average_of_the_best_configurations_seeds_once(storage: str) -> None:
    result = tune(load_recipe(TINY, ["promotion.ensemble=3", "promotion.baseline=false",
                                     "objective.metric=f1_macro"]), storage=storage, n_trials=2)
    first = promote(study_name=result.study_name, storage=storage)
    again = promote(study_name=result.study_name, storage=storage)

    client = MlflowClient()
    run = client.get_run(client.get_model_version(first.model_name, first.version).run_id)
    assert run.data.tags["mltune.role"] == "ensemble"
    assert run.data.tags["mlflow.parentRunId"] == result.parent_run_id
    assert run.data.params["ensemble_size"] == "3"
    assert again.decision == "already champion" and again.version == first.version  # trained once

    # The registered model is one Keras model averaging three members; it answers raw rows.
    from sklearn.datasets import load_digits

    uri = f"models:/{first.model_name}/{first.version}"
    model = mlflow.pyfunc.load_model(uri)
    members = [layer.name for layer in model.unwrap_python_model().model.layers if layer.name.startswith("member_")]
    assert members == ["member_0", "member_1", "member_2"]
    assert len(model.predict(load_digits(as_frame=True).frame.drop(columns="target").head(4))) == 4
    # as `mlflow models serve` loads it: a fresh process, whose Keras knows none of mltune's classes before the load
    # (the members were compiled with mltune's macro-F1 metric)
    loaded = subprocess.run([sys.executable, "-c", f"import mlflow; mlflow.pyfunc.load_model({uri!r}); print('ok')"],
                            capture_output=True, text=True, timeout=300)
    assert loaded.stdout.strip().endswith("ok"), loaded.stderr[-2000:]
