"""Real servers for the tests that need them: a PostgreSQL database per test and an `mlflow server`.

PostgreSQL itself is Debian's, installed and started by `.ci/run` (or by you), which exports
``MLTUNE_TEST_POSTGRES_URL`` (a role allowed to create databases, e.g.
``postgresql://mltune:PASSWORD@127.0.0.1:5432/postgres``). Each test gets a fresh database in it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ADMIN_URL = os.environ.get("MLTUNE_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not ADMIN_URL, reason="set MLTUNE_TEST_POSTGRES_URL (.ci/run does)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _new_database() -> Iterator[str]:
    """A new, empty database; its URL (with the password) is yielded and the database dropped afterwards."""
    import sqlalchemy

    assert ADMIN_URL
    name = f"mltune_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the test's Optuna storage."""
    with _new_database() as url:
        yield url


@pytest.fixture
def mlflow_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the backend store of the test's `mlflow server`."""
    with _new_database() as url:
        yield url


@dataclass
class MlflowServer:
    """An `mlflow server` process with a PostgreSQL backend store and served artifacts."""

    url: str
    process: subprocess.Popen[bytes]
    command: list[str]
    env: dict[str, str]
    log: Path

    def log_tail(self) -> str:
        """The end of the server's log (for a failing test's message)."""
        return f"mlflow server log ({self.log}):\n{self.log.read_text(errors='replace')[-4000:]}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def start(self) -> None:
        """Starts (again) on the same port, and waits until it answers."""
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start:\n{self.log.read_text()[-3000:]}") from None
                time.sleep(0.5)


def start_mlflow_server(folder: Path, backend_url: str, *, admin_password: str | None = None) -> MlflowServer:
    """Starts `mlflow server` on a free loopback port; with ``admin_password``, behind basic auth."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", backend_url, "--artifacts-destination", str(folder / "artifacts")]
    env = {**os.environ}
    if admin_password:
        config = folder / "basic_auth.ini"
        config.write_text("[mlflow]\ndefault_permission = READ\n"
                          f"database_uri = sqlite:///{folder / 'auth.db'}\n"
                          f"admin_username = admin\nadmin_password = {admin_password}\n"
                          "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = uuid.uuid4().hex
        command += ["--app-name", "basic-auth"]
    server = MlflowServer(f"http://127.0.0.1:{port}", None, command, env, folder / "mlflow-server.log")  # type: ignore[arg-type]
    server.start()
    return server
