"""Where studies live: Optuna storage URLs, the local default, and redaction of secrets for logs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

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
