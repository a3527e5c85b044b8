"""Where studies live: Optuna storage URLs, the local default, and redaction of secrets for logs."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "journal:optuna-journal.log"
"""A journal file in the working directory: no server, safe for several processes on one machine."""

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)", re.IGNORECASE)


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """Opens an Optuna storage.

    Args:
        url: an SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://user:pw@host/db``), ``journal:PATH`` for a
            journal file, or None/empty for :data:`DEFAULT_STORAGE`.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    url = url or DEFAULT_STORAGE
    if url.startswith("journal:"):
        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _RDB_SCHEMES:
        from mltune.errors import ConfigError

        raise ConfigError(f"--storage: must be journal:PATH or a database URL ({', '.join(_RDB_SCHEMES)}), "
                          f"but got {redact(url)!r}")
    return optuna.storages.RDBStorage(url)


def redact(text: str) -> str:
    """Hides passwords in URLs (``scheme://user:secret@host`` becomes ``scheme://user:***@host``)."""
    return _PASSWORD.sub(r"\g<head>***\g<tail>", text)


@contextlib.contextmanager
def promotion_lock(url: str | None, name: str, *, timeout: float = 600.0) -> Iterator[None]:
    """Holds the lock under which a model's registry aliases are read and moved: one promotion at a time.

    The lock lives where the study lives, so every worker and pipeline that shares a storage shares it:
    a PostgreSQL advisory lock or a MySQL named lock for a database storage, an exclusive ``flock`` on a file
    beside a journal file or an SQLite database.

    Raises:
        LockTimeout: the lock stayed taken for ``timeout`` seconds.
    """
    url = url or DEFAULT_STORAGE
    key = f"mltune-promotion:{name}"
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("postgresql", "postgres", "mysql", "mariadb"):
        with _database_lock(url, key, mysql=scheme in ("mysql", "mariadb"), timeout=timeout):
            yield
        return
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
    elif scheme == "sqlite":
        path = url.split(":///", 1)[-1] or "optuna.db"
    else:
        from mltune.errors import ConfigError

        raise ConfigError(f"--storage: promotion locks need a journal file, SQLite, PostgreSQL or MySQL, "
                          f"but got {redact(url)!r}")
    with _file_lock(f"{path}.promotion.lock", timeout=timeout):
        yield


@contextlib.contextmanager
def _file_lock(path: str, *, timeout: float) -> Iterator[None]:
    import fcntl

    with open(path, "a+") as handle:
        _retry(lambda: _try_flock(handle.fileno(), fcntl), path, timeout)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _try_flock(fd: int, fcntl: Any) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _database_lock(url: str, key: str, *, mysql: bool, timeout: float) -> Iterator[None]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    try:
        with engine.connect() as connection:
            if mysql:
                take = sqlalchemy.text("SELECT GET_LOCK(:key, 0)").bindparams(key=key[:64])
                release = sqlalchemy.text("SELECT RELEASE_LOCK(:key)").bindparams(key=key[:64])
            else:
                take = sqlalchemy.text("SELECT pg_try_advisory_lock(:key)").bindparams(key=number)
                release = sqlalchemy.text("SELECT pg_advisory_unlock(:key)").bindparams(key=number)
            _retry(lambda: bool(connection.execute(take).scalar()), redact(url), timeout)
            try:
                yield
            finally:
                connection.execute(release)
    finally:
        engine.dispose()


def _retry(attempt: Callable[[], bool], where: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not attempt():
        if time.monotonic() > deadline:
            from mltune.errors import LockTimeout

            raise LockTimeout(f"the promotion lock at {where} stayed taken for {timeout:g}s; "
                              "another promotion of this model is still running")
        time.sleep(0.2)
