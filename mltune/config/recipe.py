"""Recipes: the YAML description of a study, parsed into typed, frozen objects and validated once.

Every error names the file, the field path, the broken rule and the bad value, e.g.
``recipes/x.yaml: search.learning_rate: low must be > 0 for a log-scale float, but got low=0.0``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mltune.errors import ConfigError
from mltune.families import FAMILIES
from mltune.tasks import METRICS, TASKS, Direction

Scalar = bool | int | float | str | None
DATASETS = {
    "digits": "classification",
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- search space


class _Param(_Frozen):
    when: dict[str, Scalar | list[Scalar]] | None = None
    """Sample this parameter only when each named, earlier parameter has (one of) the given value(s)."""
    per_layer: str | None = None
    """Name of the layer-count parameter: one value per layer, as ``<name>_0``, ``<name>_1``, ..."""
    grid: tuple[Scalar, ...] | None = None
    """The values the grid sampler tries (defaults to the choices, or every step of an int range)."""
    default: Scalar | None = None
    """The value the first trial of a new study tries (KerasTuner's ``default=``): a known-good configuration
    for the sampler to start from. Parameters without one are sampled in that trial."""

    def _check_default(self, admits: bool) -> None:
        if self.default is not None and not admits:
            raise ValueError(f"default must be a value the parameter can take, but got default={self.default!r}")


class FloatParam(_Param):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        if self.step is not None and (self.step <= 0 or self.log):
            raise ValueError(f"step must be > 0 and cannot be combined with log, but got step={self.step}")
        self._check_default(_number(self.default) and self.low <= float(self.default) <= self.high)  # type: ignore[arg-type]
        return self


class IntParam(_Param):
    type: Literal["int"]
    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.step < 1 or (self.log and self.step != 1):
            raise ValueError(f"step must be >= 1 (and 1 with log), but got step={self.step}")
        self._check_default(_number(self.default) and float(self.default).is_integer()  # type: ignore[arg-type]
                            and self.low <= self.default <= self.high)  # type: ignore[operator]
        return self


class CategoricalParam(_Param):
    type: Literal["categorical"]
    choices: tuple[Scalar, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> CategoricalParam:
        self._check_default(self.default in self.choices)
        return self


class FixedParam(_Param):
    type: Literal["fixed"]
    value: Scalar


ParamSpec = Annotated[FloatParam | IntParam | CategoricalParam | FixedParam, Field(discriminator="type")]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(low: float, high: float, log: bool) -> None:
    if low >= high:
        raise ValueError(f"low must be < high, but got low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"low must be > 0 for a log scale, but got low={low}")


# ---------------------------------------------------------------- samplers and pruners


class TPESamplerSpec(_Frozen):
    name: Literal["tpe"]
    n_startup_trials: int = Field(10, ge=0)
    multivariate: bool = True
    constant_liar: bool = True


class RandomSamplerSpec(_Frozen):
    name: Literal["random"]


class GridSamplerSpec(_Frozen):
    name: Literal["grid"]


class GPSamplerSpec(_Frozen):
    name: Literal["gp"]
    n_startup_trials: int = Field(10, ge=0)


class CmaEsSamplerSpec(_Frozen):
    name: Literal["cmaes"]
    n_startup_trials: int = Field(1, ge=0)


SamplerSpec = Annotated[
    TPESamplerSpec | RandomSamplerSpec | GridSamplerSpec | GPSamplerSpec | CmaEsSamplerSpec,
    Field(discriminator="name"),
]


class NoPrunerSpec(_Frozen):
    name: Literal["none"]


class MedianPrunerSpec(_Frozen):
    name: Literal["median"]
    n_startup_trials: int = Field(5, ge=0)
    n_warmup_steps: int = Field(2, ge=0)


class SuccessiveHalvingPrunerSpec(_Frozen):
    name: Literal["successive_halving"]
    min_resource: int = Field(1, ge=1)
    reduction_factor: int = Field(3, ge=2)


class HyperbandPrunerSpec(_Frozen):
    name: Literal["hyperband"]
    min_resource: int = Field(1, ge=1)
    max_resource: int | Literal["auto"] = "auto"
    reduction_factor: int = Field(3, ge=2)


class WilcoxonPrunerSpec(_Frozen):
    """k-fold studies: after each fold, a Wilcoxon signed-rank test against the best trial's folds (Optuna's
    ``WilcoxonPruner``) stops a configuration that is significantly worse before its remaining folds train."""

    name: Literal["wilcoxon"]
    p_threshold: float = Field(0.1, gt=0, lt=1)
    n_startup_steps: int = Field(2, ge=0)


PrunerSpec = Annotated[
    NoPrunerSpec | MedianPrunerSpec | SuccessiveHalvingPrunerSpec | HyperbandPrunerSpec | WilcoxonPrunerSpec,
    Field(discriminator="name"),
]

# ---------------------------------------------------------------- the rest of a recipe


KINDS = ("numeric", "integer", "boolean", "categorical", "ordinal", "text", "date", "drop")
Kind = Literal["numeric", "integer", "boolean", "categorical", "ordinal", "text", "date", "drop"]


class ColumnSpec(_Frozen):
    """A column's kind as the recipe gives it (``data.columns.NAME``), instead of the inferred one."""

    kind: Kind
    order: tuple[str, ...] | None = None
    """The categories of an ordinal column, lowest first."""

    @model_validator(mode="after")
    def _order_for_ordinal(self) -> ColumnSpec:
        if self.kind == "ordinal" and not self.order:
            raise ValueError("an ordinal column needs `order` (its categories, lowest first), but got none")
        if self.kind != "ordinal" and self.order is not None:
            raise ValueError(f"`order` applies to kind ordinal only, but got kind={self.kind!r}")
        if self.order is not None and len(set(self.order)) != len(self.order):
            raise ValueError(f"`order` must not repeat a category, but got {list(self.order)}")
        return self


