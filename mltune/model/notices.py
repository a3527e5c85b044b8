"""TensorFlow's start-up notices (oneDNN, CUDA drivers, cuInit) kept off the console unless asked for.

``TF_CPP_MIN_LOG_LEVEL=3`` silences what TensorFlow logs once its logging is set up (``E0000 ... cuInit`` when a
model first runs). What its libraries print while they load, before that ("oneDNN custom operations are on",
"Could not find cuda drivers"), ignores the level, so TensorFlow's first import runs with the process's stderr
sent to ``/dev/null``; a Python error from the import still shows.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

VERBOSE_ENV = "MLTUNE_VERBOSE"
"""Set (to anything but empty) by ``mltune --verbose``: TensorFlow's notices are shown."""


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's notices in this process (and the processes it starts) off the console.

    Does nothing with ``--verbose``, when TensorFlow is already imported, or when the user chose a
    ``TF_CPP_MIN_LOG_LEVEL`` below 3 (that level is theirs to keep).
    """
    if os.environ.get(VERBOSE_ENV) or "tensorflow" in sys.modules:
        return
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3") != "3":
        return
    if not any(isinstance(finder, _QuietFirstImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; gives TensorFlow's own spec a loader that runs the import with stderr silenced."""

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if fullname != "tensorflow" or self._finding:
            return None
        self._finding = True  # importlib.util.find_spec below asks every finder again, this one included
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self._loader  # the module keeps its real loader
        with _stderr_silenced():
            self._loader.exec_module(module)


class _Retracing:
    """Drops TensorFlow's "N out of the last M calls to <function ...> triggered tf.function retracing" warning."""

    def filter(self, record: Any) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def no_retracing_warnings() -> Iterator[None]:
    """Without TensorFlow's retracing warning: every trial builds a new model, whose training functions are traced
    anew by design, and after a few trials TensorFlow warns about it at every one (nothing a user should change)."""
    import logging

    logger, quiet = logging.getLogger("tensorflow"), _Retracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
