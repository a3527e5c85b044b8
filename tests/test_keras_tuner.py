"""KerasTuner's ``hp`` on Optuna: the same calls, the same search space, define-by-run suggestions; objectives."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

from mltune.errors import ConfigError
from mltune.search.keras_tuner import HyperModel, HyperParameters, Objective, infer_direction

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "keras_tuner_migration"


def _trial(seed: int = 0) -> optuna.Trial:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return study.ask()


def test_calls_become_optuna_suggestions_with_keras_tuner_defaults() -> None:
    trial = _trial()
    hp = HyperParameters.for_trial(trial)
    blocks = hp.Int("blocks", 1, 3)
    lr = hp.Float("lr", 1e-4, 1e-2, sampling="log")
    act = hp.Choice("activation", ["relu", "tanh"])
    flag = hp.Boolean("dropout")
    fixed = hp.Fixed("epochs", 3)
    assert 1 <= blocks <= 3 and 1e-4 <= lr <= 1e-2 and act in ("relu", "tanh") and flag in (False, True)
    assert fixed == 3
    assert trial.params == {"blocks": blocks, "lr": lr, "activation": act, "dropout": flag}
    assert hp.values == {**trial.params, "epochs": 3}
    assert hp.get("lr") == lr and hp["blocks"] == blocks
    dist = trial.distributions
    assert dist["blocks"] == optuna.distributions.IntDistribution(1, 3, step=1)
    assert dist["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert hp.Int("blocks", 1, 3) == blocks  # the same declaration again answers the same value
    with pytest.raises(KeyError, match="nope does not exist"):
        hp.get("nope")


def test_conditional_scope_samples_only_active_hyperparameters() -> None:
    for seed in range(6):
        trial = _trial(seed)
        hp = HyperParameters.for_trial(trial)
        model = hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", ["cnn"]):
            filters = hp.Int("filters", 8, 32, step=8)
        units = hp.Int("units", 8, 16, parent_name="model", parent_values=["mlp"])
        if model == "cnn":
            assert filters in (8, 16, 24, 32) and units is None and "units" not in trial.params
        else:
            assert filters is None and "filters" not in trial.params and "filters" not in hp
            with pytest.raises(ValueError, match="filters is currently inactive"):  # as KerasTuner's
                hp.get("filters")
            assert units is not None


def test_name_scopes_prefix_names_and_merge_declares_another_sets_hyperparameters() -> None:
    trial = _trial()
    hp = HyperParameters.for_trial(trial)
    with hp.name_scope("block1"):
        units = hp.Int("units", 8, 32, step=8)
        assert hp.get("units") == units and "units" in hp  # its own name inside the scope
        with hp.name_scope("inner"):
            hp.Boolean("bn")
    with hp.name_scope("block2"):
        hp.Choice("act", ["relu", "tanh"])
        with hp.conditional_scope("act", ["tanh"]):  # the parent by its name in the scope too
            hp.Float("slope", 0.1, 0.2)
    assert [spec.name for spec in hp.space] == ["block1/units", "block1/inner/bn", "block2/act", "block2/slope"]
    assert set(trial.params) <= {"block1/units", "block1/inner/bn", "block2/act", "block2/slope"}
    assert hp.space[3].conditions == (("block2/act", ("tanh",)),)

    other = HyperParameters()
    other.Int("block1/units", 100, 200, default=150)
    other.Choice("optimizer", ["sgd", "adam"])
    merged = HyperParameters.fixed({"block1/units": 24})
    merged.Int("block1/units", 8, 32, step=8)
    kept = merged.copy()
    merged.merge(other)
    assert merged.values == {"block1/units": 150, "optimizer": "sgd"}  # KerasTuner's: the merged ones' defaults
    assert [type(spec).__name__ for spec in merged.space] == ["Int", "Int", "Choice"]
    kept.merge(other.space, overwrite=False)
    assert kept.values == {"block1/units": 24, "optimizer": "sgd"}


def test_log_sampling_with_a_step_multiplies_as_in_keras_tuner() -> None:
    # KerasTuner: "if sampling='log', step is the minimal multiplier between two samples".
    units, rates = set(), set()
    for seed in range(30):
        hp = HyperParameters.for_trial(_trial(seed))
        units.add(hp.Int("units", 32, 512, step=2, sampling="log"))
        rates.add(hp.Float("lr", 1e-4, 1e-1, step=10, sampling="log"))
    assert units == {32, 64, 128, 256, 512}
    assert sorted(rates) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert HyperParameters.fixed({"units": 128}).Int("units", 32, 512, step=2, sampling="log") == 128


def test_a_grid_search_spreads_ten_values_over_a_range_with_no_step() -> None:
    trial = _trial()
    hp = HyperParameters.for_trial(trial, grid=True)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.45)
    hp.Int("units", 8, 256, sampling="log")
    hp.Int("layers", 1, 3)  # a step of 1: every value is on the grid already
    choices = {name: getattr(d, "choices", None) for name, d in trial.distributions.items()}
    # KerasTuner's grid: the middles of ten equal parts (these values are what its GridSearch tries)
    assert choices["lr"] == pytest.approx([1e-4 * 10 ** (0.15 + 0.3 * k) for k in range(10)])
    assert choices["dropout"] == pytest.approx([0.0225 + 0.045 * k for k in range(10)])
    assert choices["units"] == (9, 13, 19, 26, 38, 53, 76, 107, 152, 216)
    assert trial.distributions["layers"] == optuna.distributions.IntDistribution(1, 3, step=1)


def test_config_copy_and_a_step_that_does_not_divide_the_range() -> None:
    hp = HyperParameters.for_trial(_trial())
    units, rate = hp.Int("units", 10, 100, step=25), hp.Float("rate", 0.0, 0.5, step=0.2)
    assert units in (10, 35, 60, 85) and round(rate, 6) in (0.0, 0.2, 0.4)  # KerasTuner's values, no 100 nor 0.5
    config = hp.get_config()
    assert config["values"] == {"units": units, "rate": rate}
    assert [(d["class_name"], d["config"]["name"], d["config"]["step"]) for d in config["space"]] == [
        ("Int", "units", 25), ("Float", "rate", 0.2)]
    again = HyperParameters.from_config(config)
    assert again.Int("units", 10, 100, step=25) == units and hp.copy().values == hp.values
    # As KerasTuner's: the space is kept, a held name gives its value whatever is declared, a new one its default.
    assert [spec.name for spec in again.space] == [spec.name for spec in hp.copy().space] == ["units", "rate"]
    assert again.Int("units", 1, 5) == units and again.Int("layers", 1, 5) == 1 and again.Boolean("extra") is False
    with again.conditional_scope("units", [units]):
        assert again.Choice("act", ["relu", "tanh"]) == "relu"
    assert HyperParameters.from_config(again.get_config()).get_config() == again.get_config()  # scopes kept
    with pytest.raises(ConfigError, match="each space entry needs a class_name of .*'Int'.* and a name, but got "
                                          "{'class_name': 'Integer'"):
        HyperParameters.from_config({"space": [{"class_name": "Integer", "config": {"name": "units"}}]})


def test_a_decimal_step_that_divides_the_range_draws_no_warning() -> None:
    # 0.0 + 3 * 0.1 is 0.30000000000000004 in floating point: Optuna warned that the range is not divisible
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trial = _trial()
        rate = HyperParameters.for_trial(trial).Float("dropout", 0.0, 0.3, step=0.1)
    assert trial.distributions["dropout"].high == 0.3 and round(rate, 6) in (0.0, 0.1, 0.2, 0.3)


def test_a_list_of_objectives_is_their_sum_as_in_keras_tuner() -> None:
    one = Objective.of([Objective("val_auc", "max")])  # KerasTuner's MultiObjective too: -val_auc, minimized
    assert (one.name, one.direction, one.objectives) == ("multi_objective", "min", [Objective("val_auc", "max")])
    assert one.add_to({"val_auc": 0.75})["multi_objective"] == -0.75
    both = Objective.of(["val_loss", Objective("val_auc", "max")])
    assert (both.name, both.direction) == ("multi_objective", "min")
    assert repr(both) == ('MultiObjective(name="multi_objective", direction="min"): [Objective(name="val_loss", '
                          'direction="min"), Objective(name="val_auc", direction="max")]')
    assert both.add_to({"val_loss": 0.5, "val_auc": 0.75})["multi_objective"] == -0.25
    assert "multi_objective" not in both.add_to({"val_loss": 0.5})  # not before every part is there
    with pytest.raises(ConfigError, match="the list must name at least one metric"):
        Objective.of([])


def test_same_name_with_other_ranges_is_an_error_naming_trial_name_and_both() -> None:
    hp = HyperParameters.for_trial(_trial())
    hp.Int("units", 8, 32, step=8)
    with pytest.raises(ConfigError, match=r"trial 0: hyperparameter 'units' declared twice with different ranges: "
                                          r"first Int\(8\.\.32, step=8, sampling=linear\), then Int\(8\.\.64"):
        hp.Int("units", 8, 64, step=8)


@pytest.mark.parametrize(("call", "message"), [
    (lambda hp: hp.Float("lr", 0.0, 1.0, sampling="log"), "min_value > 0 with log"),
    (lambda hp: hp.Int("n", 5, 1), "min_value <= max_value must hold, but got min_value=5, max_value=1"),
    (lambda hp: hp.Float("lr", 1e-3, 1.0, step=0.1, sampling="log"), "the step multiplies, so it must be > 1"),
    (lambda hp: hp.Int("n", 1, 5, sampling="cubic"), "sampling must be 'linear', 'log' or 'reverse_log'"),
    (lambda hp: hp.Choice("c", []), "values must not be empty"),
])
def test_bad_declarations_name_the_rule_and_value(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(HyperParameters.for_trial(_trial()))


def test_conditional_scope_needs_a_declared_parent() -> None:
    hp = HyperParameters.for_trial(_trial())
    with pytest.raises(ConfigError, match="parent hyperparameter must be declared first, but got 'model'"), \
            hp.conditional_scope("model", ["cnn"]):
        pass


def test_keras_tuners_reverse_log_sampling_is_declared_as_such_and_sampled_in_range() -> None:
    hp = HyperParameters.for_trial(_trial())
    assert 0.5 <= hp.Float("momentum", 0.5, 0.999, sampling="reverse_log") <= 0.999
    assert 1 <= hp.Int("n", 1, 5, sampling="reverse_log") <= 5
    assert hp.space[0].sampling == "reverse_log"


def test_fixed_values_replay_a_trial() -> None:
    hp = HyperParameters.fixed({"blocks": 2, "lr": 0.01, "epochs": 3})
    assert hp.values["blocks"] == 2
    assert hp.Int("blocks", 1, 3) == 2 and hp.Float("lr", 1e-4, 1e-1, sampling="log") == 0.01
    assert hp.Fixed("epochs", 3) == 3


@pytest.mark.parametrize(("name", "direction"), [
    ("val_accuracy", "maximize"), ("accuracy", "maximize"), ("val_acc", "maximize"), ("val_auc", "maximize"),
    ("val_precision", "maximize"), ("val_loss", "minimize"), ("loss", "minimize"),
    ("val_mean_absolute_error", "minimize"), ("val_mse", "minimize"), ("val_weird", None),
    ("val_false_positives", "minimize"), ("val_mean_io_u", "maximize"), ("val_cosine_similarity", "maximize"),
])
def test_direction_is_inferred_as_keras_tuner_does(name: str, direction: str | None) -> None:
    assert infer_direction(name) == direction


def test_objective_forms() -> None:
    assert Objective.of("val_loss") == Objective("val_loss", "min") == Objective("val_loss", "minimize")
    assert Objective.of(Objective("val_score", "max")).direction == "max"  # KerasTuner's form, "maximize" taken too
    assert repr(Objective("val_f", "maximize")) == 'Objective(name="val_f", direction="max")'
    assert Objective("val_f", "max").optuna_direction == "maximize"
    with pytest.raises(ConfigError, match=r"cannot infer .* 'val_weird'.*mltune.Objective\('val_weird', 'max'\)"):
        Objective.of("val_weird")
    with pytest.raises(ConfigError, match="direction: must be 'max', 'min'"):
        Objective("val_loss", "down")


def _keras_tuner_space(hp: Any) -> list[dict[str, Any]]:
    """KerasTuner's ``hp.space`` in the terms of :class:`mltune.search.keras_tuner.Spec`."""
    kinds = {"Int": "int", "Float": "float", "Choice": "choice", "Boolean": "boolean", "Fixed": "fixed"}
    found = []
    for item in hp.space:
        kind = kinds[type(item).__name__]
        entry: dict[str, Any] = {"name": item.name, "kind": kind}
        if kind in ("int", "float"):
            entry.update(min_value=item.min_value, max_value=item.max_value, step=item.step, sampling=item.sampling)
        elif kind == "choice":
            entry["values"] = tuple(item.values)
        elif kind == "fixed":
            entry["values"] = (item.value,)
        found.append(entry)
    return found


