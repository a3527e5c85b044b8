"""KerasTuner's older import paths (``keras_tuner.engine.*``), so that ``from keras_tuner.engine.tuner import Tuner``
becomes ``from mltune.engine.tuner import Tuner`` and ``kt.engine.tuner.Tuner`` works on ``import mltune as kt``."""

from mltune.engine import base_tuner, hypermodel, hyperparameters, objective, trial, tuner

__all__ = ["base_tuner", "hypermodel", "hyperparameters", "objective", "trial", "tuner"]
