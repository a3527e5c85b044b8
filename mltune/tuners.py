"""KerasTuner's ``keras_tuner.tuners`` by name, so that ``from keras_tuner.tuners import RandomSearch`` becomes
``from mltune.tuners import RandomSearch``."""

from mltune.flows.tuner import BayesianOptimization, GridSearch, Hyperband, RandomSearch, Tuner

__all__ = ["BayesianOptimization", "GridSearch", "Hyperband", "RandomSearch", "Tuner"]
