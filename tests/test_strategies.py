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


def test_pruners_read_the_epochs_they_decide_at() -> None:
    from mltune.search.reports import pruner_reads

    def read(pruner: optuna.pruners.BasePruner) -> list[int]:
        return [epoch for epoch in range(1, 60) if pruner_reads(pruner)(epoch)]

    assert read(optuna.pruners.NopPruner()) == []
    assert read(optuna.pruners.HyperbandPruner(min_resource=2, reduction_factor=3)) == [2, 6, 18, 54]
    assert read(optuna.pruners.SuccessiveHalvingPruner(min_resource=5, reduction_factor=2)) == [5, 10, 20, 40]
    assert read(optuna.pruners.MedianPruner()) == list(range(1, 60))  # any epoch
    assert read(optuna.pruners.HyperbandPruner(min_resource="auto")) == list(range(1, 60))  # rungs unknown yet


@pytest.mark.parametrize("pruner", [
    lambda: optuna.pruners.HyperbandPruner(min_resource=2, reduction_factor=3),
    lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
])
def test_reporting_only_the_epochs_a_pruner_reads_prunes_the_same_trials(pruner: Any) -> None:
    """The same curves, reported every epoch and through EpochReports: the same trials pruned at the same epochs,
    and each trial's best and last epoch are in Optuna (promotion's refit and Hyperband's 'auto' read them)."""
    from mltune.search.reports import EpochReports

    def curve(number: int) -> list[float]:  # every third trial is bad; all peak at epoch 12, then fall
        height = 0.3 if number % 3 == 1 else 0.9 - 0.01 * (number % 5)
        return [height * min(e, 12) / 12 - 0.001 * max(e - 12, 0) for e in range(1, 25)]

    def every_epoch(trial: optuna.Trial) -> float:
        for epoch, value in enumerate(curve(trial.number), start=1):
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return max(curve(trial.number))

    def through_reports(trial: optuna.Trial) -> float:
        reports = EpochReports(trial, direction="maximize", label="val_accuracy")
        for epoch, value in enumerate(curve(trial.number), start=1):
            reports.epoch(epoch, value)
        reports.close()
        return max(curve(trial.number))

    studies = []
    for objective in (every_epoch, through_reports):
        study = optuna.create_study(direction="maximize", pruner=pruner(), study_name="same brackets",
                                    sampler=optuna.samplers.RandomSampler(seed=0))  # Hyperband hashes the name
        study.optimize(objective, n_trials=15)
        studies.append(study)
    full, sparse = ([(t.state, t.last_step) for t in s.trials] for s in studies)
    assert full == sparse
    assert any(state == optuna.trial.TrialState.PRUNED for state, _ in full)
    for trial in studies[1].trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            steps = trial.intermediate_values
            assert max(steps, key=lambda s: steps[s]) == 12 and trial.last_step == 24


def test_a_trial_without_a_pruner_reports_only_its_best_and_last_epoch() -> None:
    from mltune.search.reports import EpochReports

    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reports = EpochReports(trial, direction="minimize", label="val_mae")
    for epoch, value in enumerate([3.0, 2.0, 1.5, 1.7, 1.9], start=1):
        reports.epoch(epoch, value)
    reports.close()
    assert study.trials[0].intermediate_values == {3: 1.5, 5: 1.9}
