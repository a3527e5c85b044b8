"""Storages: locks that live beside the study, and passwords kept out of messages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mltune.errors import ConfigError, LockTimeout
from mltune.runtime.storage import StorageLock, promotion_lock, redact

from .jobs import finish_all, with_stacks
from .servers import needs_postgres, postgres_database  # noqa: F401


def test_a_file_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'j.log'}"
    first, second = StorageLock(url, "model"), StorageLock(url, "model")
    first.acquire()
    with pytest.raises(LockTimeout, match=r"the lock 'model' at journal:.* stayed taken for 0.2s"):
        second.acquire(timeout=0.2)
    first.release()
    second.acquire(timeout=1)  # free again
    second.close()
    first.close()
    with StorageLock(url, "other"), promotion_lock(url, "model", timeout=1):
        pass  # different names do not block each other


def test_a_storage_without_a_lock_is_a_config_error_without_its_password() -> None:
    with pytest.raises(ConfigError) as error:
        StorageLock("mssql://ada:s3cret@db/optuna", "model")
    assert str(error.value) == ("--storage: locks need a journal file, SQLite, PostgreSQL or MySQL, but got "
                                "'mssql://ada:***@db/optuna'")


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://ada:p%40ss@db:5432/optuna") == "postgresql://ada:***@db:5432/optuna"
    assert redact("journal:optuna-journal.log") == "journal:optuna-journal.log"


def _at_once(imports: str, work: str, *args: str, processes: int) -> list[subprocess.CompletedProcess[str]]:
    """Runs ``work`` in several Python processes that all start it at the same moment, after ``imports``."""
    start = time.time() + 10.0  # time for every process to import what it needs first
    code = f"import sys, time\n{imports}\ntime.sleep(max(0.0, {start} - time.time()))\n{work}"
    env = with_stacks({**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    jobs = [subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for _ in range(processes)]
    return [subprocess.CompletedProcess(job.args, *done) for job, done in
            zip(jobs, finish_all(jobs, timeout=300), strict=True)]


OPEN_STORAGE = ("import optuna\nfrom mltune.runtime.storage import open_storage",
                "print(optuna.get_all_study_names(open_storage(sys.argv[1])))")


@pytest.mark.slow
@needs_postgres
def test_processes_opening_a_fresh_postgres_storage_at_once_all_get_it(postgres_database: str) -> None:  # noqa: F811
    # Optuna creates its tables (and PostgreSQL types) when it opens a storage; several at once raced
    # (IntegrityError on pg_type_typname_nsp_index, "CREATE TYPE studydirection").
    for done in _at_once(*OPEN_STORAGE, postgres_database, processes=4):
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_processes_opening_a_fresh_sqlite_storage_at_once_all_get_it(tmp_path: Path) -> None:
    for done in _at_once(*OPEN_STORAGE, f"sqlite:///{tmp_path / 'optuna.db'}", processes=3):
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optuna.db"]  # no lock file left behind


@pytest.mark.slow
def test_processes_opening_a_fresh_sqlite_tracking_database_at_once_all_get_it(tmp_path: Path) -> None:
    # MLflow creates its schema (alembic migrations) when a client first opens a SQLite database; two at once
    # raced ("Online migration expected to match one row").
    runs = _at_once("from mltune.tracking.runs import Tracker", "print(Tracker(sys.argv[1]).experiment_id('x'))",
                    f"sqlite:///{tmp_path / 'mlflow.db'}", processes=3)
    for done in runs:
        assert done.returncode == 0, done.stderr
    assert len({done.stdout for done in runs}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]


def test_lock_files_are_removed_when_released(tmp_path: Path) -> None:
    # One lock file per study and model piled up beside the journal (21 after a few studies).
    url = f"journal:{tmp_path / 'j.log'}"
    for name in ("a", "b", "c"):
        lock = StorageLock(url, name)
        lock.acquire(timeout=1)
        assert len(list(tmp_path.glob("*.lock"))) == 1
        lock.release()
        lock.acquire(timeout=1)  # again, after an early release
        lock.close()
        with promotion_lock(url, name, timeout=1):
            pass
    assert list(tmp_path.iterdir()) == []


def test_a_waiter_on_a_removed_lock_file_does_not_share_the_lock(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'j.log'}"
    holder, waiter = StorageLock(url, "m"), StorageLock(url, "m")
    holder.acquire(timeout=1)
    with pytest.raises(LockTimeout):
        waiter.acquire(timeout=0.1)  # the waiter has the holder's lock file open now
    holder.close()  # removes that file
    third = StorageLock(url, "m")
    third.acquire(timeout=1)  # a new lock file
    with pytest.raises(LockTimeout):
        waiter.acquire(timeout=0.3)  # the old file is free, but it is no longer the lock
    third.close()
    waiter.acquire(timeout=1)
    waiter.close()
    assert list(tmp_path.iterdir()) == []
