"""The search space: what a trial samples (conditionals, per-layer units, fixed values) and the grid."""

from __future__ import annotations

import itertools
import math
from typing import Any

import optuna
import pytest

from mltune.config.recipe import Recipe, load_recipe, parse_recipe
from mltune.search.space import SearchSpace
from mltune.search.strategies import build_sampler

from .conftest import RECIPES, TINY

SAMPLERS = ["tpe", "random", "grid", "cmaes", "gp"]
GRID_READY = ("search.learning_rate.grid=[0.001, 0.003, 0.01]", "search.momentum.step=0.3")
"""Overrides that give tiny_digits' two continuous floats grid values."""


def tiny(*overrides: str) -> Recipe:
    return load_recipe(TINY, overrides)


def sample_many(recipe: Recipe, n: int, seed: int = 0) -> list[tuple[optuna.trial.FrozenTrial, dict[str, Any]]]:
    space = SearchSpace.from_recipe(recipe)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        config = space.sample(trial)
        study.tell(trial, 0.0)
        out.append((study.trials[-1], config))
    return out


def test_defaults_come_from_the_family() -> None:
    space = SearchSpace.from_recipe(tiny())
    assert space.defaults["activation"] == "relu" and space.defaults["patience"] is None
    ae = SearchSpace.from_recipe(load_recipe(RECIPES / "digits_autoencoder.yaml"))
    assert ae.defaults["latent_dim"] == 8


def test_sampled_config_holds_fixed_values_and_defaults() -> None:
    for trial, config in sample_many(tiny(), 10):
        assert config["epochs"] == 2 and config["batch_size"] == 64  # fixed in the recipe
        assert "epochs" not in trial.params and "batch_size" not in trial.params  # ... so not suggested
        assert config["activation"] == "relu" and config["dropout"] == 0.0  # family defaults
        assert all(config[name] == value for name, value in trial.params.items())


def test_units_exist_once_per_layer() -> None:
    seen = set()
    for trial, config in sample_many(tiny(), 40):
        n_layers = config["n_layers"]
        seen.add(n_layers)
        assert n_layers in (1, 2)
        assert [k for k in trial.params if k.startswith("units")] == [f"units_{i}" for i in range(n_layers)]
        assert all(f"units_{i}" in config for i in range(n_layers))
        assert f"units_{n_layers}" not in config and "units" not in trial.params
    assert seen == {1, 2}


def test_momentum_only_for_sgd() -> None:
    seen = set()
    for trial, config in sample_many(tiny(), 40):
        seen.add(config["optimizer"])
        if config["optimizer"] == "sgd":
            assert "momentum" in trial.params and 0.0 <= config["momentum"] <= 0.9
        else:
            assert "momentum" not in trial.params and config["momentum"] == 0.0  # the default stays
    assert seen == {"adam", "sgd"}


def test_when_with_a_list_of_values() -> None:
    recipe = load_recipe(RECIPES / "digits_mlp.yaml")
    assert recipe.search["momentum"].when == {"optimizer": ["sgd", "rmsprop"]}
    for trial, config in sample_many(recipe, 40, seed=1):
        assert ("momentum" in trial.params) == (config["optimizer"] in ("sgd", "rmsprop"))


def chained(value: float) -> Recipe:
    """lr_schedule when momentum == value; momentum (choices 0.0, 0.5, default 0.0) only with sgd."""
    return tiny(
        f"search.lr_schedule={{type: categorical, choices: [constant, cosine], when: {{momentum: {value}}}}}",
        "search.momentum={type: categorical, choices: [0.0, 0.5], when: {optimizer: sgd}}",
    )


def test_conditions_chain() -> None:
    """A parameter conditioned on a conditional parameter is inactive whenever its condition is."""
    outcomes = set()
    for trial, config in sample_many(chained(0.5), 40, seed=2):
        active = config["optimizer"] == "sgd" and config["momentum"] == 0.5
        assert ("lr_schedule" in trial.params) == active
        outcomes.add(active)
    assert outcomes == {True, False}



def test_conditions_on_an_inactive_parameter_do_not_match_its_default() -> None:
    for trial, config in sample_many(chained(0.0), 40, seed=2):
        active = config["optimizer"] == "sgd" and config["momentum"] == 0.0
        assert ("lr_schedule" in trial.params) == active


def test_int_step_and_log_float_ranges() -> None:
    recipe = tiny("search.units.high=64", "search.weight_decay={type: float, low: 1.0e-6, high: 1.0e-1, log: true}")
    units, decays = set(), []
    for trial, config in sample_many(recipe, 60):
        units.update(config[f"units_{i}"] for i in range(config["n_layers"]))
        assert 1e-3 <= config["learning_rate"] <= 1e-2
        decays.append(config["weight_decay"])
        lr = trial.distributions["learning_rate"]
        assert isinstance(lr, optuna.distributions.FloatDistribution) and lr.log
        assert trial.distributions["units_0"] == optuna.distributions.IntDistribution(16, 64, step=16)
    assert units == {16, 32, 48, 64}
    assert all(1e-6 <= d <= 1e-1 for d in decays)
    # on a log scale about half the draws fall below the geometric middle (1e-3.5), not 1 in 2000
    below = sum(d < 10**-3.5 for d in decays)
    assert 10 <= below <= 50


