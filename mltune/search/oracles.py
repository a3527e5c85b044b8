"""KerasTuner's oracles (``keras_tuner.oracles``) as mltune reads them: which Optuna search a Tuner runs.

KerasTuner's base ``Tuner(oracle=..., hypermodel=...)`` takes its search from an oracle; a script that subclasses it
(often to override ``run_trial``) passes ``oracle=mltune.oracles.BayesianOptimizationOracle(...)`` instead. Each
oracle here holds KerasTuner's arguments and says which sampler, pruner and trial budget they stand for: the same
as the Tuner of the same name (:class:`mltune.RandomSearch`, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from mltune.errors import ConfigError
from mltune.search.strategies import sampler_named


@dataclass(frozen=True)
class Search:
    """What an oracle stands for in a Tuner.

    Attributes:
        sampler: the Optuna sampler.
        reseeded: the same sampler with another seed (a resumed study's), or None to keep it.
        pruner: the Optuna pruner (epochs are its steps).
        max_trials: trials the study should hold (None: until a grid is exhausted).
        max_epochs: replaces the ``epochs`` given to ``search`` (KerasTuner's Hyperband), or None.
    """

    sampler: optuna.samplers.BaseSampler
    reseeded: Any
    pruner: optuna.pruners.BasePruner
    max_trials: int | None
    max_epochs: int | None = None


class KerasTunerOracle:
    """KerasTuner's ``Oracle`` arguments (``objective``, ``max_trials``, ``seed``, ``hyperparameters``,
    ``allow_new_entries``, ``tune_new_entries``, ``max_retries_per_trial``, ``max_consecutive_failed_trials``)."""

    def __init__(self, objective: Any = None, max_trials: int | None = 10, seed: int | None = None,
                 hyperparameters: Any = None, allow_new_entries: bool = True, tune_new_entries: bool = True,
                 max_retries_per_trial: int = 0, max_consecutive_failed_trials: int = 3) -> None:
        self.objective, self.max_trials, self.seed = objective, max_trials, seed
        self.hyperparameters, self.tune_new_entries = hyperparameters, tune_new_entries
        self.allow_new_entries = allow_new_entries
        self.max_consecutive_failed_trials = max_consecutive_failed_trials
        self.max_retries_per_trial = max_retries_per_trial

    def search(self, seed: int) -> Search:
        return Search(tuner_sampler("random", seed=seed), lambda s: tuner_sampler("random", seed=s),
                      optuna.pruners.NopPruner(), self.max_trials)


class RandomSearchOracle(KerasTunerOracle):
    """Random configurations, each trained to the end."""


class BayesianOptimizationOracle(KerasTunerOracle):
    """Optuna's TPE sampler (a Bayesian optimizer that handles define-by-run spaces), ``num_initial_points`` random
    trials first; ``alpha`` and ``beta`` (KerasTuner's Gaussian process') are accepted and not used."""

    def __init__(self, objective: Any = None, max_trials: int = 10, num_initial_points: int | None = None,
                 alpha: float = 1e-4, beta: float = 2.6, seed: int | None = None, **options: Any) -> None:
        super().__init__(objective, max_trials, seed, **options)
        if num_initial_points is not None and num_initial_points < 1:
            raise ConfigError(f"num_initial_points: must be >= 1, but got {num_initial_points}")
        self.num_initial_points = num_initial_points

    def search(self, seed: int) -> Search:
        def tpe(s: int) -> optuna.samplers.BaseSampler:
            if self.num_initial_points is None:
                return sampler_named("tpe", seed=s)
            return optuna.samplers.TPESampler(n_startup_trials=self.num_initial_points, seed=s)

        return Search(tpe(seed), tpe, optuna.pruners.NopPruner(), self.max_trials)


class GridSearchOracle(KerasTunerOracle):
    """Every combination once, in KerasTuner's order, until all are tried or ``max_trials`` are (None: all)."""

    def __init__(self, objective: Any = None, max_trials: int | None = None, seed: int | None = None,
                 **options: Any) -> None:
        super().__init__(objective, max_trials, seed, **options)

    def search(self, seed: int) -> Search:
        return Search(InOrder(seed=seed), None, optuna.pruners.NopPruner(), self.max_trials)


class HyperbandOracle(KerasTunerOracle):
    """Random configurations trained for up to ``max_epochs`` epochs, Optuna's ``HyperbandPruner`` over epochs 1 to
    ``max_epochs`` with reduction factor ``factor``; as many trials as KerasTuner's Hyperband tries."""

    def __init__(self, objective: Any = None, max_epochs: int = 100, factor: int = 3, hyperband_iterations: int = 1,
                 seed: int | None = None, **options: Any) -> None:
        if max_epochs < 1:
            raise ConfigError(f"max_epochs: must be >= 1, but got {max_epochs}")
        if factor < 2:
            raise ConfigError(f"factor: must be >= 2, but got {factor}")
        if hyperband_iterations < 1:
            raise ConfigError(f"hyperband_iterations: must be >= 1, but got {hyperband_iterations}")
        max_trials = options.pop("max_trials", None) or hyperband_iterations * hyperband_configurations(max_epochs,
                                                                                                          factor)
        super().__init__(objective, max_trials, seed, **options)
        self.max_epochs, self.factor, self.hyperband_iterations = int(max_epochs), int(factor), hyperband_iterations

    def search(self, seed: int) -> Search:
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.max_epochs,
                                                reduction_factor=self.factor)
        return Search(sampler_named("random", seed=seed), lambda s: sampler_named("random", seed=s), pruner,
                      self.max_trials, self.max_epochs)



