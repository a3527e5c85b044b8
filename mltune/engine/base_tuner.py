"""``keras_tuner.engine.base_tuner``: mltune has one base tuner."""

from mltune.flows.tuner import Tuner as BaseTuner

__all__ = ["BaseTuner"]
