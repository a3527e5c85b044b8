"""KerasTuner's ``keras_tuner.oracles`` by name, for a Tuner subclass given ``oracle=`` as KerasTuner's base Tuner
is (``kt.oracles.BayesianOptimizationOracle(objective=..., max_trials=...)``)."""

from mltune.search.oracles import (
    BayesianOptimization,
    BayesianOptimizationOracle,
    GridSearchOracle,
    Hyperband,
    HyperbandOracle,
    RandomSearch,
    RandomSearchOracle,
)

__all__ = ["BayesianOptimization", "BayesianOptimizationOracle", "GridSearchOracle", "Hyperband", "HyperbandOracle",
           "RandomSearch", "RandomSearchOracle"]
