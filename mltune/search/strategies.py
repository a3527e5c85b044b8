"""Search strategies: Optuna samplers and pruners built from a recipe, by name.

The recipe's spec classes (:mod:`mltune.config.recipe`) declare what each name accepts; these tables say what each
name builds. A name missing from a table is a configuration error, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mltune.config.recipe import Recipe
from mltune.errors import ConfigError
from mltune.search.space import SearchSpace

if TYPE_CHECKING:
    import optuna


def _tpe(recipe: Recipe, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    spec: Any = recipe.sampler
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.n_startup_trials,
                                      multivariate=spec.multivariate, constant_liar=spec.constant_liar)


def _gp(recipe: Recipe, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    try:
        import torch  # noqa: F401  (GPSampler needs it; fail here with a hint, not mid-study)
    except ImportError:
        raise ConfigError("sampler.name: 'gp' needs PyTorch; install it with `pip install mltune[gp]`, "
                          "but got no module 'torch'") from None
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=recipe.sampler.n_startup_trials)  # type: ignore[union-attr]


def _samplers() -> dict[str, Callable[[Recipe, int], optuna.samplers.BaseSampler]]:
    import optuna

    return {
        "tpe": _tpe,
        "random": lambda recipe, seed: optuna.samplers.RandomSampler(seed=seed),
        "grid": lambda recipe, seed: optuna.samplers.GridSampler(SearchSpace.from_recipe(recipe).grid(), seed=seed),
        "gp": _gp,
        "cmaes": lambda recipe, seed: optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=recipe.sampler.n_startup_trials),  # type: ignore[union-attr]
    }


def _pruners() -> dict[str, Callable[[Any], optuna.pruners.BasePruner]]:
    import optuna

    return {
        "none": lambda spec: optuna.pruners.NopPruner(),
        "median": lambda spec: optuna.pruners.MedianPruner(n_startup_trials=spec.n_startup_trials,
                                                           n_warmup_steps=spec.n_warmup_steps),
        "successive_halving": lambda spec: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=spec.min_resource, reduction_factor=spec.reduction_factor),
        "hyperband": lambda spec: optuna.pruners.HyperbandPruner(
            min_resource=spec.min_resource, max_resource=spec.max_resource, reduction_factor=spec.reduction_factor),
    }


def build_sampler(recipe: Recipe, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The recipe's sampler, seeded with ``seed`` (the recipe's seed unless given: see ``worker_seed``)."""
    return _lookup(_samplers(), "sampler.name", recipe.sampler.name)(recipe, recipe.seed if seed is None else seed)


def build_pruner(recipe: Recipe) -> optuna.pruners.BasePruner:
    """The recipe's pruner; its steps are 1-based epochs."""
    return _lookup(_pruners(), "pruner.name", recipe.pruner.name)(recipe.pruner)


def _lookup(table: dict[str, Any], where: str, name: str) -> Any:
    if name not in table:
        raise ConfigError(f"{where}: must be one of {', '.join(table)}, but got {name!r}")
    return table[name]
