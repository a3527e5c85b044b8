"""Storages: locks that live beside the study, and passwords kept out of messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltune.errors import ConfigError, LockTimeout
from mltune.runtime.storage import StorageLock, promotion_lock, redact


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
