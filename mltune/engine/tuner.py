"""``keras_tuner.engine.tuner``."""

from mltune.flows.tuner import Tuner

__all__ = ["Tuner"]
