"""``keras_tuner.engine.hyperparameters``."""

from mltune.search.keras_tuner import HyperParameters

__all__ = ["HyperParameters"]
