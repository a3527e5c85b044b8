"""Study listings and reports, read from journal files and SQLite databases that Optuna itself wrote."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.storages.journal import JournalFileBackend, JournalStorage

from mltune.cli import main
from mltune.errors import ConfigError
from mltune.runtime.storage import open_storage
from mltune.views.report import STATES, list_studies, studies_text, study_report

PARENT = "a" * 32
VALUES = {0: 0.80, 1: 0.95, 2: 0.70, 3: 0.99, 4: 0.90, 5: 0.90, 6: 0.60}
PRUNED = {2}
FAILED = {3}


def objective(trial: optuna.Trial) -> float:
    trial.set_user_attr("mlflow_run_id", f"run{trial.number:029d}")
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    trial.suggest_int("units", 16, 128)
    trial.suggest_categorical("optimizer", ["adam", "sgd"])
    if trial.number in PRUNED:
        raise optuna.TrialPruned()
    if trial.number in FAILED:
        raise ValueError("diverged")
    return VALUES[trial.number]


@pytest.fixture(params=["journal", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage with study ``digits`` (maximize: 5 complete, 1 pruned, 1 failed, 1 running, 1 waiting, with
    mltune's user attributes) and study ``wine`` (minimize, one complete trial, no attributes)."""
    if request.param == "journal":
        url = f"journal:{tmp_path / 'optuna.log'}"
        opened: optuna.storages.BaseStorage = JournalStorage(JournalFileBackend(str(tmp_path / "optuna.log")))
    else:
        url = f"sqlite:///{tmp_path / 'optuna.db'}"
        opened = optuna.storages.RDBStorage(url)
    digits = optuna.create_study(study_name="digits", storage=opened, direction="maximize")
    digits.set_user_attr("mlflow_parent_run_id", PARENT)
    digits.set_user_attr("mlflow_experiment_id", "7")
    digits.set_user_attr("mltune_recipe", "digits-mlp")
    digits.optimize(objective, n_trials=len(VALUES), catch=(Exception,))
    digits.ask()  # a trial still running
    digits.enqueue_trial({"units": 32})  # and one waiting
    wine = optuna.create_study(study_name="wine", storage=opened, direction="minimize")
    wine.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.5))
    return url


def test_list_studies_counts_trials_by_state(storage: str) -> None:
    before = datetime.datetime.now() + datetime.timedelta(seconds=1)
    digits, wine = list_studies(storage)

    assert digits.name == "digits" and digits.direction == "maximize"
    assert digits.n_trials == 9
    assert digits.counts == {"COMPLETE": 5, "PRUNED": 1, "FAIL": 1, "RUNNING": 1, "WAITING": 1}
    assert (digits.best_value, digits.best_trial) == (0.95, 1)  # trial 3 (0.99) failed
    assert (digits.parent_run_id, digits.experiment_id, digits.recipe) == (PARENT, "7", "digits-mlp")
    assert digits.started is not None and digits.started < before

    assert wine.direction == "minimize" and wine.counts == dict.fromkeys(STATES, 0) | {"COMPLETE": 1}
    assert (wine.best_value, wine.parent_run_id, wine.experiment_id, wine.recipe) == (1.5, None, None, None)


def test_report_ranks_complete_trials_by_direction(storage: str) -> None:
    report = study_report("digits", storage, top=3)

    assert report.study == list_studies(storage)[0]
    assert [(t.number, t.value) for t in report.top] == [(1, 0.95), (4, 0.90), (5, 0.90)]  # ties: earlier first
    best = report.top[0]
    assert best.run_id == f"run{1:029d}"
    assert set(best.params) == {"learning_rate", "units", "optimizer"}
    assert best.duration is not None and best.duration >= 0

    assert [t.number for t in study_report("digits", storage, top=10).top] == [1, 4, 5, 0, 6]
    assert study_report("digits", storage, top=0).top == ()


def test_report_of_a_minimizing_study(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'optuna.log'}"
    study = optuna.create_study(study_name="loss", storage=open_storage(url), direction="minimize")
    study.optimize(objective, n_trials=len(VALUES), catch=(Exception,))
    report = study_report("loss", url, top=2)
    assert (report.study.best_value, report.study.best_trial) == (0.60, 6)
    assert [t.number for t in report.top] == [6, 0]  # trial 2 (0.70) was pruned


def test_texts_are_aligned_plain_tables(storage: str) -> None:
    listing = studies_text(list_studies(storage)).splitlines()
    assert listing[0].split() == ["STUDY", "DIRECTION", "TRIALS", *STATES, "BEST", "TRIAL", "STARTED", "RECIPE",
                                  "EXPERIMENT", "PARENT", "RUN"]
    assert listing[1].split()[:10] == ["digits", "maximize", "9", "5", "1", "1", "1", "1", "0.95", "1"]
    assert listing[1].endswith(f"digits-mlp  7           {PARENT}")
    assert listing[2].split()[:3] == ["wine", "minimize", "1"] and listing[2].endswith("-")
    header, digits = listing[:2]
    assert header.index("RECIPE") == digits.index("digits-mlp") and header.index("PARENT RUN") == digits.index(PARENT)
    assert header.index("TRIALS") + len("TRIALS") == digits.index(" 9 ") + 2  # numbers right-aligned

    text = study_report("digits", storage, top=2).to_text()
    assert "\r" not in text and "\x1b" not in text and not any(line != line.rstrip() for line in text.splitlines())
    assert "trials:     9 (5 complete, 1 pruned, 1 fail, 1 running, 1 waiting)" in text
    assert "best:       0.95 (trial 1)" in text and f"parent run: {PARENT}" in text
    table = text.split("top 2 complete trials (maximize):\n")[1].splitlines()
    assert table[0].split() == ["RANK", "TRIAL", "VALUE", "DURATION", "learning_rate", "units", "optimizer", "RUN",
                                "ID"]
    assert [line.split()[:3] for line in table[1:]] == [["1", "1", "0.95"], ["2", "4", "0.9"]]
    assert table[1].endswith(f"run{1:029d}")
    starts = {line.index("run") for line in table[1:]} | {table[0].index("RUN ID")}
    assert len(starts) == 1  # the run ids line up under their header