def test_float_step() -> None:
    recipe = tiny("search.dropout={type: float, low: 0.0, high: 0.5, step: 0.1}")
    values = {round(config["dropout"], 10) for _, config in sample_many(recipe, 60)}
    assert values <= {0.0, 0.1, 0.2, 0.3, 0.4, 0.5} and len(values) >= 4


def test_grid_of_the_grid_recipe() -> None:
    recipe = load_recipe(RECIPES / "digits_grid.yaml")
    grid = SearchSpace.from_recipe(recipe).grid()
    assert grid == {"learning_rate": [0.001, 0.003, 0.01], "batch_size": [32, 128], "units": [64, 128]}
    assert math.prod(len(v) for v in grid.values()) == 12


def test_grid_sampler_tries_every_combination_once() -> None:
    recipe = load_recipe(RECIPES / "digits_grid.yaml")
    space = SearchSpace.from_recipe(recipe)
    study = optuna.create_study(sampler=build_sampler(recipe), direction=recipe.direction)
    configs: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        configs.append(space.sample(trial))
        return 0.5

    study.optimize(objective, n_trials=recipe.budget.n_trials)  # None: until the grid is exhausted
    tried = sorted((c["learning_rate"], c["batch_size"], c["units"]) for c in configs)
    assert tried == sorted(itertools.product([0.001, 0.003, 0.01], [32, 128], [64, 128]))
    assert all(c["n_layers"] == 1 and c["epochs"] == 10 and c["optimizer"] == "adam" for c in configs)


def test_grid_expands_per_layer_units_and_steps() -> None:
    grid = SearchSpace.from_recipe(tiny("sampler=grid", *GRID_READY)).grid()
    assert grid == {
        "learning_rate": [0.001, 0.003, 0.01],
        "n_layers": [1, 2],
        "units_0": [16, 32],
        "units_1": [16, 32],
        "optimizer": ["adam", "sgd"],
        "momentum": [0.0, 0.3, 0.6, 0.9],
    }


def test_grid_per_layer_with_a_fixed_layer_count() -> None:
    base = {"name": "g", "data": {"dataset": "digits"}, "sampler": "grid"}
    units = {"type": "int", "low": 16, "high": 48, "step": 16, "per_layer": "n_layers", "grid": [16, 48]}
    fixed = parse_recipe({**base, "search": {"n_layers": 3, "units": units}})
    assert SearchSpace.from_recipe(fixed).grid() == {"units_0": [16, 48], "units_1": [16, 48], "units_2": [16, 48]}



def test_float_grid_stays_within_its_range() -> None:
    recipe = tiny("sampler=grid", *GRID_READY, "search.dropout={type: float, low: 0.0, high: 0.7, step: 0.25}")
    assert SearchSpace.from_recipe(recipe).grid()["dropout"] == [0.0, 0.25, 0.5]


# ---------------------------------------------------------------- reproducibility


def fake_objective(config: dict[str, Any]) -> float:
    """A deterministic value from the sampled configuration."""
    units = sum(config.get(f"units_{i}", 0) for i in range(config["n_layers"]))
    return math.log10(config["learning_rate"]) + units / 100 + config["momentum"] + (config["optimizer"] == "sgd")


def run_sequence(recipe: Recipe, steps: int = 12) -> list[dict[str, Any]]:
    space = SearchSpace.from_recipe(recipe)
    study = optuna.create_study(sampler=build_sampler(recipe), direction=recipe.direction)
    params = []
    for _ in range(steps):
        trial = study.ask()
        value = fake_objective(space.sample(trial))
        study.tell(trial, value)
        params.append(dict(trial.params))
    return params


def sampler_recipe(name: str, seed: int) -> Recipe:
    extra = GRID_READY if name == "grid" else ()
    # a few startup trials so that the model-based samplers really model within 12 steps
    options = {"tpe": "{name: tpe, n_startup_trials: 4}", "gp": "{name: gp, n_startup_trials: 8}"}
    return tiny(f"sampler={options.get(name, name)}", f"seed={seed}", *extra)


@pytest.mark.parametrize("name", SAMPLERS)
def test_same_recipe_and_seed_give_the_same_trials(name: str) -> None:
    recipe = sampler_recipe(name, seed=5)
    first = run_sequence(recipe)
    assert len(first) == 12 and all(first)
    assert run_sequence(sampler_recipe(name, seed=5)) == first
    assert run_sequence(sampler_recipe(name, seed=6)) != first


def test_the_first_trial_tries_the_defaults_once_per_layer_and_only_where_active() -> None:
    recipe = tiny("search.n_layers.default=2", "search.units.default=32", "search.optimizer.default=adam",
                  "search.momentum.default=0.5")
    assert SearchSpace.from_recipe(recipe).first_trial() == {"n_layers": 2, "units_0": 32, "units_1": 32,
                                                             "optimizer": "adam"}
    assert SearchSpace.from_recipe(tiny()).first_trial() == {}
