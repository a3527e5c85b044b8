"""``keras_tuner.engine.objective``."""

from mltune.search.keras_tuner import Objective

__all__ = ["Objective"]