class DataSpec(_Frozen):
    dataset: str | None = None
    """A scikit-learn bundled dataset: digits, iris, wine, breast_cancer or diabetes."""
    path: Path | None = None
    """A CSV or Parquet file (relative paths are taken from the working directory), or a NumPy ``.npz`` file of
    images: ``x`` of shape (N, H, W) or (N, H, W, C) and ``y`` (the target, named ``y``)."""
    target: str | None = None
    features: tuple[str, ...] | None = None
    """Feature columns; by default every column but the target."""
    separator: str = ","
    column_names: tuple[str, ...] | None = None
    """Names for the columns of a text file with no header row (its first line is data). Without them, a file whose
    first line is data (only numbers, or a number with a fraction such as ``18.0``) is read so too, its columns
    named ``column_1`` ... ``column_N``."""
    decimal: Literal[".", ","] = "."
    """The decimal mark of a CSV's numbers: ``","`` for files written with decimal commas (``3,14``), which
    usually separate columns with ``;``."""
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    """Column kinds that override the inferred ones, e.g. ``{grade: {kind: ordinal, order: [C, B, A]}}``."""
    class_weights: Literal["none", "balanced"] = "none"
    """``balanced`` weighs each class's rows by the inverse of its share of the training rows (classification)."""

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str | None) -> str | None:
        if value is not None and value not in DATASETS:
            raise ValueError(f"must be one of {', '.join(DATASETS)}, but got {value!r}")
        return value

    @field_validator("column_names")
    @classmethod
    def _unique_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = tuple(str(name).strip() for name in value)
        repeated = sorted({name for name in names if names.count(name) > 1})
        if not names or "" in names or repeated:
            raise ValueError(f"must be one name per column, each given once, but got {list(value)!r}")
        return names

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().absolute()

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.dataset is None) == (self.path is None):
            raise ValueError(
                f"give exactly one of `dataset` or `path`, but got dataset={self.dataset!r}, path={self.path}"
            )
        if self.path is not None and table_format(self.path) is None:
            sheet = " (save the spreadsheet as CSV)" if self.path.suffix.lower() in (".xls", ".xlsx", ".ods") else ""
            raise ValueError(f"path must end in .csv, .tsv, .txt or .data (compressed or not: .csv.gz, ...), "
                             f".parquet, or .npz for images, but got {self.path.name!r}{sheet}")
        if self.decimal == self.separator:
            raise ValueError(f"decimal and separator must differ, but both are {self.decimal!r} (a file with decimal "
                             "commas usually separates columns with ';')")
        return self


TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".data")
"""Files of delimited text (the separator is the recipe's, or sniffed from the header)."""
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")
"""A text file compressed so is read as it is (pandas decompresses it)."""


def table_format(path: Path) -> str | None:
    """``"text"``, ``"parquet"`` or ``"npz"`` from a file's name (``rows.csv.gz`` is text), None for others."""
    suffixes = [s.lower() for s in path.suffixes][-2:]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        return "text" if len(suffixes) == 2 and suffixes[0] in TEXT_SUFFIXES else None
    suffix = path.suffix.lower()
    return "text" if suffix in TEXT_SUFFIXES else "parquet" if suffix in (".parquet", ".pq") else \
        "npz" if suffix == ".npz" else None


class SplitSpec(_Frozen):
    validation: float = Field(0.2, gt=0, lt=1)
    """Fraction of the development rows used to validate each trial (ignored with `folds`)."""
    folds: int | None = Field(None, ge=2)
    """k-fold cross-validation inside each trial."""
    test: float = Field(0.2, gt=0, lt=1)
    """Fraction held out for promotion only; trials never see it."""
    stratify: bool = True
    """Keep class proportions in every split (classification)."""

    @model_validator(mode="after")
    def _rows_left_to_train(self) -> SplitSpec:
        if self.folds is None and self.test + self.validation >= 1:
            raise ValueError(f"test + validation must be < 1 so that rows are left to train on, but got "
                             f"test={self.test}, validation={self.validation} (sum {self.test + self.validation:g})")
        return self


