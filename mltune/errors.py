"""Errors that mltune reports to the user instead of a traceback; each kind has its own exit code."""

from __future__ import annotations


class MltuneError(Exception):
    """An error the CLI reports as one message, exiting with :attr:`exit_code`."""

    exit_code = 1
    kind = "error"


class ConfigError(MltuneError, ValueError):
    """A recipe, a command-line value or the data does not fit the rules.

    Raised before anything trains or writes. Exit code 2.
    """

    exit_code = 2
    kind = "config"


class NoCompleteTrial(MltuneError):
    """The study has no completed trial, so there is no model to promote. Exit code 3."""

    exit_code = 3
    kind = "no_complete_trial"


class TrackingError(MltuneError):
    """The MLflow tracking server or model registry refused or could not be reached. Exit code 4."""

    exit_code = 4
    kind = "tracking"


class StorageError(MltuneError):
    """The Optuna storage's database refused or could not be reached. Exit code 4, as for tracking."""

    exit_code = 4
    kind = "storage"


class LockTimeout(MltuneError):
    """Another promotion held the model's promotion lock for too long. Exit code 5."""

    exit_code = 5
    kind = "lock_timeout"


class NothingToRollBack(MltuneError):
    """``mltune rollback`` found no version with alias ``previous``. Exit code 6."""

    exit_code = 6
    kind = "nothing_to_roll_back"


class TrialDiverged(RuntimeError):
    """A trial's training loss became NaN or infinite."""


class TrialError(RuntimeError):
    """A user's model could not be built or trained in a trial; the message names the trial and the cause."""


class FailedTrialError(RuntimeError):
    """KerasTuner's: raised by a user's ``build_model``, ``fit`` or ``run_trial`` to fail the trial (recorded as
    failed with its message); the search goes on."""


class FatalError(Exception):
    """KerasTuner's: raised by a user's ``build_model``, ``fit`` or ``run_trial`` to stop the search; the trial is
    recorded as failed, and ``search`` raises it."""


class FatalValueError(FatalError, ValueError):
    """KerasTuner's :class:`FatalError` that is a ``ValueError``."""


class FatalTypeError(FatalError, TypeError):
    """KerasTuner's :class:`FatalError` that is a ``TypeError``."""


class FatalRuntimeError(FatalError, RuntimeError):
    """KerasTuner's :class:`FatalError` that is a ``RuntimeError``."""


class SearchFailed(MltuneError, RuntimeError):
    """A :class:`~mltune.flows.tuner.Tuner` search stopped: too many trials in a row failed. Exit code 1."""

    kind = "search_failed"


_NOISE = ("[SQL:", "[parameters:", "(Background on this error", "(raised as a result of Query-invoked autoflush")


def plain_message(text: str) -> str:
    """A library's error text without SQLAlchemy's statement, parameters and hints (``[SQL: ...]``), which
    MLflow and Optuna pass on: what happened, for the console."""
    return "\n".join(line for line in text.strip().splitlines() if not line.lstrip().startswith(_NOISE))