TRIED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
"""The trials whose configurations count as tried: a failed one too, as in KerasTuner (whose retries happen inside
the trial, ``max_retries_per_trial``), so a configuration that always fails does not come back until the search
gives up; a trial whose worker was lost is queued again by its parameters, not drawn."""


class Untried(optuna.samplers.RandomSampler):
    """KerasTuner's random search: random configurations that do not repeat the ones tried. A discrete
    hyperparameter (a choice, an integer, a float with a step) takes, at random, a value that still leads to an
    untried combination, given the values this trial took before it (conditional scopes included); once every
    combination has been tried, ``exhausted`` is set and the search ends, as KerasTuner's does. Continuous ones
    are drawn as Optuna's ``RandomSampler`` draws them (and a space that has one never runs out)."""

    exhausted = False

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> Any:
        values = discrete_values(param_distribution)
        if values is not None:
            same = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number
                    and all(_key(t.params.get(k, _ABSENT)) == _key(v) for k, v in trial.params.items())]
            done = {*trial.params, param_name}
            untried = [value for value in values
                       if not _tried_all([t for t in same if t.state in TRIED], param_name, value, done)]
            if untried:
                return self._pick(untried, same, param_name, done)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def _pick(self, untried: list[Any], same: list[optuna.trial.FrozenTrial], param_name: str, done: set[str]) -> Any:
        """Of the values that lead to an untried combination, one of those the fewest trials (``same``: those that
        agree with this one so far) took, at random."""
        taken = [sum(_key(t.params.get(param_name, _ABSENT)) == _key(v) for t in same) for v in untried]
        fewest = [value for value, count in zip(untried, taken, strict=True) if count == min(taken)]
        return fewest[int(self._rng.rng.randint(len(fewest)))]

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: optuna.trial.TrialState,
                    values: Sequence[float] | None) -> None:
        self.notice_exhausted(study, [trial] if state in TRIED else [])

    def notice_exhausted(self, study: optuna.Study, ending: Sequence[optuna.trial.FrozenTrial] = ()) -> None:
        """Sets ``exhausted`` when the trials that ended, and ``ending`` (the one ending now,
        which the storage does not show ended yet), have tried every combination of the discrete space."""
        trials = [*study.get_trials(deepcopy=False, states=TRIED), *ending]
        self.exhausted = bool(trials) and _subtree_tried(trials, done=set())


