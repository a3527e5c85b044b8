"""The search space: turns a recipe's `search` section into Optuna suggestions, one configuration per trial."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mltune.config.recipe import CategoricalParam, FixedParam, FloatParam, IntParam, ParamSpec, Recipe
from mltune.families import FAMILIES

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters of one recipe: defaults from the family, fixed values and ranges from the recipe."""

    defaults: dict[str, Any]
    params: dict[str, ParamSpec]

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> SearchSpace:
        known = FAMILIES[recipe.model.family].hyperparameters
        return cls(defaults={n: h.default for n, h in known.items()}, params=dict(recipe.search))

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Suggests every active parameter in declaration order and returns the full configuration.

        A parameter with ``when`` is suggested only if the earlier parameters it names took one of the
        listed values; a ``per_layer`` parameter is suggested once per layer, as ``units_0``, ``units_1``, ...
        Inactive parameters keep their default and are not part of the trial.
        """
        config = dict(self.defaults)
        active: set[str] = set()
        for name, spec in self.params.items():
            if not _active(spec, config, active):
                continue
            active.add(name)
            if spec.per_layer is not None:
                for i in range(int(config[spec.per_layer])):
                    config[f"{name}_{i}"] = _suggest(trial, f"{name}_{i}", spec)
            else:
                config[name] = _suggest(trial, name, spec)
        return config

    def first_trial(self) -> dict[str, Any]:
        """The parameters that have a ``default``, as the first trial of a new study tries them (per-layer ones
        once per layer); empty when none has. A parameter whose ``when`` the defaults do not meet is left out."""
        config, first = dict(self.defaults), {}
        active: set[str] = set()
        for name, spec in self.params.items():
            if not _active(spec, config, active):
                continue
            active.add(name)
            value = spec.value if isinstance(spec, FixedParam) else spec.default
            if value is None:
                continue
            config[name] = value
            if isinstance(spec, FixedParam):
                continue
            names = [f"{name}_{i}" for i in range(int(config[spec.per_layer]))] if spec.per_layer else [name]
            first.update(dict.fromkeys(names, value))
        return first

    def sampled(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The part of a configuration that this space samples, for ``study.enqueue_trial``.

        Values this space could not have sampled (a changed range, a removed choice) are left out, so the
        sampler chooses them afresh.
        """
        kept = {}
        for name, spec in self.params.items():
            if isinstance(spec, FixedParam):
                continue
            names = [k for k in values if k.startswith(f"{name}_") and k[len(name) + 1:].isdigit()] \
                if spec.per_layer is not None else [name]
            kept.update({k: values[k] for k in names if k in values and _admits(spec, values[k])})
        return kept

    def grid(self) -> dict[str, list[Any]]:
        """Values for Optuna's GridSampler, per-layer parameters expanded up to the largest layer count."""
        grid: dict[str, list[Any]] = {}
        for name, spec in self.params.items():
            if isinstance(spec, FixedParam):
                continue
            values = _grid_values(spec)
            if spec.per_layer is not None:
                layers = _grid_values(self.params[spec.per_layer]) if spec.per_layer in self.params else [
                    self.defaults[spec.per_layer]
                ]
                for i in range(int(max(layers))):
                    grid[f"{name}_{i}"] = values
            else:
                grid[name] = values
        return grid


def _active(spec: ParamSpec, config: dict[str, Any], active: set[str]) -> bool:
    """Whether every parameter named in ``when`` was itself active and took one of the listed values."""
    for other, wanted in (spec.when or {}).items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if other not in active or config[other] not in allowed:
            return False
    return True


def _admits(spec: ParamSpec, value: Any) -> bool:
    if isinstance(spec, CategoricalParam):
        return value in spec.choices
    if isinstance(spec, FixedParam) or isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not spec.low <= value <= spec.high:
        return False
    if isinstance(spec, IntParam):
        return float(value).is_integer() and (int(value) - spec.low) % spec.step == 0
    return spec.step is None or math.isclose((value - spec.low) / spec.step, round((value - spec.low) / spec.step))


def _suggest(trial: optuna.trial.BaseTrial, name: str, spec: ParamSpec) -> Any:
    if isinstance(spec, FixedParam):
        return spec.value
    if isinstance(spec, CategoricalParam):
        return trial.suggest_categorical(name, list(spec.choices))  # type: ignore[arg-type]
    if isinstance(spec, IntParam):
        return trial.suggest_int(name, spec.low, spec.high, step=spec.step, log=spec.log)
    return trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)


def _grid_values(spec: ParamSpec) -> list[Any]:
    if spec.grid is not None:
        return list(spec.grid)
    if isinstance(spec, FixedParam):
        return [spec.value]
    if isinstance(spec, CategoricalParam):
        return list(spec.choices)
    if isinstance(spec, IntParam):
        return list(range(spec.low, spec.high + 1, spec.step))
    assert isinstance(spec, FloatParam) and spec.step is not None  # the recipe checked this
    count = math.floor((spec.high - spec.low) / spec.step + 1e-9)  # never past `high`
    return [round(spec.low + i * spec.step, 12) for i in range(count + 1)]