def _mltune_space(hp: HyperParameters) -> list[dict[str, Any]]:
    found = []
    for spec in hp.space:
        entry: dict[str, Any] = {"name": spec.name, "kind": spec.kind}
        if spec.kind in ("int", "float"):
            entry.update(min_value=spec.min_value, max_value=spec.max_value, step=spec.step, sampling=spec.sampling)
        elif spec.kind in ("choice", "fixed"):
            entry["values"] = spec.values
        found.append(entry)
    return found


def test_the_example_build_model_declares_the_same_space_in_keras_tuner_and_mltune() -> None:
    keras_tuner = pytest.importorskip("keras_tuner")
    sys.path.insert(0, str(EXAMPLE))
    try:
        from mltune_digits import build_model
    finally:
        sys.path.remove(str(EXAMPLE))
    for blocks in (1, 2):
        theirs = keras_tuner.HyperParameters()
        build_model(theirs)  # KerasTuner registers what build_model declares with every default (1 block)
        if blocks == 2:
            theirs.values["conv_blocks"] = 2
            build_model(theirs)  # and now the second block's filters
        ours = HyperParameters.fixed(dict(theirs.values))
        build_model(ours)
        by_name = {s["name"]: s for s in _keras_tuner_space(theirs)}
        assert {s["name"]: s for s in _mltune_space(ours)} == by_name
        assert ours.values == theirs.values
        assert sum(name.startswith("filters_") for name in by_name) == blocks