def test_as_dict_is_json(storage: str) -> None:
    report = json.loads(json.dumps(study_report("digits", storage, top=1).as_dict()))
    assert report["counts"] == {"COMPLETE": 5, "PRUNED": 1, "FAIL": 1, "RUNNING": 1, "WAITING": 1}
    assert report["parent_run_id"] == PARENT and report["experiment_id"] == "7"
    assert datetime.datetime.fromisoformat(report["started"])
    (best,) = report["top_trials"]
    assert best["number"] == 1 and best["value"] == 0.95 and best["run_id"] == f"run{1:029d}"
    assert set(best["params"]) == {"learning_rate", "units", "optimizer"} and best["duration_s"] >= 0


def test_a_missing_study_names_the_storage_and_the_known_studies(storage: str) -> None:
    with pytest.raises(ConfigError) as error:
        study_report("digts", storage)
    assert str(error.value) == f"--study-name: no such study in {storage}, but got 'digts'; known: 'digits', 'wine'"


def test_a_missing_storage_is_an_error_and_is_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="--storage: no journal file at 'optuna-journal.log'"):
        list_studies(None)
    with pytest.raises(ConfigError, match="--storage: no SQLite database at"):
        study_report("digits", f"sqlite:///{tmp_path / 'none.db'}")
    assert list(tmp_path.iterdir()) == []


def test_cli_studies_and_report(storage: str) -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["studies", "--storage", storage])
    assert listing.exit_code == 0, listing.output
    assert listing.output.splitlines()[0].startswith("STUDY ") and "\ndigits " in listing.output

    listing = runner.invoke(main, ["studies", "--storage", storage, "--output", "json"])
    assert listing.exit_code == 0, listing.output
    payload = json.loads(listing.output)
    assert payload["status"] == "ok" and payload["storage"] == storage
    assert [s["name"] for s in payload["studies"]] == ["digits", "wine"]

    report = runner.invoke(main, ["report", "--study-name", "digits", "--storage", storage, "--top", "2"])
    assert report.exit_code == 0, report.output
    assert report.output.startswith("study:      digits\n") and "top 2 complete trials" in report.output

    report = runner.invoke(main, ["report", "--study-name", "digits", "--storage", storage, "--output", "json"])
    assert report.exit_code == 0, report.output
    payload = json.loads(report.output)
    assert payload["status"] == "ok" and [t["number"] for t in payload["top_trials"]] == [1, 4, 5, 0, 6]


def test_cli_missing_study_exits_2(storage: str) -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["report", "--study-name", "nope", "--storage", storage])
    assert text.exit_code == 2
    assert f"mltune: error: --study-name: no such study in {storage}, but got 'nope'" in text.output

    as_json = runner.invoke(main, ["report", "--study-name", "nope", "--storage", storage, "--output", "json"])
    assert as_json.exit_code == 2
    assert json.loads(as_json.output) == {
        "status": "error", "error": "config", "exit_code": 2,
        "message": f"--study-name: no such study in {storage}, but got 'nope'; known: 'digits', 'wine'"}

    assert runner.invoke(main, ["report", "--storage", storage]).exit_code == 2  # --study-name is required


def test_cli_default_storage_is_the_journal_in_the_working_directory(workdir: Path) -> None:
    optuna.create_study(study_name="here", storage=open_storage(None))
    result = CliRunner().invoke(main, ["studies", "--output", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["storage"] == "journal:optuna-journal.log" and payload["studies"][0]["name"] == "here"


def test_a_multi_objective_study_is_listed_but_not_ranked(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'optuna.log'}"
    study = optuna.create_study(study_name="pareto", storage=open_storage(url), directions=["minimize", "maximize"])
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, values=[1.0, 2.0]))
    (row,) = list_studies(url)
    assert (row.direction, row.n_trials, row.best_value, row.best_trial) == ("minimize,maximize", 1, None, None)
    report = study_report("pareto", url)
    assert report.top == () and report.to_text().endswith("multi-objective study: trials are not ranked")


@pytest.mark.parametrize(
    ("tracking_uri", "trials", "parent"),
    [
        ("sqlite:////tmp/x/mlflow.db",
         "Trials: run `mlflow ui --backend-store-uri sqlite:////tmp/x/mlflow.db` and open "
         "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning (expand the parent run)",
         "Parent run: http://127.0.0.1:5000/#/experiments/7/runs/abc"),
        ("http://ada:p@ss@mlflow.example:5000/",
         "Trials: open http://mlflow.example:5000/#/experiments/7/runs?workflowType=machine_learning "
         "(expand the parent run)",
         "Parent run: http://mlflow.example:5000/#/experiments/7/runs/abc"),
    ],
)
def test_the_ui_link_opens_the_runs_table_in_model_training_mode(tracking_uri: str, trials: str, parent: str) -> None:
    from types import SimpleNamespace

    from mltune.views.report import tracking_ui_hint

    lines = tracking_ui_hint(SimpleNamespace(tracking_uri=tracking_uri), "7", "abc")
    assert lines[1:] == (trials, parent)
    assert "p@ss" not in "\n".join(lines)