class InOrder(Untried):
    """KerasTuner's grid search: every combination of the declared values once, in KerasTuner's order (each
    hyperparameter's values as declared, the last one declared changing fastest), following define-by-run spaces
    and conditional scopes; ``exhausted`` once all are tried, a failed one included (as KerasTuner's grid, which
    does not come back to it). A combination another worker is trying is left to it while others remain."""

    def _pick(self, untried: list[Any], same: list[optuna.trial.FrozenTrial], param_name: str, done: set[str]) -> Any:
        busy = [t for t in same if t.state in (*TRIED, optuna.trial.TrialState.RUNNING)]
        free = [value for value in untried if not _tried_all(busy, param_name, value, done)]
        return (free or untried)[0]


_ABSENT = object()


def _tried_all(trials: Sequence[optuna.trial.FrozenTrial], name: str, value: Any, done: set[str]) -> bool:
    """Whether ``trials`` (which agree on the values taken so far) tried every combination that follows
    ``name=value``."""
    chosen = [t for t in trials if name in t.params and _key(t.params[name]) == _key(value)]
    return bool(chosen) and _subtree_tried(chosen, done)


def _subtree_tried(trials: Sequence[optuna.trial.FrozenTrial], done: set[str]) -> bool:
    """Whether ``trials`` (which agree on the hyperparameters in ``done``) tried every combination of what they
    declared next, in the order they declared it: the same next hyperparameter, discrete, each of its values tried
    and every combination after each tried in turn. A trial with nothing left to declare is a whole combination."""
    following = {next((k for k in t.params if k not in done), "") for t in trials}
    if "" in following:
        return True
    if len(following) != 1:  # the trials went different ways on something that is not a hyperparameter
        return False
    name = following.pop()
    values = discrete_values(trials[0].distributions[name])
    return values is not None and all(_tried_all(trials, name, value, {*done, name}) for value in values)


MAX_DISCRETE_VALUES = 10_000
"""A discrete range with more values than this is drawn as a continuous one."""


def discrete_values(distribution: optuna.distributions.BaseDistribution) -> list[Any] | None:
    """Every value of a choice, an integer range or a float range with a step; None for a continuous range or
    one on a log scale."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return list(distribution.choices)
    step = getattr(distribution, "step", None)
    if step is None or getattr(distribution, "log", False):  # a log scale is drawn as such, not value by value
        return None
    count = int(round((distribution.high - distribution.low) / step)) + 1  # type: ignore[attr-defined]
    if count > MAX_DISCRETE_VALUES:
        return None
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    return [distribution.low + index * step for index in range(count)]  # type: ignore[attr-defined]


def _key(value: Any) -> Any:
    """A value as two draws of it compare: floats on a step grid to 10 decimals."""
    return round(value, 10) if isinstance(value, float) else value


def tuner_sampler(sampler: Any, *, seed: int | None) -> optuna.samplers.BaseSampler:
    """A Tuner's sampler by name: ``"random"`` is :class:`Untried` (KerasTuner's random search), any other as a
    recipe names it (:func:`~mltune.search.strategies.sampler_named`)."""
    return Untried(seed=seed) if sampler == "random" else sampler_named(sampler, seed=seed)


def hyperband_configurations(max_epochs: int, factor: int) -> int:
    """How many configurations one iteration of KerasTuner's ``Hyperband`` starts (its ``HyperbandOracle``): one
    bracket for each time ``max_epochs`` divides by ``factor`` down to 1 epoch; bracket ``b`` starts
    ``ceil(ceil(1 + log_factor(max_epochs)) / (b + 1) * factor ** b)``."""
    brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:
        epochs, brackets = epochs / factor, brackets + 1
    end = math.ceil(1 + math.log(max_epochs, factor))
    return sum(math.ceil(end / (b + 1) * factor ** b) for b in range(brackets))


RandomSearch, BayesianOptimization, Hyperband = RandomSearchOracle, BayesianOptimizationOracle, HyperbandOracle
"""KerasTuner 1.0's names of its oracles (``kt.oracles.BayesianOptimization``), which older guides use."""

__all__ = ["BayesianOptimizationOracle", "GridSearchOracle", "HyperbandOracle", "RandomSearchOracle"]