@pytest.mark.parametrize("name", ["HyperResNet", "HyperXception"])
def test_the_applications_declare_keras_tuners_hyperparameters_in_its_order(name: str) -> None:
    keras_tuner = pytest.importorskip("keras_tuner")
    import keras

    import mltune

    theirs = keras_tuner.HyperParameters()
    getattr(keras_tuner.applications, name)(input_shape=(8, 8, 1), classes=10).build(theirs)
    ours = HyperParameters()
    model = getattr(mltune.applications, name)(input_shape=(8, 8, 1), classes=10).build(ours)
    assert _mltune_space(ours) == _keras_tuner_space(theirs) and ours.values == theirs.values
    assert model.output.shape == (None, 10) and model.loss == "categorical_crossentropy"
    first = ours.space[0]  # each kind of network builds: ResNet v1, v2, next; Xception relu and selu
    for value in first.values:
        other = getattr(mltune.applications, name)(input_shape=(8, 8, 1), classes=10)
        assert other.build(HyperParameters.fixed({first.name: value, "pooling": "max"})).output.shape == (None, 10)
    features = getattr(mltune.applications, name)(include_top=False, input_tensor=keras.Input((8, 8, 3)))
    assert len(features.build(HyperParameters()).output.shape) == 2
    with pytest.raises(ValueError, match=f"{name}: give classes="):
        getattr(mltune.applications, name)(input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match=fr"{name}: give input_shape= \(height, width, channels\) or input_tensor="):
        getattr(mltune.applications, name)(classes=10)


