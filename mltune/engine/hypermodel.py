"""``keras_tuner.engine.hypermodel``."""

from mltune.search.keras_tuner import HyperModel

__all__ = ["HyperModel"]
