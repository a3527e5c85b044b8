"""Many workers on one study, and faults: kill -9, SIGTERM, crash and rerun, a server outage, secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from mltune.runtime.storage import open_storage

from .conftest import TINY
from .jobs import finish_all, with_stacks
from .servers import mlflow_database, needs_postgres, postgres_database, start_mlflow_server  # noqa: F401

pytestmark = pytest.mark.slow

SLOW_TRIALS = ["--set", "search.epochs=40", "--set", "search.batch_size=16"]  # a few seconds per trial


def mltune(workdir: Path, *args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    environment = with_stacks({**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
                               **(env or {})})
    return subprocess.Popen([sys.executable, "-m", "mltune", *args], cwd=workdir, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    return finish_all([process], timeout)[0]


def wait_for_running_trial(storage: str, study_name: str, *, within: float = 180) -> optuna.trial.FrozenTrial:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
            running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            if running and "mltune_worker" in running[0].user_attrs:
                time.sleep(1.0)  # well inside the trial's training
                return running[0]
        except KeyError:
            pass
        time.sleep(0.2)
    raise AssertionError("no trial started")


def child_runs(experiment: str) -> list[Any]:
    client = MlflowClient()
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return [r for r in found if "mlflow.parentRunId" in r.data.tags]


def test_killed_worker_is_replaced_and_its_trial_run_again(workdir: Path, storage: str) -> None:
    tune = mltune(workdir, "tune", str(TINY), "--storage", storage, "--n-trials", "4", "--workers", "2",
                  "--experiment-name", "kill", *SLOW_TRIALS)
    victim = wait_for_running_trial(storage, "tiny_digits")
    os.kill(int(victim.user_attrs["mltune_worker"].rpartition(":")[2]), signal.SIGKILL)
    code, _, stderr = finish(tune)
    assert code == 0, stderr
    assert "ended with signal SIGKILL; starting another" in stderr

    study = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1 and "RUNNING" not in states
    lost = next(t for t in study.trials if t.state.name == "FAIL")
    assert lost.number == victim.number
    assert any(t.system_attrs.get("failed_trial") == lost.number for t in study.trials)  # queued again
    runs = {r.info.run_id: r for r in child_runs("kill")}
    assert len(runs) == 5 and {r.info.status for r in runs.values()} == {"FINISHED", "KILLED"}
    killed = runs[lost.user_attrs["mlflow_run_id"]]
    assert killed.info.status == "KILLED" and "its worker stopped" in killed.data.tags["mltune.error"]


def test_sigterm_fails_the_running_trial_and_stops_within_seconds(workdir: Path, storage: str) -> None:
    tune = mltune(workdir, "tune", str(TINY), "--storage", storage, "--n-trials", "3", "--experiment-name", "term",
                  *SLOW_TRIALS)
    wait_for_running_trial(storage, "tiny_digits")
    sent = time.monotonic()
    tune.send_signal(signal.SIGTERM)
    code, _, stderr = finish(tune)
    assert time.monotonic() - sent < 10
    assert code == 128 + signal.SIGTERM, stderr

    study = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage))
    assert study.trials[-1].state.name == "FAIL"
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("term").experiment_id])
    assert "RUNNING" not in {r.info.status for r in runs}
    trial_run = next(r for r in runs if r.data.tags.get("mltune.trial_number") == str(study.trials[-1].number))
    assert trial_run.info.status == "FAILED"
    assert trial_run.data.tags["mltune.error"] == "interrupted: stopped by SIGTERM"
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.status == "KILLED"


def test_crash_and_rerun_resumes_without_duplicates(workdir: Path, storage: str) -> None:
    args = ["tune", str(TINY), "--storage", storage, "--n-trials", "3", "--experiment-name", "crash", *SLOW_TRIALS]
    first = mltune(workdir, *args)
    # Let one trial complete, then kill the whole process in the middle of the next.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            study = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage))
            done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
            running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            if done and running and "mltune_worker" in running[0].user_attrs:
                break
        except KeyError:
            pass
        time.sleep(0.2)
    time.sleep(1.0)
    first.kill()
    finish(first)

    code, _, stderr = finish(mltune(workdir, *args))
    assert code == 0, stderr
    study = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1 and "RUNNING" not in states
    runs = child_runs("crash")
    assert len(runs) == len(study.trials)  # one run per trial: none duplicated
    assert len({r.data.tags["mltune.trial_number"] for r in runs}) == len(runs)
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1  # the parent run was reused
    assert "RUNNING" not in {r.info.status for r in runs}
    crashed = next(r for r in runs if r.info.status == "KILLED")
    assert "its process ended before the trial did" in crashed.data.tags["mltune.error"]


def test_the_same_tune_started_twice_at_once_makes_one_parent_run(workdir: Path, storage: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # As when a scheduler starts the same command on two machines: one study, one parent run, and the trials
    # shared. They share a tracking server, as in production (two processes writing one SQLite file at the same
    # moment get "database is locked" from MLflow's store).
    server = start_mlflow_server(workdir, f"sqlite:///{workdir / 'server.db'}")
    try:
        env = {"MLFLOW_TRACKING_URI": server.url}
        args = ["tune", str(TINY), "--storage", storage, "--n-trials", "4", "--experiment-name", "twice"]
        jobs = [mltune(workdir, *args, env=env) for _ in range(2)]
        for code, _, stderr in finish_all(jobs, also=server.log_tail):
            assert code == 0, stderr

        study = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage))
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        client = MlflowClient()
        runs = client.search_runs([client.get_experiment_by_name("twice").experiment_id])
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(parents) == 1 and len(children) == 4
        assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    finally:
        server.stop()


@needs_postgres
def test_workers_started_with_tune_on_a_fresh_postgres_database_wait_for_it_and_join(
        workdir: Path, postgres_database: str) -> None:  # noqa: F811
    # As the README's "Many workers" shows: both workers crashed in Optuna's schema creation (IntegrityError,
    # CREATE TYPE studydirection), or would have found no study yet.
    env = {"MLTUNE_STORAGE": postgres_database}
    jobs = [mltune(workdir, "tune", str(TINY), "--storage", postgres_database, "--n-trials", "4",
                   "--experiment-name", "fresh", *SLOW_TRIALS, env=env)]
    jobs += [mltune(workdir, "worker", "--study-name", "tiny_digits", "--n-trials", "4", env=env) for _ in range(2)]
    for code, _, stderr in finish_all(jobs):
        assert code == 0, stderr
        assert "Traceback" not in stderr

    study = optuna.load_study(study_name="tiny_digits", storage=open_storage(postgres_database))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert len({t.user_attrs["mltune_worker"] for t in study.trials}) >= 2  # the workers took trials
    runs = child_runs("fresh")
    assert len(runs) == 4 and len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1


def test_two_tunes_at_once_on_a_fresh_tracking_database_make_one_study_and_leave_no_lock_files(
        workdir: Path, storage: str) -> None:
    # MLflow's schema creation raced (alembic: "Online migration expected to match one row"), and each study left
    # its lock files (optuna.log.*.lock) in the working directory.
    args = ["tune", str(TINY), "--storage", storage, "--n-trials", "2", "--experiment-name", "fresh"]
    jobs = [mltune(workdir, *args) for _ in range(2)]
    for code, _, stderr in finish_all(jobs):
        assert code == 0, stderr

    study = optuna.load_study(study_name="tiny_digits", storage=open_storage(storage))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2
    runs = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("fresh").experiment_id])
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1
    assert sorted(workdir.glob("*.lock")) == []


@needs_postgres
def test_workers_on_postgres_and_a_basic_auth_mlflow_server_keep_secrets(
        workdir: Path, postgres_database: str, mlflow_database: str) -> None:  # noqa: F811
    from sqlalchemy.engine import make_url

    password = make_url(postgres_database).password
    assert password
    admin_password = "mlflow-Admin-7c1e"
    server = start_mlflow_server(workdir, mlflow_database, admin_password=admin_password)
    try:
        env = {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_TRACKING_USERNAME": "admin",
               "MLFLOW_TRACKING_PASSWORD": admin_password}
        tune = mltune(workdir, "tune", str(TINY), "--storage", postgres_database, "--n-trials", "20",
                      "--workers", "4", "--experiment-name", "scale", "--promote", env=env)
        code, stdout, stderr = finish(tune)
        assert code == 0, stderr

        study = optuna.load_study(study_name="tiny_digits", storage=open_storage(postgres_database))
        assert len(study.trials) == 20 and {t.state.name for t in study.trials} == {"COMPLETE"}
        assert sorted(t.number for t in study.trials) == list(range(20))
        assert len({t.user_attrs["mltune_worker"] for t in study.trials}) == 4  # four processes shared them

        os.environ.update(env)
        try:
            client = MlflowClient()
            experiment = client.get_experiment_by_name("scale").experiment_id
            runs = client.search_runs([experiment], max_results=1000)
            parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags
                       and r.data.tags.get("mltune.role") != "baseline"]  # the tree beside the study (--promote)
            children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
            assert len(parents) == 1 and len(children) == 20
            assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}

            # Neither password appears in any param, tag, artifact or console line.
            logged: list[str] = [stdout, stderr]
            for run in runs:
                logged += [*run.data.params.values(), *run.data.tags.values()]
                logged += _artifact_texts(client, run.info.run_id, workdir / "download" / run.info.run_id)
            for secret in (password, admin_password):
                assert not [text for text in logged if secret in text]
            assert parents[0].data.tags["mltune.storage"].count("***") == 1
        finally:
            for key in env:
                os.environ.pop(key, None)
    finally:
        server.stop()


@needs_postgres
def test_a_killed_workers_trial_is_failed_and_run_again_on_postgres(workdir: Path, postgres_database: str) -> None:  # noqa: F811
    env = {"MLTUNE_HEARTBEAT_INTERVAL": "1", "MLTUNE_HEARTBEAT_GRACE": "4"}
    code, _, stderr = finish(mltune(workdir, "tune", str(TINY), "--storage", postgres_database, "--n-trials", "1",
                                    "--experiment-name", "beat", *SLOW_TRIALS, env=env))
    assert code == 0, stderr
    worker_args = ["worker", "--study-name", "tiny_digits", "--n-trials", "5", "--storage", postgres_database]
    slow = {**env, "MLTUNE_THREADS": "1"}
    victim_process = mltune(workdir, *worker_args, env=slow)
    victim = wait_for_running_trial(postgres_database, "tiny_digits")
    survivor = mltune(workdir, *worker_args, env=slow)
    victim_process.kill()
    finish(victim_process)
    code, _, stderr = finish(survivor)
    assert code == 0, stderr

    study = optuna.load_study(study_name="tiny_digits", storage=open_storage(postgres_database))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 5 and "RUNNING" not in states
    lost = next(t for t in study.trials if t.number == victim.number)
    assert lost.state.name == "FAIL"
    run = MlflowClient().get_run(lost.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and "its worker stopped" in run.data.tags["mltune.error"]


def _artifact_texts(client: MlflowClient, run_id: str, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    local = Path(client.download_artifacts(run_id, "", str(folder)))
    return [path.read_bytes().decode("utf-8", "replace") for path in local.rglob("*") if path.is_file()]


def test_a_brief_tracking_server_outage_loses_nothing(workdir: Path, storage: str) -> None:
    server = start_mlflow_server(workdir, f"sqlite:///{workdir / 'server.db'}")
    try:
        env = {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
        tune = mltune(workdir, "tune", str(TINY), "--storage", storage, "--n-trials", "3", "--experiment-name",
                      "outage", *SLOW_TRIALS, env=env)
        wait_for_running_trial(storage, "tiny_digits")
        server.stop()
        time.sleep(12)  # the trial ends and tries to write while the server is down
        server.start()
        code, _, stderr = finish(tune)
        assert code == 0, stderr

        os.environ["MLFLOW_TRACKING_URI"] = server.url
        runs = child_runs("outage")
        assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
        client = MlflowClient()
        for run in runs:  # every epoch of every trial landed
            assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == list(range(1, 41))
    finally:
        server.stop()


def test_local_workers_log_to_the_tracking_uri_tune_is_given(workdir: Path, storage: str) -> None:
    # The process's own tracking URI (MLFLOW_TRACKING_URI, set by `workdir`) is not the one `tune` is given.
    from mltune.config.recipe import load_recipe
    from mltune.flows.tune import tune

    given = f"sqlite:///{workdir / 'given.db'}"
    result = tune(load_recipe(TINY), storage=storage, study_name="two", tracking_uri=given, workers=2, n_trials=2)

    assert result.counts == {"COMPLETE": 2}
    runs = MlflowClient(given).search_runs([result.experiment_id])
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 2
    assert not MlflowClient().search_runs([e.experiment_id for e in MlflowClient().search_experiments()])


def test_each_local_worker_samples_its_own_configurations(workdir: Path, storage: str) -> None:
    # With one seed in every worker, trial 0 equalled trial 1 and trial 2 equalled trial 3.
    from mltune.config.recipe import load_recipe
    from mltune.flows.tune import tune

    tune(load_recipe(TINY), storage=storage, study_name="seeds", workers=2, n_trials=4)

    study = optuna.load_study(study_name="seeds", storage=open_storage(storage))
    configurations = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(configurations)) == 4, configurations


def test_a_signal_whose_exception_a_finalizer_swallowed_still_stops_the_study(monkeypatch: Any) -> None:
    """Python runs a signal handler at the main thread's next instruction, which may be in a ``__del__``: the
    exception is then printed as ignored. The signal is kept, and the next epoch raises it again."""
    from mltune.runtime.workers import Interrupted, signals_interrupt, stop_if_interrupted

    class Finalized:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler's Interrupted is raised, and lost, in here

    lost: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: lost.append(unraisable.exc_value))
    with signals_interrupt():
        Finalized()  # finalized at once: nothing refers to it
        assert [str(error) for error in lost] == ["stopped by SIGTERM"]
        with pytest.raises(Interrupted, match="stopped by SIGTERM"):
            stop_if_interrupted()
    stop_if_interrupted()  # the block is over: a later study starts afresh
