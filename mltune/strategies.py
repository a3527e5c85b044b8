"""Search strategies: Optuna samplers and pruners built from a recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mltune.recipe import Recipe
from mltune.space import SearchSpace

if TYPE_CHECKING:
    import optuna


def build_sampler(recipe: Recipe) -> optuna.samplers.BaseSampler:
    """The recipe's sampler, seeded with the recipe's seed."""
    import optuna

    spec, seed = recipe.sampler, recipe.seed
    if spec.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.n_startup_trials,
                                          multivariate=spec.multivariate, constant_liar=spec.constant_liar)
    if spec.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.name == "grid":
        return optuna.samplers.GridSampler(SearchSpace.from_recipe(recipe).grid(), seed=seed)
    if spec.name == "gp":
        try:
            import torch  # noqa: F401  (GPSampler needs it; fail here with a hint, not mid-study)
        except ImportError:
            from mltune.errors import ConfigError

            raise ConfigError("sampler.name: 'gp' needs PyTorch; install it with `pip install mltune[gp]`, "
                              "but got no module 'torch'") from None
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=spec.n_startup_trials)
    return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=spec.n_startup_trials)


def build_pruner(recipe: Recipe) -> optuna.pruners.BasePruner:
    """The recipe's pruner; its steps are 1-based epochs."""
    import optuna

    spec = recipe.pruner
    if spec.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.n_startup_trials,
                                           n_warmup_steps=spec.n_warmup_steps)
    if spec.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec.min_resource,
                                                      reduction_factor=spec.reduction_factor)
    if spec.name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=spec.min_resource, max_resource=spec.max_resource,
                                              reduction_factor=spec.reduction_factor)
    return optuna.pruners.NopPruner()
