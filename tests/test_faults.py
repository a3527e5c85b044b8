"""Faults a user meets: a full disk, a tracking store that turns read-only, a failing trial; and the best model
as the MLflow 3 logged model the UI shows."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

from mltune.config.recipe import load_recipe
from mltune.errors import TrackingError
from mltune.flows.promote import promote
from mltune.flows.tune import tune
from mltune.names import RUN_ID_ATTR
from mltune.runtime.storage import open_storage

from .conftest import TINY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_best_model_is_a_logged_model_of_its_run_and_the_version_links_to_it(storage: str) -> None:
    result = tune(load_recipe(TINY, ["search.epochs=1"]), storage=storage, study_name="logged", n_trials=2)
    promoted = promote(study_name="logged", storage=storage)

    client = MlflowClient()
    best_run_id = client.get_run(result.parent_run_id).data.tags["mltune.best_run_id"]
    models = mlflow.search_logged_models(experiment_ids=[result.experiment_id], output_format="list")
    assert [(m.name, m.source_run_id, m.status) for m in models] == [("model", best_run_id, LoggedModelStatus.READY)]
    model = models[0]
    assert [o.model_id for o in client.get_run(best_run_id).outputs.model_outputs] == [model.model_id]
    assert {a.path for a in client.list_logged_model_artifacts(model.model_id)} >= {"MLmodel", "artifacts"}
    # The version comes from the logged model (MLflow 3.17's SQL registry keeps no `model_id` field on a version:
    # the source and the logged model's `mlflow.modelVersions` tag are the links the UI follows).
    version = client.get_model_version(promoted.model_name, promoted.version)
    assert version.source == f"models:/{model.model_id}" and version.run_id == best_run_id
    assert json.loads(client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]) == [
        {"name": promoted.model_name, "version": promoted.version}]
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    assert loaded.predict(load_recipe_rows()).shape == (3,)


def load_recipe_rows():  # type: ignore[no-untyped-def]
    from mltune.data import load_table

    return load_table(load_recipe(TINY)).features_frame().head(3)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 160 KiB (a tmpfs; mounting one needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_leaves_nothing_half_written_and_fails_the_parent_run_with_the_reason(
        storage: str, small_disk: Path) -> None:
    # The experiment's artifacts live on the small disk: the study's first artifacts fit, the best model does not.
    client = MlflowClient()
    experiment_id = client.create_experiment("full", artifact_location=small_disk.as_uri())
    with pytest.raises(TrackingError, match="No space left on device"):
        tune(load_recipe(TINY, ["search.epochs=1"]), storage=storage, study_name="full", n_trials=1,
             experiment_name="full")

    runs = {r.data.tags.get("mltune.role"): r for r in client.search_runs([experiment_id])}
    parent, trial = runs["study"], runs["trial"]
    assert parent.info.status == "FAILED"
    assert "No space left on device" in parent.data.tags["mltune.error"]
    assert trial.info.status == "FINISHED"
    # No half-written file stands: the model went whole or not at all, and so did every plot.
    assert "model" not in {a.path for a in client.list_artifacts(trial.info.run_id)}
    assert mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list") == []
    html = [p for p in small_disk.rglob("study_plots.html")]
    assert all(p.read_text(errors="replace").rstrip().endswith("</html>") for p in html)
    for path in small_disk.rglob("*.png"):
        assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), path  # a PNG's last chunk


@pytest.fixture
def freeze() -> Iterator[Callable[..., None]]:
    """Makes files and folders immutable (``chattr +i``: read-only even for root, even for open files' new
    journals), and writable again afterwards."""
    frozen: list[Path] = []

    def make_read_only(*paths: Path) -> None:
        done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i does not work here (needs root and ext4): {done.stderr.strip()}")
        frozen.extend(paths)

    yield make_read_only
    if frozen:
        subprocess.run(["chattr", "-i", *map(str, frozen)], check=True)
        frozen.clear()


def test_a_tracking_database_turned_read_only_mid_study_is_one_message_and_a_rerun_closes_its_runs(
        workdir: Path, freeze: Callable[..., None]) -> None:
    db = workdir / "db" / "mlflow.db"
    db.parent.mkdir()
    storage = f"journal:{workdir / 'optuna.log'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    command = [sys.executable, "-m", "mltune", "tune", str(TINY), "--storage", storage, "--n-trials", "1",
               "--set", "search.epochs=40", "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:  # trial 0 is training and has its run
        try:
            trials = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage)).trials
        except KeyError:
            trials = []
        if any(t.state.name == "RUNNING" and RUN_ID_ATTR in t.user_attrs for t in trials):
            freeze(db, db.parent)
            break
        time.sleep(0.05)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 4, err
    assert "Traceback" not in err and "[SQL:" not in err
    errors = [line for line in err.splitlines() if line.startswith("mltune: error:")]
    assert len(errors) == 1 and "database" in errors[0], err
    assert len([line for line in err.splitlines() if "trial 0 failed: " in line]) == 1, err
    subprocess.run(["chattr", "-i", str(db), str(db.parent)], check=True)

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 3, rerun.stderr  # the study's only trial failed: no model
    client = MlflowClient(f"sqlite:///{db}")
    runs = {r.info.run_name: r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])}
    assert {name: r.info.status for name, r in runs.items()} == {"tiny_digits": "FINISHED", "trial-0": "FAILED"}
    assert "could not close this run" in runs["trial-0"].data.tags["mltune.error"]


def test_a_failed_trial_is_one_line_on_the_console() -> None:
    from mltune.views.progress import quiet_trial_failures

    quiet_trial_failures()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("optuna")
    logger.addHandler(handler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        def objective(trial: optuna.Trial) -> float:
            raise FloatingPointError(f"loss became nan at epoch {trial.suggest_int('epoch', 3, 3)}\n[SQL: noise]")

        optuna.create_study().optimize(objective, n_trials=1, catch=(Exception,))
    finally:
        logger.removeHandler(handler)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
    lines = [logging.Formatter().format(r) for r in records]
    assert lines == ["trial 0 failed: FloatingPointError: loss became nan at epoch 3 "
                     "(traceback in its run's traceback.txt)"]


def test_a_failed_trials_run_holds_its_traceback(storage: str) -> None:
    recipe = load_recipe(TINY, ["search.optimizer=sgd", "search.momentum=0.99", "search.n_layers=1",
                                "search.learning_rate=10.0"])
    result = tune(recipe, storage=storage, study_name="nan", n_trials=1)

    assert result.counts == {"FAIL": 1}
    client = MlflowClient()
    run = client.get_run(_trial_run_id(storage, "nan"))
    assert run.info.status == "FAILED" and "loss became nan" in run.data.tags["mltune.error"]
    trace = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="traceback.txt"))
    text = trace.read_text()
    assert text.startswith("Traceback (most recent call last):") and "TrialDiverged: training loss became nan" in text


def _trial_run_id(storage: str, name: str) -> str:
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    return str(study.trials[0].user_attrs[RUN_ID_ATTR])
