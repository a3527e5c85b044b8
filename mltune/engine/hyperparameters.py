"""``keras_tuner.engine.hyperparameters``: ``HyperParameters`` and the classes of what its ``space`` holds."""

from mltune.search.keras_tuner import Boolean, Choice, Fixed, Float, HyperParameters, Int

__all__ = ["Boolean", "Choice", "Fixed", "Float", "HyperParameters", "Int"]
