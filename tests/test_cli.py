"""The command line and the MLflow Project, run as a user runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mltune.cli import main

from .conftest import TINY
from .servers import needs_postgres, postgres_database  # noqa: F401

PROJECT = Path(__file__).resolve().parents[1]


def test_help_does_not_import_tensorflow_or_mlflow() -> None:
    code = ("import sys; from click.testing import CliRunner; from mltune.cli import main; "
            "r = CliRunner().invoke(main, ['tune', '--help']); assert r.exit_code == 0, r.output; "
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'mlflow', 'optuna') if m in sys.modules); "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "search.learning_rate.low=0"],
         "search.learning_rate: low must be > 0 for a log scale, but got low=0.0"),
        (["--set", "data.dataset=mnist"],
         "data.dataset: must be one of digits, iris, wine, breast_cancer, diabetes, but got 'mnist'"),
        (["--set", "data={path: nope.csv, target: y}"], "data.path: file not found, but got"),
        (["--set", "seed.x=1"], "--set 'seed.x=1': seed is a value, not a section, so it has no field 'x'"),
        (["--n-trials", "many"], "--n-trials: must be an integer, but got 'many'"),
        (["--storage", "ftp://host/x"], "--storage: must be journal:PATH or a database URL"),
        (["--workers", "0"], "--workers: must be >= 1, but got 0"),
        (["--workers", "two"], "--workers: must be an integer, but got 'two'"),
        (["--timeout", "-5"], "--timeout: must be > 0 seconds, but got -5.0"),
        (["--set", "data.targt=x"], "mltune: error: --set data.targt=x: data.targt: unknown field"),
        (["--data", "x.txt"], "mltune: error: --data x.txt: data: "),
        (["--study-name", "s" * 300], "--study-name: a study name must be at most 250 characters"),
        (["--experiment-name", "e" * 501], "--experiment-name: an MLflow experiment name must be at most 500"),
        (["--set", "split.test=0.9", "--set", "split.validation=0.9"],
         "split: test + validation must be < 1 so that rows are left to train on"),
    ],
)
def test_config_errors_exit_2_and_write_nothing(workdir: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["tune", str(TINY), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna-journal.log").exists()


def test_worker_needs_a_study_made_by_tune(workdir: Path) -> None:
    storage = f"journal:{workdir / 'j.log'}"
    result = CliRunner().invoke(main, ["worker", "--study-name", "nope", "--storage", storage, "--wait", "0"])
    assert result.exit_code == 2, result.output
    assert f"--study-name: no such study in {storage}, but got 'nope'; create it with `mltune tune`" in result.output
    assert list(workdir.iterdir()) == []  # no journal, no mlflow.db, no lock file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "--study-name", "nope"], "--study-name: no such study in journal:optuna-journal.log, but got "
                                              "'nope' (there is no file 'optuna-journal.log'"),
        (["promote", "--run-id", "nope"], "MLFLOW_TRACKING_URI: no MLflow database at"),
        (["rollback", "nope"], "MLFLOW_TRACKING_URI: no MLflow database at"),
        (["worker", "--study-name", "nope", "--wait", "1.5"], "no such study in the default storage, but got "
                                                             "'nope'; create it with `mltune tune` (waited 1.5s)"),
    ],
)
def test_commands_on_what_does_not_exist_create_nothing(workdir: Path, args: list[str], message: str) -> None:
    # They created mlflow.db, an empty journal or lock files, and `promote` took 15 s to say so.
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert list(workdir.iterdir()) == []


def test_promote_of_a_missing_study_is_answered_before_mlflow_is_imported(workdir: Path) -> None:
    code = ("import sys; from click.testing import CliRunner; from mltune.cli import main; "
            "r = CliRunner().invoke(main, ['promote', '--study-name', 'nope']); print(r.exit_code, "
            "sorted(m for m in ('mlflow', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=workdir)
    assert out.stdout.strip() == "2 []"
    assert list(workdir.iterdir()) == []


@needs_postgres
def test_promote_names_the_postgres_storage_it_searched_without_its_password(
        workdir: Path, postgres_database: str) -> None:  # noqa: F811
    from sqlalchemy.engine import make_url

    result = CliRunner().invoke(main, ["promote", "--study-name", "nope", "--storage", postgres_database])
    assert result.exit_code == 2, result.output
    url = make_url(postgres_database)
    assert f"no such study in {url.render_as_string(hide_password=True)}, but got 'nope'" in result.output
    assert url.password and url.password not in result.output
    assert list(workdir.iterdir()) == []


def test_worker_refuses_a_study_tune_did_not_set_up(workdir: Path) -> None:
    import optuna

    from mltune.runtime.storage import open_storage

    storage = f"journal:{workdir / 'j.log'}"
    optuna.create_study(study_name="bare", storage=open_storage(storage))
    result = CliRunner().invoke(main, ["worker", "--study-name", "bare", "--storage", storage])
    assert result.exit_code == 2, result.output
    assert ("--study-name: study 'bare' has no recipe: it was not made by `mltune tune`, or its set-up did not "
            "finish (run `mltune tune` on it again)") in result.output
    assert not (workdir / "mlflow.db").exists()


def test_promote_needs_a_study_or_a_run(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["promote"])
    assert result.exit_code == 2
    assert "give exactly one of --study-name NAME or --run-id PARENT_RUN_ID" in result.output


@pytest.mark.slow
def test_train_reproduces_a_configuration(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["train", str(TINY), "--set", "search.learning_rate=0.01",
                                       "--set", "search.n_layers=1", "--set", "search.units=32",
                                       "--set", "search.optimizer=adam"])
    assert result.exit_code == 0, result.output
    run_id = re.search(r"^run ([0-9a-f]{32}):", result.output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    run = MlflowClient().get_run(run_id)
    assert run.data.params["learning_rate"] == "0.01" and run.data.params["units"] == "32"
    assert [m.step for m in MlflowClient().get_metric_history(run_id, "val_accuracy")] == [1, 2]
    assert any(a.path == "model" for a in MlflowClient().list_artifacts(run_id))

    missing = CliRunner().invoke(main, ["train", str(TINY)])
    assert missing.exit_code == 2 and "needs a value for every searched parameter" in missing.output


@pytest.mark.slow
def test_mlflow_run_tunes_and_promotes(workdir: Path) -> None:
    # As in an activated virtual environment: `mlflow` and the entry point's `python` are this interpreter's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    command = ["mlflow", "run", str(PROJECT), "--env-manager", "local", "--experiment-name", "e2e",
               "-P", f"recipe={TINY}", "-P", "n_trials=2", "-P", f"storage=journal:{workdir / 'j.log'}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promotion: first champion" in done.stdout

    client = MlflowClient()
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs
               if "mlflow.parentRunId" not in r.data.tags and r.data.tags.get("mltune.role") != "baseline"]
    assert len(parents) == 1  # the run `mlflow run` made is the study's parent
    assert len([r for r in runs if r.data.tags.get("mltune.role") == "baseline"]) == 1  # the tree beside it
    (parent,) = parents
    assert parent.data.tags["mltune.promotion.decision"] == "first champion"
    assert len([r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]) == 2
    assert client.get_model_version_by_alias("tiny-digits", "champion").version == 1


def test_train_from_a_run_that_is_no_trial_is_a_config_error(workdir: Path) -> None:
    client = MlflowClient()
    run = client.create_run(client.create_experiment("elsewhere")).info.run_id
    result = CliRunner().invoke(main, ["train", str(TINY), "--from-run", run])
    assert result.exit_code == 2, result.output
    assert f"--from-run: run {run} is not an mltune trial (no mltune.trial_number tag)" in result.output
    assert [r.info.run_name for r in client.search_runs([e.experiment_id for e in client.search_experiments()])] \
        == [client.get_run(run).info.run_name]  # nothing trained or logged


def test_a_bad_loss_is_a_config_error(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["tune", str(TINY), "--set", "search.loss=hinge"])
    assert result.exit_code == 2, result.output
    assert "search.loss: value must be one of auto, mse, mae, huber, but got value='hinge'" in result.output