def test_hyper_efficientnet_builds_from_random_weights_with_nothing_downloaded(monkeypatch: Any) -> None:
    import keras

    import mltune

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a download: {args}")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", no_download)
    hp = HyperParameters()
    augment = keras.Sequential([keras.layers.RandomFlip()])
    hypermodel = mltune.applications.HyperEfficientNet(input_shape=(8, 8, 3), classes=3, augmentation_model=augment)
    model = hypermodel.build(hp)
    assert model.output.shape == (None, 3)
    assert hp.values == {"version": "B0", "pooling": "avg", "top_dropout_rate": 0.2, "learning_rate": 0.01}
    with pytest.raises(ValueError, match="augmentation_model must be a Keras model or a HyperModel"):
        mltune.applications.HyperEfficientNet(input_shape=(8, 8, 3), classes=3, augmentation_model="flip")


def test_fixed_before_build_fixes_a_hyperparameter_as_in_keras_tuner() -> None:
    hp = HyperParameters.for_trial(_trial())
    hp.Fixed("conv_blocks", 2)
    assert hp.Int("conv_blocks", 1, 3) == 2 and "conv_blocks" not in hp.trial.params


def test_the_mltune_script_differs_from_the_keras_tuner_script_in_the_import_only() -> None:
    theirs = (EXAMPLE / "keras_tuner_digits.py").read_text().split('"""', 2)[2].splitlines()
    ours = (EXAMPLE / "mltune_digits.py").read_text().split('"""', 2)[2].splitlines()
    changed = [(a, b) for a, b in zip(theirs, ours, strict=False) if a != b]
    assert changed == [("import keras_tuner", "import mltune as keras_tuner")]
    assert all(line.lstrip().startswith(("#", "version", "print")) for line in ours[len(theirs):])


def test_importing_mltune_and_its_api_names_stays_light() -> None:
    code = ("import sys, mltune; assert callable(mltune.__getattr__); "
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_keras_tuners_older_engine_paths_import() -> None:
    import mltune
    from mltune.engine.hypermodel import HyperModel as OldHyperModel
    from mltune.engine.hyperparameters import HyperParameters as OldHyperParameters
    from mltune.engine.tuner import Tuner

    assert (OldHyperModel, OldHyperParameters) == (HyperModel, HyperParameters)
    assert mltune.engine.tuner.Tuner is Tuner is mltune.engine.base_tuner.BaseTuner is mltune.Tuner
    assert mltune.engine.trial.TrialStatus.STOPPED == "STOPPED"  # what a pruned trial's status reads
