"""Recipe validation: every broken rule is a ConfigError naming the file, the field, the rule and the value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from mltune.config.recipe import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    HyperbandPrunerSpec,
    IntParam,
    MedianPrunerSpec,
    NoPrunerSpec,
    RandomSamplerSpec,
    Recipe,
    TPESamplerSpec,
    load_recipe,
    parse_recipe,
)
from mltune.errors import ConfigError

from .conftest import RECIPES, TINY

BASE: dict[str, Any] = yaml.safe_load(TINY.read_text())
ALL_RECIPES = sorted([*RECIPES.glob("*.yaml"), *TINY.parent.glob("*.yaml")])
MISSING = object()  # "write no file at all"

Mutation = Callable[[dict[str, Any]], Any]


def put(dotted: str, value: Any) -> Mutation:
    """Sets ``a.b.c`` to ``value``, creating sections on the way."""

    def change(raw: dict[str, Any]) -> dict[str, Any]:
        *sections, last = dotted.split(".")
        node = raw
        for part in sections:
            node = node.setdefault(part, {})
        node[last] = value
        return raw

    return change


def drop(dotted: str) -> Mutation:
    def change(raw: dict[str, Any]) -> dict[str, Any]:
        *sections, last = dotted.split(".")
        node = raw
        for part in sections:
            node = node[part]
        del node[last]
        return raw

    return change


def momentum_first(raw: dict[str, Any]) -> dict[str, Any]:
    """Moves `momentum` (whose `when` names `optimizer`) before `optimizer`."""
    search = raw["search"]
    raw["search"] = {"momentum": search.pop("momentum"), **search}
    return raw


def write(tmp_path: Path, raw: Any, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))  # key order matters: `when` looks backwards
    return path


def load(tmp_path: Path, change: Mutation | None = None, overrides: tuple[str, ...] = ()) -> Recipe:
    raw = copy.deepcopy(BASE)
    return load_recipe(write(tmp_path, change(raw) if change else raw), overrides)


LR = "search.learning_rate"
BAD = [
    # ------------------------------------------------------------ the file itself
    pytest.param(MISSING, (), "cannot read the recipe (No such file or directory)", id="missing-file"),
    pytest.param(lambda raw: [1, 2], (), "a recipe must be a mapping, but got list", id="not-a-mapping"),
    pytest.param(lambda raw: None, (), "data: required field is missing", id="empty-file"),
    # ------------------------------------------------------------ structure and types
    pytest.param(put("colour", "red"), (), "colour: unknown field", id="unknown-top-level-key"),
    pytest.param(put("split.fold", 3), (), "split.fold: unknown field", id="unknown-nested-key"),
    pytest.param(put(f"{LR}.lo", 0.1), (), f"{LR}.lo: unknown field", id="unknown-param-field"),
    pytest.param(
        put("seed", "abc"),
        (),
        "seed: Input should be a valid integer, unable to parse string as an integer, but got 'abc'",
        id="seed-not-an-int",
    ),
    pytest.param(
        put("seed", 1.5),
        (),
        "seed: Input should be a valid integer, got a number with a fractional part, but got 1.5",
        id="seed-fractional",
    ),
    pytest.param(
        put("task", "ranking"),
        (),
        "task: Input should be 'classification', 'regression' or 'autoencoder', but got 'ranking'",
        id="unknown-task",
    ),
    pytest.param(
        put("objective.direction", "max"),
        (),
        "objective.direction: Input should be 'maximize' or 'minimize', but got 'max'",
        id="unknown-direction",
    ),
    pytest.param(
        put("split.test", 1.5), (), "split.test: Input should be less than 1, but got 1.5", id="test-fraction-too-big"
    ),
    pytest.param(
        put("budget.n_trials", 0),
        (),
        "budget.n_trials: Input should be greater than or equal to 1, but got 0",
        id="zero-trials",
    ),
    pytest.param(put("budget.n_trials", None), (), "budget: give n_trials or timeout (or both)", id="no-budget"),
    pytest.param(
        put("promotion.epochs", 0),
        (),
        "promotion.epochs: Input should be greater than or equal to 1, but got 0",
        id="zero-promotion-epochs",
    ),
    pytest.param(
        put("search", [1, 2]), (), "search: Input should be a valid dictionary, but got [1, 2]", id="search-not-a-map"
    ),
    # ------------------------------------------------------------ ranges
    pytest.param(
        put(LR, {"type": "float", "low": 0.1, "high": 0.01}),
        (),
        f"{LR}: low must be < high, but got low=0.1, high=0.01",
        id="float-low-above-high",
    ),
    pytest.param(
        put("search.n_layers", {"type": "int", "low": 2, "high": 2}),
        (),
        "search.n_layers: low must be < high, but got low=2, high=2",
        id="int-low-equals-high",
    ),
    pytest.param(
        put(LR, {"type": "float", "low": 0.0, "high": 0.01, "log": True}),
        (),
        f"{LR}: low must be > 0 for a log scale, but got low=0.0",
        id="log-scale-low-zero",
    ),
    pytest.param(
        put(f"{LR}.step", 0.001),
        (),
        f"{LR}: step must be > 0 and cannot be combined with log, but got step=0.001",
        id="float-step-with-log",
    ),
    pytest.param(
        put("search.units.step", 0),
        (),
        "search.units: step must be >= 1 (and 1 with log), but got step=0",
        id="int-step-zero",
    ),
    pytest.param(put(f"{LR}.default", 0.5), (), f"{LR}: default must be a value the parameter can take, "
                 "but got default=0.5", id="float-default-out-of-range"),
    pytest.param(put("search.n_layers.default", 1.5), (), "search.n_layers: default must be a value the parameter "
                 "can take, but got default=1.5", id="int-default-not-whole"),
    pytest.param(put("search.optimizer.default", "adagrad"), (), "search.optimizer: default must be a value the "
                 "parameter can take, but got default='adagrad'", id="categorical-default-not-a-choice"),
    pytest.param(
        put("search.n_layers.low", 1.5),
        (),
        "search.n_layers.low: Input should be a valid integer, got a number with a fractional part, but got 1.5",
        id="int-range-fractional-bound",
    ),
    pytest.param(
        put("search.optimizer.choices", []),
        (),
        "search.optimizer.choices: Tuple should have at least 1 item after validation, not 0, but got []",
        id="no-choices",
    ),
    pytest.param(
        put(f"{LR}.type", "double"),
        (),
        f"{LR}: 'type' must be one of 'float', 'int', 'categorical', 'fixed', but got 'double'",
        id="unknown-param-type",
    ),
    pytest.param(put(LR, {"low": 0.1, "high": 1}), (), f"{LR}: needs a 'type' field", id="param-without-type"),
    # ------------------------------------------------------------ names that must be known
    pytest.param(
        put("sampler", {"name": "bayes"}),
        (),
        "sampler: 'name' must be one of 'tpe', 'random', 'grid', 'gp', 'cmaes', but got 'bayes'",
        id="unknown-sampler",
    ),
    pytest.param(
        put("sampler", "bayes"),
        (),
        "sampler: 'name' must be one of 'tpe', 'random', 'grid', 'gp', 'cmaes', but got 'bayes'",
        id="unknown-sampler-bare-string",
    ),
    pytest.param(
        put("pruner", {"name": "asha"}),
        (),
        "pruner: 'name' must be one of 'none', 'median', 'successive_halving', 'hyperband', 'wilcoxon', but got 'asha'",
        id="unknown-pruner",
    ),
    pytest.param(
        put("sampler", {"name": "random", "n_startup_trials": 3}),
        (),
        "sampler.n_startup_trials: unknown field",
        id="option-of-another-sampler",
    ),
    pytest.param(
        put("data.dataset", "mnist"),
        (),
        "data.dataset: must be one of digits, iris, wine, breast_cancer, diabetes, but got 'mnist'",
        id="unknown-dataset",
    ),
    pytest.param(
        put("objective.metric", "auc"),
        (),
        "objective.metric: must be one of accuracy, f1_macro, precision_macro, recall_macro, roc_auc, log_loss, "
        "mse, rmse, mae, r2, but got 'auc'",
        id="unknown-metric",
    ),
    pytest.param(
        put("model.family", "transformer"),
        (),
        "model.family: must be one of mlp, autoencoder, cnn, but got 'transformer'",
        id="unknown-family",
    ),
    pytest.param(
        put("search.lr", {"type": "float", "low": 0.1, "high": 1.0}),
        (),
        "search.lr: unknown hyperparameter for family 'mlp', known: learning_rate, batch_size, epochs, optimizer, "
        "momentum, weight_decay, lr_schedule, patience, loss, n_layers, units, activation, dropout, l1, l2, "
        "normalization, block, numeric_scaling, numeric_embedding, periodic_sigma, categorical_encoding, embedding_dim",
        id="unknown-hyperparameter",
    ),
    # ------------------------------------------------------------ consistency between fields
    pytest.param(
        put("objective.metric", "rmse"),
        (),
        "objective.metric: 'rmse' does not apply to task 'classification'",
        id="metric-does-not-fit-task",
    ),
    pytest.param(
        put("task", "autoencoder"),
        (),
        "model.family: family 'mlp' cannot do task 'autoencoder'",
        id="family-does-not-fit-task",
    ),
    pytest.param(
        put("task", "regression"),
        (),
        "data.dataset: 'digits' is a classification dataset, but task is 'regression'",
        id="dataset-does-not-fit-task",
    ),
    pytest.param(
        put("data.path", "<tmp>/x.csv"),
        (),
        "data: give exactly one of `dataset` or `path`, but got dataset='digits', path=<tmp>/x.csv",
        id="dataset-and-path",
    ),
    pytest.param(
        put("data", {}),
        (),
        "data: give exactly one of `dataset` or `path`, but got dataset=None, path=None",
        id="neither-dataset-nor-path",
    ),
    pytest.param(
        put("data", {"path": "<tmp>/x.xlsx", "target": "y"}),
        (),
        "data: path must end in .csv, .tsv, .txt or .data (compressed or not: .csv.gz, ...), .parquet, or .npz for "
        "images, but got 'x.xlsx' (save the spreadsheet as CSV)",
        id="path-not-csv-or-parquet",
    ),
    pytest.param(
        put("data", {"path": "<tmp>/x.csv"}),
        (),
        "data.target: a classification recipe with `data.path` needs `data.target`",
        id="path-without-target",
    ),
    # ------------------------------------------------------------ hyperparameter rules
    pytest.param(
        put("search.dropout", {"type": "float", "low": 0.0, "high": 1.0}),
        (),
        "search.dropout: high must be < 1, but got high=1.0",
        id="range-outside-hyperparameter-rule",
    ),
    pytest.param(put("search.epochs", 0), (), "search.epochs: value must be >= 1, but got value=0", id="fixed-too-low"),
    pytest.param(
        put("search.epochs", "ten"),
        (),
        "search.epochs: value must be a number (int), but got value='ten'",
        id="fixed-not-a-number",
    ),
    pytest.param(
        put("search.n_layers", 1.5),
        (),
        "search.n_layers: value must be an integer, but got value=1.5",
        id="fixed-int-fractional",
    ),
    pytest.param(
        put("search.optimizer.choices", ["adam", "lion"]),
        (),
        "search.optimizer: choice must be one of adam, adamw, sgd, rmsprop, nadam, adagrad, but got choice='lion'",
        id="unknown-choice",
    ),
    pytest.param(
        put("search.units.grid", [16, 0]),
        (),
        "search.units: grid value must be >= 1, but got grid value=0",
        id="grid-value-breaks-rule",
    ),
    # ------------------------------------------------------------ conditionals and per-layer values
    pytest.param(
        momentum_first,
        (),
        "search.momentum.when: refers to 'optimizer', which must be declared before 'momentum'",
        id="when-refers-to-later-param",
    ),
    pytest.param(
        put("search.momentum.when", {"foo": "sgd"}),
        (),
        "search.momentum.when: refers to 'foo', which must be declared before 'momentum'",
        id="when-refers-to-unknown-param",
    ),
    pytest.param(
        put("search.momentum.when", {"optimizer": ["sgd", "sgdd"]}),
        (),
        "search.momentum.when: optimizer must be one of adam, adamw, sgd, rmsprop, nadam, adagrad, but got 'sgdd'",
        id="when-value-breaks-rule",
    ),
    pytest.param(
        put("search.dropout", {"type": "float", "low": 0.0, "high": 0.5, "per_layer": "n_layers"}),
        (),
        "search.dropout.per_layer: only `units` can vary per layer, but got 'dropout'",
        id="per-layer-not-units",
    ),
    pytest.param(
        put("search.units.per_layer", "layers"),
        (),
        "search.units.per_layer: must be 'n_layers', but got 'layers'",
        id="per-layer-wrong-count",
    ),
    pytest.param(
        drop("search.n_layers"),
        (),
        "search.units.per_layer: needs `n_layers` declared before 'units' in `search`",
        id="per-layer-count-not-declared",
    ),
    # ------------------------------------------------------------ --set overrides
    pytest.param(
        None,
        ("seed.value=3",),
        "--set 'seed.value=3': seed is a value, not a section, so it has no field 'value'",
        id="set-field-under-scalar",
    ),
    pytest.param(
        None,
        ("search.epochs.low=3",),
        "--set 'search.epochs.low=3': search.epochs is a value, not a section, so it has no field 'low'",
        id="set-field-under-fixed-param",
    ),
    pytest.param(
        None,
        ("budget.n_trials",),
        "--set 'budget.n_trials': must look like KEY=VALUE with a dot path as KEY",
        id="set-without-equals",
    ),
    pytest.param(
        None,
        ("budget..n_trials=3",),
        "--set 'budget..n_trials=3': must look like KEY=VALUE with a dot path as KEY",
        id="set-empty-path-segment",
    ),
    pytest.param(
        None,
        ("sampler=grid",),
        f"{LR}: the grid sampler needs `grid` values or a `step` for a float",
        id="grid-sampler-continuous-float",
    ),
    # ------------------------------------------------------------ split sizes and names MLflow refuses
    pytest.param(
        put("split", {"test": 0.9, "validation": 0.9}),
        (),
        "split: test + validation must be < 1 so that rows are left to train on, but got test=0.9, "
        "validation=0.9 (sum 1.8)",
        id="split-leaves-no-training-rows",
    ),
    pytest.param(
        put("name", "x" * 501),
        (),
        f"name: an MLflow experiment name must be at most 500 characters (MLflow's limit), but got 501: {'x' * 40!r}"
        "... (`name` is the MLflow experiment name unless `experiment_name` is set)",
        id="name-over-mlflow-limit",
    ),
    pytest.param(
        put("study_name", "s" * 251),
        (),
        "study_name: a study name must be at most 250 characters (MLflow keeps a run name in 250, and the study's "
        f"parent run is named after it), but got 251: {'s' * 40!r}...",
        id="study-name-too-long",
    ),
    pytest.param(
        put("experiment_name", " "),
        (),
        "experiment_name: an MLflow experiment name must not be blank, but got ' '",
        id="experiment-name-blank",
    ),
    pytest.param(
        put("promotion.model_name", "team/model"),
        (),
        "promotion.model_name: a registered model name must not contain '/' or ':' (MLflow's Model Registry "
        "refuses them), but got 'team/model'",
        id="model-name-slash",
    ),
    pytest.param(
        put("promotion.model_name", "m" * 257),
        (),
        "promotion.model_name: a registered model name must be at most 256 characters (MLflow's Model Registry "
        f"keeps 256), but got 257: {'m' * 40!r}...",
        id="model-name-too-long",
    ),
    pytest.param(
        put("promotion.model_name", ".."),
        (),
        "promotion.model_name: a registered model name must not be '.' or begin with '..' (MLflow's Model "
        "Registry refuses it), but got '..'",
        id="model-name-dots",
    ),
    pytest.param(
        lambda raw: {**drop("promotion.model_name")(raw), "name": "digits:v2"},
        (),
        "name: a registered model name must not contain '/' or ':' (MLflow's Model Registry refuses them), but got "
        "'digits:v2' (`name` is the registered model name unless `promotion.model_name` is set)",
        id="name-as-model-name-with-colon",
    ),
    # ------------------------------------------------------------ several errors at once
    pytest.param(
        lambda raw: {**raw, "colour": 1, "seed": "x"},
        (),
        "seed: Input should be a valid integer, unable to parse string as an integer, but got 'x'\n"
        "<path>: colour: unknown field",
        id="two-errors-two-lines",
    ),
    pytest.param(
        put("search.units.grid", "abc"),
        (),
        "search.units.grid: Input should be a valid tuple, but got 'abc'",
        id="error-in-grid-field",
    ),
]


@pytest.mark.parametrize(("change", "overrides", "expected"), BAD)
def test_bad_recipe_is_a_config_error_naming_file_field_rule_and_value(
    tmp_path: Path, change: Any, overrides: tuple[str, ...], expected: str
) -> None:
    raw = copy.deepcopy(BASE)
    if change is MISSING:
        path = tmp_path / "recipe.yaml"
    else:
        path = write(tmp_path, change(raw) if change else raw)
        path.write_text(path.read_text().replace("<tmp>", str(tmp_path)))

    with pytest.raises(ConfigError) as excinfo:
        load_recipe(path, overrides)

    expected = expected.replace("<tmp>", str(tmp_path)).replace("<path>", str(path))
    assert str(excinfo.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (("budget.trials=3",), "--set budget.trials=3: budget.trials: unknown field"),
        (("data.targt=x",), "--set data.targt=x: data.targt: unknown field"),
        (("seed=1", "search.epochs=0"), "--set search.epochs=0: search.epochs: value must be >= 1, but got value=0"),
        (("search.learning_rate.low=0",),
         "--set search.learning_rate.low=0: search.learning_rate: low must be > 0 for a log scale, but got low=0.0"),
        (("split={test: 2}",), "--set split={test: 2}: split.test: Input should be less than 1, but got 2"),
        (("promotion.model_name=a/b",), "--set promotion.model_name=a/b: promotion.model_name: a registered model "
         "name must not contain '/' or ':' (MLflow's Model Registry refuses them), but got 'a/b'"),
        (("promotion.epochs=2.5",), "--set promotion.epochs=2.5: promotion.epochs: Input should be a valid integer, "
         "got a number with a fractional part, but got 2.5"),
    ],
    ids=["unknown-budget-field", "misspelt-target", "last-of-two", "inside-a-param", "section-set-whole",
         "model-name", "fractional-promotion-epochs"],
)
def test_set_error_names_the_override_not_the_file(
    tmp_path: Path, overrides: tuple[str, ...], expected: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, overrides=overrides)
    assert str(excinfo.value) == expected


def test_error_in_a_field_no_override_touched_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, put("colour", "red"), overrides=("seed=3",))
    assert str(excinfo.value) == f"{tmp_path / 'recipe.yaml'}: colour: unknown field"


def test_set_value_that_is_not_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError) as excinfo:
        load_recipe(path, ["seed=[1"])
    assert str(excinfo.value).startswith(f"{path}: --set 'seed=[1': the value is not valid YAML: ")


def test_set_value_that_yaml_cannot_read_alone_is_that_text(tmp_path: Path) -> None:
    from mltune.config.recipe import apply_overrides

    raw = apply_overrides({"data": {}}, ["data.decimal=,", "data.separator=;"], source=tmp_path)
    assert raw["data"] == {"decimal": ",", "separator": ";"}  # the README's keys, typed unquoted


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsearch: {epochs: 2\n")
    with pytest.raises(ConfigError) as excinfo:
        load_recipe(path)
    assert str(excinfo.value).startswith(f"{path}: not valid YAML: ")


def test_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: dup\nseed: 5\ndata: {dataset: digits}\nseed: 7\n")
    with pytest.raises(ConfigError) as excinfo:
        load_recipe(path)
    assert str(excinfo.value) == f"{path}: seed: a key may appear only once in a mapping, but got it on line 2 " \
                                 "and again on line 4"


def test_duplicate_key_in_a_nested_mapping(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: dup\ndata:\n  dataset: digits\nsplit:\n  test: 0.1\n  test: 0.3\n")
    with pytest.raises(ConfigError, match="test: a key may appear only once in a mapping, but got it on line 5 "
                                          "and again on line 6"):
        load_recipe(path)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("name: m\ndata: {dataset: digits}\nsplit: {<<: {test: 0.1, validation: 0.2}, test: 0.3}\n")
    assert load_recipe(path).split.test == 0.3


def test_folds_ignore_the_validation_fraction(tmp_path: Path) -> None:
    recipe = load(tmp_path, put("split", {"test": 0.5, "validation": 0.9, "folds": 3}))
    assert recipe.split.folds == 3


def test_parse_recipe_names_its_source() -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_recipe({"name": "x", "data": {"dataset": "digits"}, "colour": 1}, source="inline")
    assert str(excinfo.value) == "inline: colour: unknown field"


# ---------------------------------------------------------------- valid recipes


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_recipe_loads(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert recipe.metric and recipe.direction in ("maximize", "minimize")
    assert parse_recipe(yaml.safe_load(recipe.to_yaml())) == recipe  # the resolved recipe reads back the same


def test_tiny_recipe_is_parsed_into_typed_params(tmp_path: Path) -> None:
    recipe = load(tmp_path)
    search = recipe.search
    assert list(search) == ["epochs", "learning_rate", "batch_size", "n_layers", "units", "optimizer", "momentum"]
    assert search["epochs"] == FixedParam(type="fixed", value=2)
    assert search["batch_size"] == FixedParam(type="fixed", value=64)
    assert search["learning_rate"] == FloatParam(type="float", low=1e-3, high=1e-2, log=True)
    assert search["units"] == IntParam(type="int", low=16, high=32, step=16, per_layer="n_layers")
    assert search["optimizer"] == CategoricalParam(type="categorical", choices=("adam", "sgd"))
    assert search["momentum"].when == {"optimizer": "sgd"}


@pytest.mark.parametrize(
    ("name", "value"), [("epochs", 3), ("dropout", 0.25), ("activation", "tanh"), ("patience", None)]
)
def test_scalars_in_search_become_fixed(tmp_path: Path, name: str, value: Any) -> None:
    recipe = load(tmp_path, put(f"search.{name}", value))
    assert recipe.search[name] == FixedParam(type="fixed", value=value)
    assert type(recipe.search[name].value) is type(value)


def test_set_overrides_are_parsed_as_yaml(tmp_path: Path) -> None:
    recipe = load(
        tmp_path,
        overrides=(
            "budget.n_trials=3",
            "seed=11",
            "budget.timeout=2.5",
            "split.stratify=false",
            "objective.metric=f1_macro",  # a section the file does not have
            "search.optimizer.choices=[adam, adamw, sgd]",
            "search.dropout=0.25",
            "promotion.model_name=my model",
        ),
    )
    assert recipe.budget.n_trials == 3 and type(recipe.budget.n_trials) is int
    assert recipe.seed == 11
    assert recipe.budget.timeout == 2.5
    assert recipe.split.stratify is False
    assert recipe.metric == "f1_macro" and recipe.direction == "maximize"
    assert recipe.search["optimizer"] == CategoricalParam(type="categorical", choices=("adam", "adamw", "sgd"))
    assert recipe.search["dropout"] == FixedParam(type="fixed", value=0.25)
    assert list(recipe.search)[-1] == "dropout"
    assert recipe.promotion.model_name == "my model" == recipe.model_name


def test_set_keeps_everything_after_the_first_equals_sign(tmp_path: Path) -> None:
    recipe = load(tmp_path, overrides=("experiment_name=a=b",))
    assert recipe.experiment_name == "a=b"


def test_set_data_path_and_target(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    recipe = load_recipe(RECIPES / "csv_regression.yaml", [f"data.path={csv}", "data.target=y"])
    assert recipe.data.path == csv and recipe.data.target == "y" and recipe.data.dataset is None


def test_relative_data_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(RECIPES / "csv_regression.yaml", ["data.path=x.csv", "data.target=y"])
    assert recipe.data.path is not None and recipe.data.path.is_absolute()
    assert recipe.data.path == Path.cwd() / "x.csv"


def test_overrides_do_not_touch_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    before = path.read_text()
    assert load_recipe(path, ["seed=99"]).seed == 99
    assert path.read_text() == before and load_recipe(path).seed == BASE["seed"]


def test_sampler_and_pruner_as_bare_strings(tmp_path: Path) -> None:
    recipe = load(tmp_path, overrides=("sampler=random", "pruner=median"))
    assert recipe.sampler == RandomSamplerSpec(name="random")
    assert recipe.pruner == MedianPrunerSpec(name="median", n_startup_trials=5, n_warmup_steps=2)
    recipe = load(tmp_path, lambda raw: {**raw, "sampler": "tpe", "pruner": "none"})
    assert recipe.sampler == TPESamplerSpec(name="tpe", n_startup_trials=10, multivariate=True, constant_liar=True)
    assert recipe.pruner == NoPrunerSpec(name="none")


def test_sampler_and_pruner_default_to_tpe_and_hyperband(tmp_path: Path) -> None:
    recipe = load(tmp_path, lambda raw: {k: v for k, v in raw.items() if k not in ("sampler", "pruner")})
    assert isinstance(recipe.sampler, TPESamplerSpec)
    assert recipe.pruner == HyperbandPrunerSpec(name="hyperband", min_resource=1, max_resource="auto")


@pytest.mark.parametrize(
    ("changes", "metric", "direction"),
    [
        ({}, "accuracy", "maximize"),
        ({"objective": {"metric": "log_loss"}}, "log_loss", "minimize"),
        ({"objective": {"direction": "minimize"}}, "accuracy", "minimize"),
        ({"task": "regression", "data": {"dataset": "diabetes"}}, "rmse", "minimize"),
        ({"task": "regression", "data": {"dataset": "diabetes"}, "objective": {"metric": "r2"}}, "r2", "maximize"),
        ({"task": "autoencoder", "model": {"family": "autoencoder"}}, "mse", "minimize"),
    ],
)
def test_metric_and_direction_defaults(tmp_path: Path, changes: dict[str, Any], metric: str, direction: str) -> None:
    recipe = load(tmp_path, lambda raw: {**raw, **changes})
    assert (recipe.metric, recipe.direction) == (metric, direction)
    assert recipe.objective.metric == changes.get("objective", {}).get("metric")  # the spec itself stays as given


def test_defaults_are_filled_in(tmp_path: Path) -> None:
    raw = {"data": {"dataset": "iris"}}
    recipe = load_recipe(write(tmp_path, raw, name="just_data.yaml"))
    assert recipe.name == "just_data" == recipe.model_name
    assert (recipe.seed, recipe.task, recipe.model.family) == (0, "classification", "mlp")
    assert (recipe.split.validation, recipe.split.test, recipe.split.folds) == (0.2, 0.2, None)
    assert recipe.budget.n_trials == 20 and recipe.search == {}
    assert recipe.promotion.margin == 0.0


def test_recipe_is_frozen(tmp_path: Path) -> None:
    recipe = load(tmp_path)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        recipe.seed = 1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        recipe.budget.n_trials = 1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        recipe.search["learning_rate"].low = 0.5  # type: ignore[misc]
    assert recipe.seed == BASE["seed"]
