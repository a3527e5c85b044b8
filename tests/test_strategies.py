"""Samplers and pruners built from a recipe, and tiny in-memory studies that use them."""

from __future__ import annotations

import sys
from typing import Any

import optuna
import pytest

from mltune.config.recipe import Recipe, load_recipe
from mltune.errors import ConfigError
from mltune.search.space import SearchSpace
from mltune.search.strategies import build_pruner, build_sampler

from .conftest import TINY

SAMPLERS = {
    "grid": optuna.samplers.GridSampler,
    "random": optuna.samplers.RandomSampler,
    "tpe": optuna.samplers.TPESampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
}
PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
GRID_READY = ("search.learning_rate.grid=[0.001, 0.01]", "search.momentum.step=0.3")
STEPS = 9
N_TRIALS = 20


def tiny(sampler: str = "random", pruner: str = "none", *overrides: str) -> Recipe:
    extra = GRID_READY if sampler.startswith("grid") or "name: grid" in sampler else ()
    return load_recipe(TINY, [f"sampler={sampler}", f"pruner={pruner}", *extra, *overrides])


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_class(name: str) -> None:
    recipe = tiny(sampler=name)
    assert recipe.sampler.name == name
    assert type(build_sampler(recipe)) is SAMPLERS[name]


@pytest.mark.parametrize("name", PRUNERS)
def test_pruner_class(name: str) -> None:
    recipe = tiny(pruner=name)
    assert recipe.pruner.name == name
    assert type(build_pruner(recipe)) is PRUNERS[name]


def test_sampler_options_are_passed_on() -> None:
    tpe = build_sampler(tiny("{name: tpe, n_startup_trials: 4, multivariate: false, constant_liar: false}"))
    assert (tpe._n_startup_trials, tpe._multivariate, tpe._constant_liar) == (4, False, False)
    assert build_sampler(tiny("{name: gp, n_startup_trials: 3}"))._n_startup_trials == 3
    assert build_sampler(tiny("{name: cmaes, n_startup_trials: 2}"))._n_startup_trials == 2


def test_grid_sampler_gets_the_space_grid() -> None:
    recipe = tiny("grid")
    sampler = build_sampler(recipe)
    assert isinstance(sampler, optuna.samplers.GridSampler)
    assert sampler._search_space == {k: sorted(v) for k, v in SearchSpace.from_recipe(recipe).grid().items()}


def test_pruner_options_are_passed_on() -> None:
    median = build_pruner(tiny(pruner="{name: median, n_startup_trials: 3, n_warmup_steps: 1}"))
    assert (median._n_startup_trials, median._n_warmup_steps) == (3, 1)
    halving = build_pruner(tiny(pruner="{name: successive_halving, min_resource: 2, reduction_factor: 4}"))
    assert (halving._min_resource, halving._reduction_factor) == (2, 4)
    hyperband = build_pruner(tiny(pruner="{name: hyperband, min_resource: 2, max_resource: 9, reduction_factor: 3}"))
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (2, 9, 3)
    assert build_pruner(tiny(pruner="hyperband"))._max_resource == "auto"


def test_gp_without_torch_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ConfigError) as excinfo:
        build_sampler(tiny("gp"))
    assert str(excinfo.value) == (
        "sampler.name: 'gp' needs PyTorch; install it with `pip install mltune[gp]`, but got no module 'torch'"
    )


def run_study(recipe: Recipe) -> optuna.Study:
    """Every odd trial learns a clearly worse curve than every even one; no training involved."""
    space = SearchSpace.from_recipe(recipe)

    def objective(trial: optuna.Trial) -> float:
        config = space.sample(trial)
        ceiling = 0.9 if trial.number % 2 == 0 else 0.1
        value = 0.0
        for step in range(1, STEPS + 1):  # 1-based epochs, as the trainer reports them
            value = ceiling * step / STEPS + config["learning_rate"]  # lr in [1e-3, 1e-2] only breaks ties
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study = optuna.create_study(sampler=build_sampler(recipe), pruner=build_pruner(recipe), direction=recipe.direction)
    study.optimize(objective, n_trials=N_TRIALS)
    return study


@pytest.mark.filterwarnings("ignore::UserWarning")  # GP and CMA-ES warn about the conditional search space
@pytest.mark.parametrize("pruner", PRUNERS)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_tiny_study(sampler: str, pruner: str) -> None:
    recipe = tiny(sampler, pruner)
    study = run_study(recipe)
    states = [t.state for t in study.trials]
    assert len(states) == N_TRIALS
    assert set(states) <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    if pruner == "none":
        assert not pruned
        assert all(len(t.intermediate_values) == STEPS for t in study.trials)
    else:
        assert len(pruned) >= 3, f"{pruner} pruned only {len(pruned)} of {N_TRIALS}"
        assert any(len(t.intermediate_values) < STEPS for t in pruned)  # some stopped early (others at a last rung)
    assert study.best_trial.number % 2 == 0  # a good curve wins
    assert study.best_value > 0.9


def test_pruners_stop_the_bad_curves_first() -> None:
    """With the median pruner every bad trial after the startup trials is pruned, and no good one."""
    recipe = tiny("random", "{name: median, n_startup_trials: 4, n_warmup_steps: 2}", "search.learning_rate=0.005")
    study = run_study(recipe)  # a fixed learning rate: all good curves are equal and none is below the median
    by_number: dict[int, Any] = {t.number: t.state for t in study.trials}
    for number, state in by_number.items():
        bad = number % 2 == 1
        expected = optuna.trial.TrialState.PRUNED if bad and number >= 4 else optuna.trial.TrialState.COMPLETE
        assert state == expected, number
        if state == optuna.trial.TrialState.PRUNED:
            # steps are 1-based epochs, so n_warmup_steps=2 protects only epoch 1
            assert max(study.trials[number].intermediate_values) == 2
