"""A lock file beside a local file (a journal, an SQLite database) that is removed when the lock is released.

An exclusive ``flock`` serialises processes on one machine; removing the file on release keeps one lock file per
study and model from piling up in the working directory. Removing a lock file is safe only with a check: a process
that waited on the file another one removed holds a lock that no longer guards anything, so after taking the lock
it makes sure the path still names the file it locked, and starts over otherwise.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import IO


class FileLock:
    """An exclusive lock on ``path`` (created when taken, removed when released); not re-entrant."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._held = False

    def try_acquire(self) -> bool:
        """Takes the lock if it is free; returns whether this object holds it now."""
        import fcntl

        if self._held:
            return True
        if self._handle is None:
            self._handle = open(self.path, "a+")  # noqa: SIM115 (held open while waiting and while held)
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not self._still_the_lock():  # its holder removed the file while this one waited on it
            self._close()
            return self.try_acquire()
        self._held = True
        return True

    def acquire(self, *, timeout: float, poll: float = 0.05) -> bool:
        """Waits up to ``timeout`` seconds for the lock; returns whether it was taken."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        """Removes the lock file and releases the lock; does nothing when not held. Also closes a waiter's file."""
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # while still holding it: see the module's docstring
            self._held = False
        self._close()

    def _still_the_lock(self) -> bool:
        assert self._handle is not None
        try:
            return os.stat(self.path).st_ino == os.fstat(self._handle.fileno()).st_ino
        except FileNotFoundError:
            return False

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # also releases the flock
            self._handle = None


def can_lock_beside(path: str) -> bool:
    """Whether a lock file can be made beside ``path``: not in a read-only folder, where nothing is created anyway."""
    return os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


@contextlib.contextmanager
def file_lock(path: str, *, timeout: float = 600.0) -> Iterator[None]:
    """Holds :class:`FileLock` on ``path``; raises TimeoutError when it stayed taken for ``timeout`` seconds."""
    lock = FileLock(path)
    if not lock.acquire(timeout=timeout):
        lock.release()
        raise TimeoutError(f"the lock file {path} stayed taken for {timeout:g}s")
    try:
        yield
    finally:
        lock.release()
