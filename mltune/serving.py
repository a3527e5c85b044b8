"""Where mltune 0.1.0 kept its pyfunc model class: registered models pickled it under this name, so it stays."""

from __future__ import annotations

from mltune.tasks import EPSILON, Encoding
from mltune.tracking.pyfunc import KerasTabularModel

__all__ = ["EPSILON", "Encoding", "KerasTabularModel"]
