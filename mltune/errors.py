"""Errors that mltune reports to the user instead of a traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """A recipe, a command-line value or the data does not fit the rules.

    The CLI prints the message and exits with code 2. It is raised before anything trains or writes.
    """


class TrialDiverged(RuntimeError):
    """A trial's training loss became NaN or infinite."""
