"""Where studies live: Optuna storage URLs, the local default, and the locks that live in a storage."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mltune.config.redaction import redact
from mltune.errors import ConfigError, LockTimeout, StorageError
from mltune.locks import FileLock, can_lock_beside

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "journal:optuna-journal.log"
"""A journal file in the working directory: no server, safe for several processes on one machine."""

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")


HEARTBEAT_INTERVAL_S = int(os.environ.get("MLTUNE_HEARTBEAT_INTERVAL", "10"))
"""A database storage records each running trial's heartbeat this often (seconds)."""
GRACE_PERIOD_S = int(os.environ.get("MLTUNE_HEARTBEAT_GRACE", "30"))
"""A running trial whose heartbeat is older than this is failed (and queued again) by another worker."""


def open_storage(url: str | None, *,
                 on_lost_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
                 ) -> optuna.storages.BaseStorage:
    """Opens an Optuna storage.

    Args:
        url: an SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://user:pw@host/db``), ``journal:PATH`` for a
            journal file, or None/empty for :data:`DEFAULT_STORAGE`.
        on_lost_trial: for a database storage, called with each trial whose worker stopped sending heartbeats
            (killed, lost its machine) after Optuna failed it.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    url = url or DEFAULT_STORAGE
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        try:
            return JournalStorage(JournalFileBackend(path))
        except OSError as error:
            raise ConfigError(_unusable_file(url, path, error.strerror or str(error))) from None
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _RDB_SCHEMES:
        raise ConfigError(f"--storage: must be journal:PATH or a database URL ({', '.join(_RDB_SCHEMES)}), "
                          f"but got {redact(url)!r}")
    with storage_errors(url), _schema_lock(url, scheme), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats, since Optuna 2.9
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL_S,
                                          grace_period=GRACE_PERIOD_S, heartbeat_stale_trial_callback=on_lost_trial)


def existing_study(study_name: str, storage: str | None) -> optuna.Study:
    """A study to promote, looked up without creating its storage's journal or SQLite file when that is missing.

    Raises:
        ConfigError: no such study, naming the storage searched (its password masked).
    """
    import optuna

    missing = f"--study-name: no such study in {redact(storage or DEFAULT_STORAGE)}, but got {study_name!r}"
    path = local_file(storage)
    if path is not None and not os.path.exists(path):
        raise ConfigError(f"{missing} (there is no file {path!r}; give --storage where it lives)")
    try:
        return optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise ConfigError(f"{missing} (give --storage where it lives)") from None


def _schema_lock(url: str, scheme: str) -> contextlib.AbstractContextManager[Any]:
    """Opening a database storage creates Optuna's tables when they are missing, and processes that do it at once
    (a `tune` and its workers on a fresh database) collide: they do it one at a time."""
    path = local_file(url)
    if scheme in ("postgresql", "postgres", "mysql", "mariadb") or (path is not None and can_lock_beside(path)):
        return StorageLock(url, "mltune-schema")
    return contextlib.nullcontext()


def local_file(url: str | None) -> str | None:
    """The file a journal or SQLite storage lives in (None for a database server or an in-memory database)."""
    url = url or DEFAULT_STORAGE
    if url.startswith("journal:"):
        return url.removeprefix("journal:")
    if url.split(":", 1)[0].split("+", 1)[0].lower() != "sqlite" or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turns a database storage that cannot be opened into a message naming it (its password hidden).

    An SQLite file that cannot be opened is a :class:`ConfigError` (the path is wrong); a database server that
    refuses or cannot be reached is a :class:`StorageError` (exit code 4, like an unreachable tracking server).
    """
    import sqlalchemy.exc

    try:
        yield
    except sqlalchemy.exc.OperationalError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if url.split(":", 1)[0].split("+", 1)[0].lower() == "sqlite":
            if "unable to open" not in reason:
                raise
            path = sqlalchemy.engine.make_url(url).database or ""
            raise ConfigError(_unusable_file(url, path, reason)) from None
        raise StorageError(f"--storage: cannot reach the database {redact(url)}: {redact(reason)}") from None


