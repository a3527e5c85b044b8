"""KerasTuner's ``hp`` on Optuna: a ``build_model(hp)`` written for KerasTuner samples through an Optuna trial.

Each ``hp.Int``/``Float``/``Choice``/``Boolean`` call becomes an Optuna suggestion on the live trial
(define-by-run), with KerasTuner's argument names and defaults; ``hp.Fixed`` is recorded but not sampled;
``hp.conditional_scope`` makes the calls inside it return ``None`` (and sample nothing) unless the parent has one of
the given values, as in KerasTuner. Also the objective: a metric name from Keras' logs with its direction inferred
as KerasTuner infers it, or :class:`Objective`. Nothing here imports TensorFlow or keras-tuner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mltune.errors import ConfigError
from mltune.names import TRIAL_ID_ATTR

if TYPE_CHECKING:
    import optuna

Scalar = bool | int | float | str | None


@dataclass(frozen=True)
class Objective:
    """What a :class:`~mltune.flows.tuner.Tuner` optimizes: a name from Keras' logs and a direction.

    Attributes:
        name: a key of the logs ``fit`` writes each epoch, e.g. ``"val_accuracy"`` or ``"val_loss"``.
        direction: ``"max"`` or ``"min"``, as KerasTuner's (``"maximize"`` and ``"minimize"`` are taken too).
    """

    name: str
    direction: str
    parts: tuple[tuple[str, str], ...] = ()
    """The objectives a list combines, as ``(name, direction)``; their sum is this one (KerasTuner's
    ``multi_objective``): the minimized ones added, the maximized ones subtracted, minimized."""

    def __post_init__(self) -> None:
        direction = {"maximize": "max", "minimize": "min"}.get(self.direction, self.direction)
        if direction not in ("max", "min"):
            raise ConfigError(f"objective.direction: must be 'max', 'min', 'maximize' or 'minimize', "
                              f"but got {self.direction!r}")
        object.__setattr__(self, "direction", direction)

    def __repr__(self) -> str:  # KerasTuner's
        single = f'Objective(name="{self.name}", direction="{self.direction}")'
        return f"Multi{single}: [{', '.join(map(repr, self.objectives))}]" if self.parts else single

    @property
    def objectives(self) -> list[Objective]:
        """KerasTuner's ``MultiObjective.objectives``: the objectives a list combines (none for one objective)."""
        return [Objective(name, direction) for name, direction in self.parts]

    @property
    def optuna_direction(self) -> str:
        """``"maximize"`` or ``"minimize"``, as Optuna's studies take it."""
        return f"{self.direction}imize"

    @classmethod
    def of(cls, objective: Any) -> Objective:
        """An objective from a name (direction inferred), an :class:`Objective`, or anything with ``name`` and
        ``direction`` (``keras_tuner.Objective``).

        Raises:
            ConfigError: the direction of an unknown metric name cannot be inferred.
        """
        if isinstance(objective, Objective):
            return objective
        if isinstance(objective, (list, tuple)):
            if not objective:
                raise ConfigError("objective: the list must name at least one metric, but it is empty")
            parts = [cls.of(part) for part in objective]  # a list of one too, as KerasTuner's
            return cls("multi_objective", "min", tuple((part.name, part.direction) for part in parts))
        if objective is None:  # KerasTuner's default: the number HyperModel.fit returns, minimized
            return cls("default_objective", "min")
        if isinstance(objective, str):
            direction = infer_direction(objective)
            if direction is None:
                raise ConfigError(f"objective: cannot infer whether to maximize or minimize {objective!r}; give "
                                  f"mltune.Objective({objective!r}, 'max') or mltune.Objective({objective!r}, 'min')")
            return cls(objective, direction)
        if hasattr(objective, "name") and hasattr(objective, "direction"):
            return cls(str(objective.name), str(objective.direction))
        raise ConfigError(f"objective: must be a metric name or mltune.Objective(name, direction), "
                          f"but got {objective!r}")

    def add_to(self, values: dict[str, Any]) -> dict[str, Any]:
        """Adds a combined objective's value to an epoch's ``values`` (once each part is there) and returns them."""
        if self.parts and all(name in values for name, _ in self.parts):
            values[self.name] = sum(float(values[name]) * (1 if direction == "min" else -1)
                                    for name, direction in self.parts)
        return values

    @property
    def metric(self) -> str:
        """The name without its ``val_`` prefix, as ``evaluate`` reports it."""
        return self.name.removeprefix("val_")