class ModelSpec(_Frozen):
    family: str = "mlp"

    @field_validator("family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value not in FAMILIES:
            raise ValueError(f"must be one of {', '.join(FAMILIES)}, but got {value!r}")
        return value


class ObjectiveSpec(_Frozen):
    metric: str | None = None
    """Defaults to accuracy (classification), rmse (regression; mae when the target is a score or count, a few
    whole-number values) or mse (autoencoder)."""
    direction: Literal["maximize", "minimize"] | None = None
    """Defaults to the metric's natural direction."""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRICS:
            raise ValueError(f"must be one of {', '.join(METRICS)}, but got {value!r}")
        return value


class BudgetSpec(_Frozen):
    n_trials: int | None = Field(20, ge=1)
    timeout: float | None = Field(None, gt=0)
    """Seconds; the study stops starting new trials after this."""


class PromotionSpec(_Frozen):
    model_name: str | None = None
    """Registered model name; defaults to the recipe's name."""
    margin: float = Field(0.0, ge=0)
    """The challenger must beat the champion by more than this on the test split."""
    baseline: bool = True
    """Fit scikit-learn's HistGradientBoosting (defaults) on the same split and report it beside the network."""
    refit: bool = False
    """Register the best configuration refitted on all development rows for its best epoch count (a ``refit``
    run under the study's parent run) instead of the best trial's own model."""
    ensemble: int = Field(1, ge=1, le=32)
    """Register the average of this many models of the best configuration (the best trial's own and the others
    trained with other seeds on the same rows; an ``ensemble`` run under the study's parent run). 1: one model."""
    epochs: int | None = Field(None, ge=1)
    """Train the registered model's configuration anew for this many epochs (``patience`` scaled alike) instead
    of the trial's: a study that searched with short trials registers a model trained in full. Each of the
    ``ensemble`` members; with ``refit`` and no ensemble, the one model on all development rows. None: as the trial
    trained."""


class RetuneSpec(_Frozen):
    warm_start_best: int = Field(3, ge=0)
    """``mltune retune`` first tries the best k configurations of this recipe's previous study."""
    warm_start_champion: bool = True
    """``mltune retune`` first tries the current champion's configuration."""


class Recipe(_Frozen):
    """A validated study description. Build it with :func:`load_recipe`."""

    name: str
    seed: int = 0
    experiment_name: str | None = None
    study_name: str | None = None
    task: Literal["classification", "regression", "autoencoder"] = "classification"
    data: DataSpec
    split: SplitSpec = SplitSpec()
    model: ModelSpec = ModelSpec()
    objective: ObjectiveSpec = ObjectiveSpec()
    search: dict[str, ParamSpec] = Field(default_factory=dict)
    sampler: SamplerSpec = TPESamplerSpec(name="tpe")
    pruner: PrunerSpec = HyperbandPrunerSpec(name="hyperband")
    budget: BudgetSpec = BudgetSpec()
    promotion: PromotionSpec = PromotionSpec()
    retune: RetuneSpec = RetuneSpec()

    @field_validator("search", mode="before")
    @classmethod
    def _scalars_are_fixed(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, dict) else {"type": "fixed", "value": v} for k, v in value.items()}
        return value

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        family = FAMILIES[self.model.family]
        if self.task not in family.tasks:
            raise _at(("model", "family"), f"family {self.model.family!r} cannot do task {self.task!r}")
        uses_target = TASKS[self.task].uses_target
        if self.data.dataset and uses_target and DATASETS[self.data.dataset] != self.task:
            raise _at(("data", "dataset"), f"{self.data.dataset!r} is a {DATASETS[self.data.dataset]} dataset, "
                      f"but task is {self.task!r}")
        images = self.data.path is not None and table_format(self.data.path) == "npz"
        if self.data.path is not None and uses_target and not self.data.target and not images:
            raise _at(("data", "target"), f"a {self.task} recipe with `data.path` needs `data.target`")
        if self.objective.metric and self.task not in METRICS[self.objective.metric].tasks:
            raise _at(("objective", "metric"), f"{self.objective.metric!r} does not apply to task {self.task!r}")
        self._check_search(family.hyperparameters)
        if self.pruner.name == "wilcoxon" and (self.split.folds or 1) < 2:
            raise _at(("pruner", "name"), "'wilcoxon' compares trials fold by fold and needs `split.folds` >= 2, "
                      f"but got folds={self.split.folds}")
        if self.budget.n_trials is None and self.budget.timeout is None and self.sampler.name != "grid":
            raise _at(("budget",), "give n_trials or timeout (or both)")
        self._check_names()
        return self

    def _check_names(self) -> None:
        """The names MLflow and Optuna will be given, checked now rather than after the study is made."""
        names: tuple[tuple[NameKind, tuple[str, ...], str | None], ...] = (
            ("experiment", ("experiment_name",), self.experiment_name),
            ("study", ("study_name",), self.study_name),
            ("model", ("promotion", "model_name"), self.promotion.model_name))
        for kind, field, given in names:
            broken = check_name(kind, self.name if given is None else given)
            if broken and given is not None:
                raise _at(field, broken)
            if broken:
                raise _at(("name",), f"{broken} (`name` is the {NAME_RULES[kind][1]} unless "
                                     f"`{'.'.join(field)}` is set)")

    def _check_search(self, known: dict[str, Any]) -> None:
        seen: dict[str, ParamSpec] = {}
        for name, spec in self.search.items():
            where = ("search", name)
            if name not in known:
                raise _at(where, f"unknown hyperparameter for family {self.model.family!r}, "
                          f"known: {', '.join(known)}")
            rule = known[name]
            for label, value in _values(spec):
                broken = rule.check(value)
                if broken:
                    raise _at(where, f"{label} {broken}, but got {label}={value!r}")
            for other, wanted in (spec.when or {}).items():
                if other not in seen:
                    raise _at((*where, "when"), f"refers to {other!r}, which must be declared before {name!r}")
                for value in wanted if isinstance(wanted, list) else [wanted]:
                    broken = known[other].check(value)
                    if broken:
                        raise _at((*where, "when"), f"{other} {broken}, but got {value!r}")
            if spec.per_layer is not None:
                layers = rule.per_layer_of
                if layers is None:
                    varying = ", ".join(f"`{n}`" for n, h in known.items() if h.per_layer_of) or "none"
                    raise _at((*where, "per_layer"), f"only {varying} can vary per layer, but got {name!r}")
                if spec.per_layer != layers:
                    raise _at((*where, "per_layer"), f"must be {layers!r}, but got {spec.per_layer!r}")
                if layers not in seen:
                    raise _at((*where, "per_layer"), f"needs `{layers}` declared before {name!r} in `search`")
            if self.sampler.name == "grid" and isinstance(spec, FloatParam) and spec.grid is None \
                    and spec.step is None:
                raise _at(where, "the grid sampler needs `grid` values or a `step` for a float")
            seen[name] = spec

    # ------------------------------------------------------------ derived values

    @property
    def metric(self) -> str:
        """The objective metric's name, with the task's default filled in."""
        return self.objective.metric or TASKS[self.task].default_metric

    @property
    def direction(self) -> Direction:
        return self.objective.direction or METRICS[self.metric].direction

    @property
    def model_name(self) -> str:
        return self.promotion.model_name or self.name

    def to_yaml(self) -> str:
        """The resolved recipe, with every default written out."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


NameKind = Literal["experiment", "study", "model"]
NAME_RULES: dict[str, tuple[str, str, int, str]] = {
    "experiment": ("an", "MLflow experiment name", 500, "MLflow's limit"),
    "study": ("a", "study name", 250, "MLflow keeps a run name in 250, and the study's parent run is named after it"),
    "model": ("a", "registered model name", 256, "MLflow's Model Registry keeps 256"),
}
"""Per kind of name: its article, what it is called, its longest length, and why."""


def check_name(kind: NameKind, name: str) -> str | None:
    """Why MLflow (or Optuna) would refuse ``name`` as an experiment, study or registered model name, or None."""
    article, label, limit, why = NAME_RULES[kind]
    if not name.strip():
        return f"{article} {label} must not be blank, but got {name!r}"
    if len(name) > limit:
        return f"{article} {label} must be at most {limit} characters ({why}), but got {len(name)}: {name[:40]!r}..."
    if kind == "model" and ("/" in name or ":" in name):
        return f"{article} {label} must not contain '/' or ':' (MLflow's Model Registry refuses them), but got {name!r}"
    if kind == "model" and (name == "." or name.startswith("..")):
        return f"{article} {label} must not be '.' or begin with '..' (MLflow's Model Registry refuses it), " \
               f"but got {name!r}"
    return None


def _values(spec: ParamSpec) -> list[tuple[str, Any]]:
    if isinstance(spec, FixedParam):
        values = [("value", spec.value)]
    elif isinstance(spec, CategoricalParam):
        values = [("choice", c) for c in spec.choices]
    else:
        values = [("low", spec.low), ("high", spec.high)]
    return values + [("grid value", g) for g in spec.grid or ()]


class _FieldError(ValueError):
    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _at(loc: tuple[str, ...], message: str) -> _FieldError:
    return _FieldError(loc, message)


# ---------------------------------------------------------------- loading


def load_recipe(path: str | Path, overrides: Sequence[str] = (), *,
                labels: Mapping[str, str] | None = None) -> Recipe:
    """Reads, overrides and validates a recipe.

    Args:
        path: the YAML file.
        overrides: ``KEY=VALUE`` strings; KEY is a dot path into the recipe, VALUE is parsed as YAML.
        labels: how the user gave an override, by override (``--data x.csv`` for ``data.path="x.csv"``); an
            error in an overridden field names it (``--set KEY=VALUE`` by default) instead of the file.

    Raises:
        ConfigError: the file is missing or invalid, or an override or field breaks a rule.
    """
    source = Path(path)
    try:
        raw = read_yaml(source.read_text())
    except OSError as error:
        raise ConfigError(f"{source}: cannot read the recipe ({error.strerror})") from None
    except DuplicateKey as error:
        raise ConfigError(f"{source}: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a recipe must be a mapping, but got {type(raw).__name__}")
    raw.setdefault("name", source.stem)
    return parse_recipe(apply_overrides(raw, overrides, source=source), source=str(source), overrides=overrides,
                        labels=labels)


class DuplicateKey(yaml.YAMLError):
    """A YAML mapping repeats a key (YAML forbids it; PyYAML would silently keep the last value)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults` keys may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue  # an unhashable key: the safe loader refuses it with its own message
                if first is not key_node:
                    raise DuplicateKey(f"{key}: a key may appear only once in a mapping, but got it on line "
                                       f"{first.start_mark.line + 1} and again on line {key_node.start_mark.line + 1}")
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def read_yaml(text: str) -> Any:
    """YAML as :func:`yaml.safe_load` reads it, except that a repeated mapping key raises :class:`DuplicateKey`."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def parse_recipe(raw: dict[str, Any], *, source: str = "<recipe>", overrides: Sequence[str] = (),
                 labels: Mapping[str, str] | None = None) -> Recipe:
    """Validates an already-read recipe mapping.

    An error in a field that one of ``overrides`` set names that override (its label in ``labels``, or
    ``--set KEY=VALUE``) instead of ``source``.
    """
    try:
        return Recipe.model_validate(raw)
    except ValidationError as error:
        blamed = [(_key(item), (labels or {}).get(item, f"--set {_shorten(item)}")) for item in overrides]
        raise ConfigError("\n".join(_describe(_origin(_location(e), blamed, source), e)
                                    for e in error.errors())) from None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _key(override: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in override.partition("=")[0].split("."))


def _origin(loc: tuple[str, ...], blamed: list[tuple[tuple[str, ...], str]], source: str) -> str:
    """The last override that set the field at ``loc`` (or a section holding it, or a field inside it)."""
    for key, label in reversed(blamed):
        shared = min(len(key), len(loc))
        if shared and key[:shared] == loc[:shared]:
            return label
    return source


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], *, source: Path) -> dict[str, Any]:
    """Returns a copy of ``raw`` with each ``a.b.c=value`` override applied."""
    result = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"{source}: --set {item!r}: must look like KEY=VALUE with a dot path as KEY")
        try:
            value = read_yaml(text)
        except yaml.YAMLError as error:
            if any(mark in text for mark in "{}[]"):  # a list or mapping meant, and mistyped
                raise ConfigError(f"{source}: --set {item!r}: the value is not valid YAML: {error}") from None
            value = text.strip()  # text YAML cannot read alone, such as data.decimal=, : the text itself
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"{source}: --set {item!r}: {where} is a value, not a section, "
                                  f"so it has no field {parts[depth + 1]!r}")
            node = child
        node[parts[-1]] = value
    return result


# Where pydantic puts the tag of a tagged union in an error's location (e.g. search.lr.float.low).
_TAG_POSITION = {"search": 2, "sampler": 1, "pruner": 1}
_TAGS = {tag for union in (ParamSpec, SamplerSpec, PrunerSpec) for spec in get_args(get_args(union)[0])
         for field in ("type", "name") if field in spec.model_fields
         for tag in get_args(spec.model_fields[field].annotation)}


def _location(error: Any) -> tuple[str, ...]:
    """The field path of a validation error, without pydantic's union tags."""
    inner = (error.get("ctx") or {}).get("error")
    if isinstance(inner, _FieldError):
        return inner.loc
    loc = [str(p) for p in error["loc"]]
    tag_at = _TAG_POSITION.get(loc[0]) if loc else None
    if tag_at is not None and len(loc) > tag_at and loc[tag_at] in _TAGS:
        del loc[tag_at]
    return tuple(loc)


def _describe(source: str, error: Any) -> str:
    ctx = error.get("ctx") or {}
    inner = ctx.get("error")
    where = ".".join(_location(error)) or "recipe"
    if isinstance(inner, _FieldError):
        return f"{source}: {where}: {inner}"
    message = str(inner) if isinstance(inner, ValueError) else error["msg"]
    if error["type"] == "extra_forbidden":
        return f"{source}: {where}: unknown field"
    if error["type"] == "missing":
        return f"{source}: {where}: required field is missing"
    if error["type"] == "union_tag_invalid":
        return f"{source}: {where}: {ctx.get('discriminator')} must be one of {ctx.get('expected_tags')}, " \
               f"but got {ctx.get('tag')!r}"
    if error["type"] == "union_tag_not_found":
        return f"{source}: {where}: needs a {ctx.get('discriminator')} field"
    if "but got" in message:
        return f"{source}: {where}: {message}"
    return f"{source}: {where}: {message}, but got {error['input']!r}"