def _unusable_file(url: str, path: str, reason: str) -> str:
    """Why the file of a journal or SQLite storage cannot be opened or created, for the message."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        why = f"its directory {folder} does not exist"
    elif not os.access(folder, os.W_OK):
        why = f"its directory {folder} is not writable"
    else:
        why = f"it cannot be opened or created there ({reason})"
    return f"--storage: cannot use the file {path!r}: {why}, but got {redact(url)!r}"


class StorageLock:
    """An exclusive lock that lives where a study lives, so that every process sharing the storage shares it.

    A PostgreSQL advisory lock or a MySQL named lock for a database storage; an exclusive ``flock`` on a file
    beside a journal file or an SQLite database, removed when released (:class:`mltune.locks.FileLock`), so lock
    files do not pile up. ``release`` may be called early and more than once.
    """

    def __init__(self, url: str | None, name: str) -> None:
        url = url or DEFAULT_STORAGE
        self.where = redact(url)
        self.key = name
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        self._engine: Any = None
        self._connection: Any = None
        self._file: FileLock | None = None
        self._held = False
        if scheme in ("postgresql", "postgres", "mysql", "mariadb"):
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
            self._url = url
            self._mysql = scheme in ("mysql", "mariadb")
            self._number = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        elif url.startswith("journal:") or scheme == "sqlite":
            path = local_file(url)
            digest = hashlib.sha256(name.encode()).hexdigest()[:12]
            self._file = FileLock(f"{path or 'optuna.db'}.{digest}.lock")
        else:
            raise ConfigError(f"--storage: locks need a journal file, SQLite, PostgreSQL or MySQL, "
                              f"but got {self.where!r}")

    def acquire(self, *, timeout: float = 600.0) -> None:
        """Waits for the lock.

        Raises:
            LockTimeout: the lock stayed taken for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not self._try():
            if time.monotonic() > deadline:
                raise LockTimeout(f"the lock {self.key!r} at {self.where} stayed taken for {timeout:g}s")
            time.sleep(0.05)
        self._held = True

    def release(self) -> None:
        if self._file is not None:
            self._file.release()  # also closes the file a waiter held open
        if not self._held:
            return
        self._held = False
        if self._engine is not None:
            self._connection.execute(self._statement("RELEASE_LOCK", "pg_advisory_unlock"))
            self._connection.commit()

    def close(self) -> None:
        """Releases the lock and whatever holds it open (the database connection, the lock file)."""
        self.release()
        if self._connection is not None:
            self._connection.close()
            self._engine.dispose()
            self._connection = None

    def __enter__(self) -> StorageLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _try(self) -> bool:
        if self._engine is not None:
            if self._connection is None:
                with storage_errors(self._url):
                    self._connection = self._engine.connect()
            taken = self._connection.execute(self._statement("GET_LOCK", "pg_try_advisory_lock")).scalar()
            self._connection.commit()
            return bool(taken)
        assert self._file is not None
        return self._file.try_acquire()

    def _statement(self, mysql: str, postgres: str) -> Any:
        import sqlalchemy

        if self._mysql:
            arguments = "(:key, 0)" if mysql == "GET_LOCK" else "(:key)"
            return sqlalchemy.text(f"SELECT {mysql}{arguments}").bindparams(key=self.key[:64])
        return sqlalchemy.text(f"SELECT {postgres}(:key)").bindparams(key=self._number)


@contextlib.contextmanager
def promotion_lock(url: str | None, name: str, *, timeout: float = 600.0) -> Iterator[None]:
    """Holds the lock under which a model's registry aliases are read and moved: one promotion at a time.

    Raises:
        LockTimeout: another promotion held it for ``timeout`` seconds.
    """
    lock = StorageLock(url, f"mltune-promotion:{name}")
    try:
        lock.acquire(timeout=timeout)
        yield
    finally:
        lock.close()
