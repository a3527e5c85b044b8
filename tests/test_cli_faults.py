"""Stores that cannot be reached or used: one message naming what and why, the documented exit code, no traceback
and no password, whichever library failed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltune.cli import main
from mltune.errors import StorageError
from mltune.runtime.storage import promotion_lock
from mltune.tracking.registry import Registry

from .conftest import TINY
from .servers import free_port

SECRET = "s3cret-Pw"


def _nowhere(scheme: str = "postgresql+psycopg", database: str = "optuna") -> str:
    """A PostgreSQL URL of the usual shape at a loopback port where nothing listens."""
    return f"{scheme}://mltune:{SECRET}@127.0.0.1:{free_port()}/{database}"


def _clean(output: str) -> None:
    assert "Traceback" not in output, output
    assert SECRET not in output, output


STORAGE_COMMANDS = {
    "tune": ["tune", str(TINY), "-q"],
    "retune": ["retune", str(TINY), "-q"],
    "worker": ["worker", "--study-name", "tiny_digits", "-q"],
    "studies": ["studies"],
    "report": ["report", "--study-name", "tiny_digits"],
    "promote": ["promote", "--study-name", "tiny_digits"],
}


@pytest.mark.parametrize("command", STORAGE_COMMANDS)
def test_an_unreachable_postgresql_storage_exits_4_with_a_message(workdir: Path, command: str) -> None:
    url = _nowhere()
    result = CliRunner().invoke(main, [*STORAGE_COMMANDS[command], "--storage", url])
    assert result.exit_code == 4, result.output
    assert f"--storage: cannot reach the database {url.replace(SECRET, '***')}: " in result.output
    assert "Connection refused" in result.output
    _clean(result.output)


def test_a_promotion_lock_in_an_unreachable_database_is_a_storage_error() -> None:
    url = _nowhere()
    refused = r"--storage: cannot reach the database .*:\*\*\*@.*Connection refused"
    with pytest.raises(StorageError, match=refused), promotion_lock(url, "tiny-digits"):
        pass  # pragma: no cover


def test_an_unreachable_storage_is_one_json_object_with_output_json(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["studies", "--storage", _nowhere(), "--output", "json"])
    assert result.exit_code == 4, result.output
    assert '"error": "storage"' in result.output and '"exit_code": 4' in result.output
    _clean(result.output)


@pytest.mark.parametrize(
    ("storage", "why"),
    [
        ("journal:{workdir}/no/such/dir/j.log", "its directory {workdir}/no/such/dir does not exist"),
        ("journal:/proc/j.log", "it cannot be opened or created there"),
        ("sqlite:////proc/x/optuna.db", "its directory /proc/x does not exist"),
        ("sqlite:///{workdir}/no/dir/optuna.db", "its directory {workdir}/no/dir does not exist"),
    ],
)
def test_a_storage_file_that_tune_cannot_make_is_a_config_error(workdir: Path, storage: str, why: str) -> None:
    storage, why = storage.format(workdir=workdir), why.format(workdir=workdir)
    path = storage.removeprefix("journal:").removeprefix("sqlite:///")
    result = CliRunner().invoke(main, [*STORAGE_COMMANDS["tune"], "--storage", storage])
    assert result.exit_code == 2, result.output
    assert f"--storage: cannot use the file {path!r}: {why}" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in workdir.iterdir()) == []  # nothing written


def _mltune(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mltune", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


@pytest.mark.slow
def test_an_unreachable_postgresql_tracking_uri_exits_4_at_once(workdir: Path) -> None:
    uri = _nowhere("postgresql", "mlflow")
    started = time.monotonic()
    done = _mltune("promote", "--run-id", "0123abcd", env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 4, done.stderr
    assert time.monotonic() - started < 30
    assert f"cannot connect to the MLflow tracking URI {uri.replace(SECRET, '***')}: " in done.stderr
    _clean(done.stderr + done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["promote", "--run-id", "nonexistent"], ["rollback", "tiny-digits"]])
def test_an_unreachable_tracking_server_exits_4_not_no_such_run_or_alias(workdir: Path, command: list[str]) -> None:
    uri = f"http://user:{SECRET}@127.0.0.1:{free_port()}"
    done = _mltune(*command, env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 4, done.stderr
    assert "cannot connect to the MLflow tracking URI http://user:***@127.0.0.1:" in done.stderr
    _clean(done.stderr + done.stdout)


@pytest.fixture
def not_mlflow() -> Iterator[int]:
    """A loopback port where something accepts connections and closes them without a word (no MLflow)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


def test_mlflow_error_text_is_reported_as_a_tracking_error_without_its_password(
        workdir: Path, not_mlflow: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:{SECRET}@127.0.0.1:{not_mlflow}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for command in (["promote", "--run-id", "nonexistent"], ["rollback", "tiny-digits"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 4, result.output  # not "no such run" (2), not "no alias previous" (6)
        assert f"mltune: error: MLflow: API request to http://user:***@127.0.0.1:{not_mlflow}/api/" in result.output
        _clean(result.output)


def test_a_missing_alias_is_none_but_a_failing_server_is_an_error(workdir: Path, not_mlflow: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert Registry(MlflowClient()).version("no-such-model", "previous") is None
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(MlflowException, match="API request to"):
        Registry(MlflowClient(f"http://127.0.0.1:{not_mlflow}")).version("no-such-model", "previous")


def test_train_from_a_run_that_does_not_exist_is_a_config_error(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["train", str(TINY), "--from-run", "deadbeef"])
    assert result.exit_code == 2, result.output
    assert "MLFLOW_TRACKING_URI: no MLflow database at" in result.output  # and none is made
    assert not (workdir / "mlflow.db").exists()

    MlflowClient().search_experiments()  # the tracking database exists, without that run
    result = CliRunner().invoke(main, ["train", str(TINY), "--from-run", "deadbeef"])
    assert result.exit_code == 2, result.output
    assert f"--from-run: no such run in sqlite:///{workdir / 'mlflow.db'}, but got 'deadbeef'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_what_mlflow_prints_about_a_run_shows_no_password(workdir: Path) -> None:
    from .servers import start_mlflow_server

    server = start_mlflow_server(workdir, f"sqlite:///{workdir / 'server.db'}")  # it ignores the user info
    try:
        uri = server.url.replace("http://", f"http://admin:{SECRET}@")
        done = _mltune("train", str(TINY), "--set", "search.learning_rate=0.01", "--set", "search.n_layers=1",
                       "--set", "search.units=16", "--set", "search.optimizer=adam",
                       env={"MLFLOW_TRACKING_URI": uri}, timeout=300)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "View run train-tiny_digits at: http://admin:***@127.0.0.1:" in done.stdout + done.stderr
    _clean(done.stdout + done.stderr)
