"""Search strategies: Optuna samplers and pruners built from a recipe, by name.

The recipe's spec classes (:mod:`mltune.config.recipe`) declare what each name accepts; these tables say what each
name builds. A name missing from a table is a configuration error, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mltune.config.recipe import PrunerSpec, Recipe, SamplerSpec
from mltune.errors import ConfigError
from mltune.search.space import SearchSpace

if TYPE_CHECKING:
    import optuna


def _tpe(spec: Any, seed: int | None, grid: Grid) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.n_startup_trials,
                                      multivariate=spec.multivariate, constant_liar=spec.constant_liar)


def _gp(spec: Any, seed: int | None, grid: Grid) -> optuna.samplers.BaseSampler:
    import optuna

    try:
        import torch  # noqa: F401  (GPSampler needs it; fail here with a hint, not mid-study)
    except ImportError:
        raise ConfigError("sampler.name: 'gp' needs PyTorch; install it with `pip install mltune[gp]`, "
                          "but got no module 'torch'") from None
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=spec.n_startup_trials)


def _grid(spec: Any, seed: int | None, grid: Grid) -> optuna.samplers.BaseSampler:
    import optuna

    if grid is None:
        raise ConfigError("sampler: 'grid' needs a search space declared in advance (a recipe's `search`), but "
                          "got a build_model(hp) whose space is defined by running it; choose tpe, random, gp "
                          "or cmaes")
    return optuna.samplers.GridSampler(grid(), seed=seed)


Grid = Callable[[], dict[str, list[Any]]] | None
"""The grid sampler's values, when the search space is known in advance."""
SamplerFactory = Callable[[Any, "int | None", Grid], "optuna.samplers.BaseSampler"]


def _samplers() -> dict[str, SamplerFactory]:
    import optuna

    return {
        "tpe": _tpe,
        "random": lambda spec, seed, grid: optuna.samplers.RandomSampler(seed=seed),
        "grid": _grid,
        "gp": _gp,
        "cmaes": lambda spec, seed, grid: optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=spec.n_startup_trials),
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
        "wilcoxon": _wilcoxon,
    }


def _wilcoxon(spec: Any) -> optuna.pruners.BasePruner:
    import warnings

    import optuna

    with warnings.catch_warnings():  # experimental since Optuna 3.6; the recipe key is ours to keep
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.WilcoxonPruner(p_threshold=spec.p_threshold, n_startup_steps=spec.n_startup_steps)


def build_sampler(recipe: Recipe, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The recipe's sampler, seeded with ``seed`` (the recipe's seed unless given: see ``worker_seed``)."""
    factory = _lookup(_samplers(), "sampler.name", recipe.sampler.name)
    return factory(recipe.sampler, recipe.seed if seed is None else seed,
                   lambda: SearchSpace.from_recipe(recipe).grid())


def build_pruner(recipe: Recipe) -> optuna.pruners.BasePruner:
    """The recipe's pruner; its steps are 1-based epochs."""
    return _lookup(_pruners(), "pruner.name", recipe.pruner.name)(recipe.pruner)


def sampler_named(sampler: Any, *, seed: int | None) -> optuna.samplers.BaseSampler:
    """A sampler by name with a recipe's defaults for it (``"tpe"``, ``"random"``, ...), or a recipe's sampler
    mapping (``{"name": "tpe", "n_startup_trials": 5}``); an Optuna sampler is taken as it is."""
    import optuna

    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    spec = _spec(SamplerSpec, "sampler", sampler)
    return _lookup(_samplers(), "sampler", spec.name)(spec, seed, None)


def pruner_named(pruner: Any) -> optuna.pruners.BasePruner:
    """A pruner by name (``"hyperband"``, ``"median"``, ``"none"``, ...) or mapping; an Optuna pruner as it is.
    Its steps are 1-based epochs."""
    import optuna

    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner is None:
        pruner = "none"
    spec = _spec(PrunerSpec, "pruner", pruner)
    return _lookup(_pruners(), "pruner", spec.name)(spec)


def _spec(kind: Any, where: str, value: Any) -> Any:
    """``value`` (a name or a mapping) validated as a recipe would validate it."""
    from pydantic import TypeAdapter, ValidationError

    raw = {"name": value} if isinstance(value, str) else value
    try:
        return TypeAdapter(kind).validate_python(raw)
    except ValidationError as error:
        first = error.errors()[0]
        ctx = first.get("ctx") or {}
        if first["type"] == "union_tag_invalid":
            raise ConfigError(f"{where}: must be one of {ctx.get('expected_tags')}, but got {ctx.get('tag')!r}"
                              ) from None
        loc = ".".join(str(p) for p in first["loc"][1:])
        raise ConfigError(f"{where}.{loc}: {first['msg']}, but got {first.get('input')!r}") from None


def _lookup(table: dict[str, Any], where: str, name: str) -> Any:
    if name not in table:
        raise ConfigError(f"{where}: must be one of {', '.join(table)}, but got {name!r}")
    return table[name]
