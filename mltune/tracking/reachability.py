"""Whether the tracking server or database answers, asked once before MLflow's own retries begin.

MLflow retries an unreachable tracking database for about 100 s and an HTTP server for about 4 minutes before it
fails with a traceback. A command that cannot reach its tracking URI at all should say so at once; retries stay
for the faults that come and go while a study runs.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from mltune.config.redaction import redact
from mltune.errors import TrackingError

PROBE_TIMEOUT_S = 10.0
"""How long the first connection to the tracking URI may take."""

_SERVER_DATABASES = ("postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")
_TIMEOUT_ARGUMENT = {"postgresql": "connect_timeout", "postgres": "connect_timeout", "mysql": "connect_timeout",
                     "mariadb": "connect_timeout"}
_reached: set[str] = set()


def check_reachable(tracking_uri: str) -> None:
    """Raises :class:`TrackingError` when nothing answers at an HTTP or database-server tracking URI.

    A local URI (SQLite, files) and any other scheme are left to MLflow. Each URI is checked once per process.
    """
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower()
    if tracking_uri in _reached or scheme not in ("http", "https", *_SERVER_DATABASES):
        return
    try:
        if scheme in ("http", "https"):
            _connect_http(tracking_uri, scheme)
        else:
            _connect_database(tracking_uri, scheme)
    except TrackingError:
        raise
    except Exception as error:  # a refused, unresolved or silent host; a database refusing the login
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise TrackingError(f"cannot connect to the MLflow tracking URI {redact(tracking_uri)}: {redact(reason)} "
                            "(check MLFLOW_TRACKING_URI)") from None
    _reached.add(tracking_uri)


def _connect_http(uri: str, scheme: str) -> None:
    parts = urlsplit(uri)
    port = parts.port or (443 if scheme == "https" else 80)
    with socket.create_connection((parts.hostname or "localhost", port), timeout=PROBE_TIMEOUT_S):
        pass


def _connect_database(uri: str, scheme: str) -> None:
    import sqlalchemy

    argument = _TIMEOUT_ARGUMENT.get(scheme)
    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args={argument: int(PROBE_TIMEOUT_S)} if argument else {})
    try:
        engine.connect().close()
    finally:
        engine.dispose()