def keras_tuner_trial_id(number: int, max_trials: int | None) -> str:
    """KerasTuner's id of trial ``number``: zero-padded to the digits of ``max_trials`` (``"03"`` of 10; ``"0003"``
    with no bound, as ``len(str(None))`` makes it for KerasTuner's Hyperband)."""
    return f"{number:0{len(str(max_trials))}d}"


def trial_id_of(trial: optuna.trial.FrozenTrial | optuna.Trial, max_trials: int | None) -> str:
    """The trial's KerasTuner id as it was given when the trial started (a trial of an older study: as
    :func:`keras_tuner_trial_id` gives it now)."""
    return str(trial.user_attrs.get(TRIAL_ID_ATTR) or keras_tuner_trial_id(trial.number, max_trials))


_MINIMIZED = ("loss", "error", "crossentropy", "hinge", "divergence", "poisson", "logcosh", "mse", "mae", "mape",
              "msle", "rmse", "false_positives", "false_negatives")
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "io_u", "r2", "true_positives",
              "true_negatives", "sensitivity", "specificity", "cosine_similarity")


def infer_direction(name: str) -> str | None:
    """``"minimize"`` for losses and errors, ``"maximize"`` for accuracies, AUC, precision, recall and the like,
    None when the name says neither (KerasTuner's rule for metric names)."""
    base = name.removeprefix("val_").lower()
    if any(word in base for word in _MINIMIZED):
        return "minimize"
    if any(word in base for word in _MAXIMIZED):
        return "maximize"
    return None


@dataclass(frozen=True)
class Spec:
    """One hyperparameter as declared: what a second declaration of the same name must match.

    Attributes:
        name: the hyperparameter.
        kind: "int", "float", "choice", "boolean" or "fixed".
        min_value: lowest value (numbers).
        max_value: highest value (numbers).
        step: the step between values (numbers), if any.
        sampling: "linear", "log" or "reverse_log" (numbers; the last is sampled linearly).
        values: the choices (``Choice``), or the value (``Fixed``).
        default: the declared default.
        conditions: ``(parent name, parent values)`` of the enclosing conditional scopes.
    """

    name: str
    kind: str
    min_value: float | None = None
    max_value: float | None = None
    step: float | None = None
    sampling: str | None = None
    values: tuple[Scalar, ...] = ()
    default: Any = None
    conditions: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()

    def describe(self) -> str:
        if self.kind in ("int", "float"):
            step = f", step={self.step}" if self.step is not None else ""
            return f"{self.kind.capitalize()}({self.min_value}..{self.max_value}{step}, sampling={self.sampling})"
        if self.kind == "choice":
            return f"Choice({list(self.values)})"
        if self.kind == "fixed":
            return f"Fixed({self.values[0]!r})"
        return "Boolean()"

    @property
    def ordered(self) -> bool:
        """KerasTuner's ``Choice.ordered``: whether the choices are numbers (booleans are not)."""
        return bool(self.values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def get_config(self) -> dict[str, Any]:
        """KerasTuner's config of one hyperparameter (what its ``search_space_summary`` prints)."""
        return {"name": self.name, **({} if self.kind == "fixed" else {"default": self.default}),
                "conditions": [{"class_name": "Parent", "config": {"name": parent, "values": list(wanted)}}
                               for parent, wanted in self.conditions],
                **({"min_value": self.min_value, "max_value": self.max_value, "step": self.step,
                    "sampling": self.sampling} if self.kind in ("int", "float") else {}),
                **({"values": list(self.values), "ordered": self.ordered} if self.kind == "choice" else {}),
                **({"value": self.values[0]} if self.kind == "fixed" else {})}

    def same_space(self, other: Spec) -> bool:
        """Whether both declare the same values (defaults and scopes may differ)."""
        keys = ("kind", "min_value", "max_value", "step", "sampling", "values")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class Int(Spec):
    """KerasTuner's ``Int`` hyperparameter, as ``hp.space`` holds it."""


class Float(Spec):
    """KerasTuner's ``Float`` hyperparameter, as ``hp.space`` holds it."""


class Choice(Spec):
    """KerasTuner's ``Choice`` hyperparameter, as ``hp.space`` holds it."""


class Boolean(Spec):
    """KerasTuner's ``Boolean`` hyperparameter, as ``hp.space`` holds it."""


class Fixed(Spec):
    """KerasTuner's ``Fixed`` hyperparameter, as ``hp.space`` holds it."""


_SPECS: dict[str, type[Spec]] = {"int": Int, "float": Float, "choice": Choice, "boolean": Boolean, "fixed": Fixed}
"""The class of each kind of :class:`Spec`, named as KerasTuner's (``type(hp.space[0]).__name__``, a config's
``class_name``)."""


def spec_of_kind(name: str, kind: str, *args: Any, **kwargs: Any) -> Spec:
    """A declaration of ``kind``, of KerasTuner's class for it (:class:`Int`, :class:`Choice`, ...)."""
    return _SPECS[kind](name, kind, *args, **kwargs)


@dataclass
class HyperParameters:
    """KerasTuner's ``HyperParameters`` whose values come from an Optuna trial.

    Build one per trial with :meth:`for_trial`, or with :meth:`fixed` from known values (what
    ``Tuner.get_best_hyperparameters`` returns: ``build_model(best_hp)`` rebuilds the best model).
    """

    trial: Any = None
    """The Optuna trial (or ``FixedTrial``) the values come from; None gives every hyperparameter its default."""
    values: dict[str, Any] = field(default_factory=dict)
    """The active hyperparameters' values, by name (as in KerasTuner)."""
    space: list[Spec] = field(default_factory=list)
    """Every declaration, in order (as KerasTuner's ``hp.space``)."""
    tuned: frozenset[str] | None = None
    """KerasTuner's ``tune_new_entries=False``: only these names are searched; others take their default."""
    grid: bool = False
    """For a grid search: a range with no step is sampled as :data:`GRID_POINTS` values spread over it."""
    _specs: dict[str, Spec] = field(default_factory=dict, repr=False)
    _overrides: set[str] = field(default_factory=set, repr=False)
    """Names a preset declared (KerasTuner's ``hyperparameters=``): the build function's own ranges do not count."""
    _scopes: list[tuple[str, tuple[Scalar, ...]]] = field(default_factory=list, repr=False)
    _names: list[str] = field(default_factory=list, repr=False)
    """The open :meth:`name_scope` names."""

    @classmethod
    def for_trial(cls, trial: optuna.trial.BaseTrial, preset: HyperParameters | None = None,
                  tune_new_entries: bool = True, *, grid: bool = False) -> HyperParameters:
        """The trial's hyperparameters; with KerasTuner's ``hyperparameters=preset``, its ``Fixed`` values hold
        whatever the build function declares, and with ``tune_new_entries=False`` only the preset's names are
        searched (the others take their defaults); ``grid`` for a grid search."""
        hp = cls(trial=trial, grid=grid)
        if preset is not None:
            for spec in preset.space:
                hp._replay(spec)
            if not tune_new_entries:
                hp.tuned = frozenset(spec.name for spec in preset.space)
        return hp

    @classmethod
    def fixed(cls, values: dict[str, Any], space: Sequence[Spec] = ()) -> HyperParameters:
        """Hyperparameters holding ``values``, with ``space`` declared: as KerasTuner's, declaring a name they hold
        returns its value, and a new name its default."""
        hp = cls(values=dict(values))
        for spec in space:
            hp._register(spec)
        return hp

    @property
    def trial_label(self) -> str:
        number = getattr(self.trial, "number", None)
        return f"trial {number}" if isinstance(number, int) else "this trial"

    # ------------------------------------------------------------ KerasTuner's methods

    def Int(self, name: str, min_value: int, max_value: int, step: int | None = None,
            sampling: str = "linear", default: int | None = None, parent_name: str | None = None,
            parent_values: Sequence[Scalar] | None = None) -> Any:
        """An integer in ``[min_value, max_value]`` (both included), every ``step`` (default 1)."""
        name = self._scoped(name)
        sampling = _sampling(name, sampling, step)
        if min_value > max_value:
            raise ConfigError(f"hp.Int {name!r}: min_value <= max_value must hold, but got "
                              f"min_value={min_value}, max_value={max_value}")
        step = (1 if sampling == "linear" else None) if step is None else int(step)  # KerasTuner's default
        top = int(max_value) if sampling == "log" or not step else \
            int(min_value) + (int(max_value) - int(min_value)) // step * step  # the last value on the grid
        spec = spec_of_kind(name, "int", int(min_value), int(max_value), step, sampling,
                    default=min_value if default is None else default)
        if sampling == "log" and (step is not None or self.grid):  # KerasTuner's multiplier: 32, 64, ... for 2
            grid = (sorted({round(value) for value in _multiples(min_value, max_value, step)}) if step
                    else sorted({min(int(v), max_value) for v in _spread(min_value, max_value + 1, "log")}))
            return self._declare(spec, parent_name, parent_values,
                                 lambda trial: trial.suggest_categorical(name, grid))
        return self._declare(spec, parent_name, parent_values, lambda trial: trial.suggest_int(
            name, int(min_value), top, step=int(step or 1), log=sampling == "log"))

    def Float(self, name: str, min_value: float, max_value: float, step: float | None = None,
              sampling: str = "linear", default: float | None = None, parent_name: str | None = None,
              parent_values: Sequence[Scalar] | None = None) -> Any:
        """A float in ``[min_value, max_value]``, on a linear or log scale, every ``step`` if given."""
        name = self._scoped(name)
        sampling = _sampling(name, sampling, step)
        if not min_value <= max_value or (sampling == "log" and min_value <= 0):
            raise ConfigError(f"hp.Float {name!r}: min_value <= max_value (and min_value > 0 with log sampling) "
                              f"must hold, but got min_value={min_value}, max_value={max_value}")
        spec = spec_of_kind(name, "float", float(min_value), float(max_value), None if step is None else float(step),
                    sampling, default=min_value if default is None else default)
        if (sampling == "log" and step is not None) or (self.grid and step is None):
            grid = (_multiples(float(min_value), float(max_value), float(step)) if step is not None
                    else _spread(float(min_value), float(max_value), sampling))
            return self._declare(spec, parent_name, parent_values,
                                 lambda trial: trial.suggest_categorical(name, grid))
        top = float(max_value) if step is None else round(  # the last value on the grid, without 0.1 * 3's error
            float(min_value) + math.floor((float(max_value) - float(min_value)) / step + 1e-9) * step, 12)
        return self._declare(spec, parent_name, parent_values, lambda trial: trial.suggest_float(
            name, float(min_value), top, step=step, log=sampling == "log"))

    def Choice(self, name: str, values: Sequence[Scalar], ordered: bool | None = None,
               default: Scalar = None, parent_name: str | None = None,
               parent_values: Sequence[Scalar] | None = None) -> Any:
        """One of ``values`` (ints, floats, strings or booleans; NumPy's, as ``np.arange(8, 33, 8)`` gives, too)."""
        from mltune.data.columns import plain_value  # pandas is loaded by then: a Tuner reads tables

        name = self._scoped(name)
        choices = tuple(plain_value(value) for value in values)
        if not choices:
            raise ConfigError(f"hp.Choice {name!r}: values must not be empty, but got {list(values)}")
        spec = spec_of_kind(name, "choice", values=choices, default=choices[0] if default is None else default)
        return self._declare(spec, parent_name, parent_values,
                             lambda trial: trial.suggest_categorical(name, list(choices)))

    def Boolean(self, name: str, default: bool = False, parent_name: str | None = None,
                parent_values: Sequence[Scalar] | None = None) -> Any:
        """True or False."""
        name = self._scoped(name)
        spec = spec_of_kind(name, "boolean", values=(False, True), default=default)
        return self._declare(spec, parent_name, parent_values,
                             lambda trial: trial.suggest_categorical(name, [False, True]))

    def Fixed(self, name: str, value: Scalar, parent_name: str | None = None,
              parent_values: Sequence[Scalar] | None = None) -> Any:
        """A value that is recorded with the trial but not searched."""
        name = self._scoped(name)
        spec = spec_of_kind(name, "fixed", values=(value,), default=value)
        return self._declare(spec, parent_name, parent_values, lambda trial: value)

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Hyperparameters declared inside are active only while ``parent_name`` has one of ``parent_values``;
        inactive ones return None and are not sampled."""
        parent_name = self._scoped(parent_name)
        if parent_name not in self._specs:
            raise ConfigError(f"hp.conditional_scope: the parent hyperparameter must be declared first, "
                              f"but got {parent_name!r} (declared: {', '.join(self._specs) or 'none'})")
        wanted = tuple(parent_values) if isinstance(parent_values, (list, tuple)) else (parent_values,)
        self._scopes.append((parent_name, wanted))
        try:
            yield
        finally:
            self._scopes.pop()

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[None]:
        """KerasTuner's: hyperparameters declared inside are named ``<name>/<their name>`` (scopes nest), and
        :meth:`get` inside finds them by their own name."""
        self._names.append(str(name))
        try:
            yield
        finally:
            self._names.pop()

    def _scoped(self, name: str) -> str:
        return "/".join([*self._names, str(name)])

    def get(self, name: str) -> Any:
        """The value of an active hyperparameter (by its name in the current :meth:`name_scope`).

        Raises:
            ValueError: it is declared but inactive (its conditional scope's parent has another value).
            KeyError: it is not declared.
        """
        name = self._scoped(name)
        if name in self.values:
            return self.values[name]
        if name in self._specs:
            raise ValueError(f"{name} is currently inactive.")
        raise KeyError(f"{name} does not exist.")

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        """Whether ``name`` is declared and active, as in KerasTuner."""
        return self._scoped(name) in self.values

    def is_active(self, name: str | Spec) -> bool:
        """Whether a hyperparameter (by name in the current :meth:`name_scope`, or as declared) holds a value."""
        return (name.name if isinstance(name, Spec) else self._scoped(name)) in self.values

    def _active(self, conditions: Sequence[tuple[str, tuple[Scalar, ...]]]) -> bool:
        """Whether every ``(parent, values)`` condition holds: each parent has one of its values."""
        return all(self.values.get(parent) in wanted for parent, wanted in conditions)

    def merge(self, hps: HyperParameters | Sequence[Spec], overwrite: bool = True) -> None:
        """KerasTuner's: declares ``hps``' hyperparameters (another ``HyperParameters`` or its ``space``) here, each
        at its default where active; with ``overwrite=False`` a name declared here already keeps its own."""
        for spec in hps.space if isinstance(hps, HyperParameters) else list(hps):
            if spec.name in self._specs and not overwrite:
                continue
            self._register(spec)
            if self._active(spec.conditions):
                self.values[spec.name] = spec.default

    def get_config(self) -> dict[str, Any]:
        """KerasTuner's form: ``{"space": [{"class_name": "Int", "config": {...}}, ...], "values": {...}}``."""
        space = [{"class_name": type(spec).__name__, "config": spec.get_config()} for spec in self.space]
        return {"space": space, "values": dict(self.values)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HyperParameters:
        """Hyperparameters of :meth:`get_config`'s form (KerasTuner's): its space declared and its values held."""
        return cls.fixed(dict(config.get("values", {})), [_spec_of(entry) for entry in config.get("space", [])])

    def copy(self) -> HyperParameters:
        return HyperParameters.from_config(self.get_config())

    # ------------------------------------------------------------ sampling

    def _register(self, spec: Spec) -> None:
        self._specs[spec.name] = spec
        self.space.append(spec)

    def _replay(self, spec: Spec) -> None:
        """Declares a preset's hyperparameter first (in its conditional scopes), so that it overrides the build
        function's of the same name."""
        scopes, self._scopes = self._scopes, list(spec.conditions)
        try:
            if spec.kind == "fixed":
                self.Fixed(spec.name, spec.values[0])
                return
            if spec.kind == "choice":
                self.Choice(spec.name, list(spec.values), default=spec.default)
            elif spec.kind == "boolean":
                self.Boolean(spec.name, default=bool(spec.default))
            else:
                declare = self.Int if spec.kind == "int" else self.Float
                declare(spec.name, spec.min_value, spec.max_value, step=spec.step,  # type: ignore[arg-type]
                        sampling=spec.sampling or "linear", default=spec.default)
            self._overrides.add(spec.name)
        finally:
            self._scopes = scopes

    def _declare(self, spec: Spec, parent_name: str | None, parent_values: Sequence[Scalar] | None,
                 suggest: Any) -> Any:
        scopes = list(self._scopes)
        if parent_name is not None:
            wanted = tuple(parent_values) if isinstance(parent_values, (list, tuple)) else (parent_values,)
            scopes.append((parent_name, wanted))
        spec = dataclasses.replace(spec, conditions=tuple(scopes))
        known = self._specs.get(spec.name)
        if known is not None and ((known.kind == "fixed" and spec.kind != "fixed") or spec.name in self._overrides):
            return self.values.get(spec.name)  # KerasTuner's way to fix or redefine one: declared before build
        if known is not None and self.trial is not None and not known.same_space(spec):
            raise ConfigError(f"{self.trial_label}: hyperparameter {spec.name!r} declared twice with different "
                              f"ranges: first {known.describe()}, then {spec.describe()}")
        if known is None:
            self._register(spec)
        if not self._active(scopes):
            return None
        if spec.name in self.values:
            return self.values[spec.name]
        if self.trial is None or (self.tuned is not None and spec.name not in self.tuned):
            value = spec.default
        elif spec.kind == "fixed":
            value = spec.values[0]
        else:
            value = suggest(self.trial)
        self.values[spec.name] = value
        return value


def _spec_of(entry: dict[str, Any]) -> Spec:
    """A :class:`Spec` from one entry of a config's ``space`` (KerasTuner's form, as :meth:`HyperParameters.get_config`
    writes it)."""
    kinds = {cls.__name__: kind for kind, cls in _SPECS.items()}
    config, kind = entry.get("config", {}), kinds.get(entry.get("class_name", ""))
    if kind is None or "name" not in config:
        raise ConfigError(f"hyperparameters config: each space entry needs a class_name of {sorted(kinds)} and a "
                          f"name, but got {entry!r}")
    conditions = tuple((str(c["config"]["name"]), tuple(c["config"]["values"])) for c in config.get("conditions", []))
    values = (tuple(config.get("values", ())) if kind == "choice" else (False, True) if kind == "boolean"
              else (config.get("value"),) if kind == "fixed" else ())
    default = config.get("value") if kind == "fixed" else config.get("default")
    return spec_of_kind(str(config["name"]), kind, config.get("min_value"), config.get("max_value"), config.get("step"),
                config.get("sampling"), values, default, conditions)


def _sampling(name: str, sampling: str | None, step: float | None) -> str:
    """The scale of a range. KerasTuner's ``reverse_log`` (denser near ``max_value``) is kept in the declaration
    and sampled linearly: Optuna's distributions have no such scale."""
    sampling = (sampling or "linear").lower()
    if sampling not in ("linear", "log", "reverse_log"):
        raise ConfigError(f"hp {name!r}: sampling must be 'linear', 'log' or 'reverse_log', but got {sampling!r}")
    if sampling == "log" and step is not None and step <= 1:
        raise ConfigError(f"hp {name!r}: with log sampling the step multiplies, so it must be > 1, "
                          f"but got step={step}")
    return sampling


GRID_POINTS = 10
"""How many values a grid search tries of a range with no step (KerasTuner's ``GridSearch`` picks 10)."""


def _spread(low: float, high: float, sampling: str) -> list[float]:
    """The middles of :data:`GRID_POINTS` equal parts of ``low`` to ``high`` on the range's scale (KerasTuner's grid:
    0.05, 0.15, ..., 0.95 for 0 to 1)."""
    shares = [(index + 0.5) / GRID_POINTS for index in range(GRID_POINTS)]
    if sampling == "log":
        return [low * (high / low) ** share for share in shares]
    return [low + (high - low) * share for share in shares]


def _multiples(low: float, high: float, step: float) -> list[float]:
    """``low``, ``low * step``, ``low * step**2``, ... up to ``high``: the values of KerasTuner's log sampling with
    a step (sampled as choices, so each value is as likely as the next, as on a log scale)."""
    count = int(math.log(high / low, step) + 1e-8) + 1
    return [low * step**index for index in range(count)]



class HyperModel:
    """KerasTuner's ``HyperModel`` base class by name: subclass it and write ``build(hp)`` (and, to train
    differently, ``fit(hp, model, *args, **kwargs)``). A ``keras_tuner.HyperModel`` works as well: a Tuner uses
    any object with these methods."""

    def __init__(self, name: str | None = None, tunable: bool = True) -> None:
        self.name, self.tunable = name, tunable

    def build(self, hp: HyperParameters) -> Any:
        raise NotImplementedError("a HyperModel subclass must define build(hp)")

    def fit(self, hp: HyperParameters, model: Any, *args: Any, **kwargs: Any) -> Any:
        from mltune.model.training import build_optimizer

        build_optimizer(model)
        return model.fit(*args, **kwargs)
