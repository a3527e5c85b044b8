"""Model families: the cnn family, and families that installed packages register through entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltune.config.recipe import load_recipe
from mltune.errors import ConfigError
from mltune.families import BUILT_IN, ENTRY_POINT_GROUP, FAMILIES, InputShape, _family
from mltune.families.cnn import image_shape
from mltune.families.mlp import MLP

from .conftest import RECIPES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_FAMILY = ROOT / "examples" / "custom_family"


def _shape(n_features: int, image: tuple[int, ...] | None = None) -> InputShape:
    return InputShape(n_features=n_features, n_outputs=10, task="classification", mean=np.zeros(n_features),
                      variance=np.ones(n_features), image_shape=image)


def test_cnn_reads_square_rows_as_images() -> None:
    assert image_shape(_shape(64)) == (8, 8, 1)
    assert image_shape(_shape(192)) == (8, 8, 3)
    assert image_shape(_shape(60, (6, 10))) == (6, 10, 1)
    with pytest.raises(ValueError, match="needs image rows .* but got 10 feature columns"):
        image_shape(_shape(10))


def test_cnn_is_a_recipe_family_with_its_knobs() -> None:
    recipe = load_recipe(RECIPES / "digits_cnn.yaml")
    assert recipe.model.family == "cnn" and "cnn" in FAMILIES
    assert {"conv_blocks", "filters", "kernel_size", "pooling", "units", "learning_rate"} <= set(recipe.search)
    with pytest.raises(ConfigError, match="search.pooling: choice must be one of max, average, none"):
        load_recipe(RECIPES / "digits_cnn.yaml", ["search.pooling={type: categorical, choices: [max, min]}"])


def test_cnn_builds_a_model_that_takes_rows() -> None:
    params = {"conv_blocks": 3, "filters": 4, "filters_1": 8, "kernel_size": 3, "pooling": "max", "n_layers": 1,
              "units": 8, "activation": "relu", "dropout": 0.1, "l1": 0.0, "l2": 0.0}
    model = BUILT_IN["cnn"].build(params, _shape(64))
    assert model.input_shape == (None, 64) and model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers if layer.name.startswith("pool_")] == ["pool_0", "pool_1", "pool_2"]
    assert model.get_layer("conv_1").filters == 8


def test_entry_points_are_checked_for_the_protocol() -> None:
    good = EntryPoint(name="mine", value="mltune.families.mlp:MLP", group=ENTRY_POINT_GROUP)
    assert type(_family(good)).__name__ == "MLP"
    with pytest.raises(ConfigError, match="entry point 'gone' = 'no_such_module:X' .* does not load"):
        _family(EntryPoint(name="gone", value="no_such_module:X", group=ENTRY_POINT_GROUP))
    with pytest.raises(ConfigError, match="must give a family .* without tasks, hyperparameters, build"):
        _family(EntryPoint(name="odd", value="os:sep", group=ENTRY_POINT_GROUP))


def test_an_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"model.family: must be one of mlp, autoencoder, cnn(, \w+)*, "
                                          r"but got 'transformer'"):
        load_recipe(RECIPES / "digits_cnn.yaml", ["model.family=transformer"])


@pytest.mark.slow
def test_cnn_recipe_tunes_and_its_champion_takes_rows(workdir: Path, storage: str) -> None:
    import mlflow
    from sklearn.datasets import load_digits

    from mltune.flows.promote import promote
    from mltune.flows.tune import tune

    recipe = load_recipe(RECIPES / "digits_cnn.yaml", ["search.epochs=2", "search.conv_blocks=1", "seed=1"])
    result = tune(recipe, n_trials=2, storage=storage)
    assert result.counts.get("COMPLETE", 0) + result.counts.get("PRUNED", 0) == 2 and result.best_value > 0.3
    assert promote(study_name="digits_cnn", storage=storage).decision == "first champion"
    rows = load_digits(as_frame=True).frame.drop(columns="target").tail(100)
    labels = mlflow.pyfunc.load_model("models:/digits-cnn-recipe@champion").predict(rows)
    assert len(labels) == 100 and set(np.asarray(labels).tolist()) <= set(range(10))


@pytest.mark.slow
def test_cnn_tunes_images_from_an_npz_file_of_any_shape(workdir: Path, storage: str) -> None:
    import mlflow
    from sklearn.datasets import load_digits

    from mltune.flows.promote import promote
    from mltune.flows.tune import tune

    digits = load_digits()
    images = np.stack([digits.images[:, :, :6]] * 3, axis=-1)  # (N, 8, 6, 3): not square, three channels
    np.savez(workdir / "images.npz", x=images, y=digits.target)
    recipe = load_recipe(RECIPES / "digits_cnn.yaml", [
        f"data={{path: {workdir / 'images.npz'}}}", "search.epochs=2", "search.conv_blocks=1", "seed=1",
        "promotion.model_name=npz-cnn", "promotion.baseline=false"])
    result = tune(recipe, n_trials=1, storage=storage, study_name="npz")
    assert result.counts == {"COMPLETE": 1} and result.best_value > 0.3
    assert promote(study_name="npz", storage=storage).decision == "first champion"
    model = mlflow.pyfunc.load_model("models:/npz-cnn@champion")
    rows = pd.DataFrame(images[-50:].reshape(50, -1).astype(np.float32),
                        columns=[f"pixel_{i}" for i in range(8 * 6 * 3)])
    labels = model.predict(rows)
    assert len(labels) == 50 and set(np.asarray(labels).tolist()) <= set(range(10))


def test_an_npz_file_without_images_is_a_config_error(tmp_path: Path) -> None:
    from mltune.data import load_table

    np.savez(tmp_path / "flat.npz", x=np.zeros((10, 64)), y=np.zeros(10))
    recipe = load_recipe(RECIPES / "digits_cnn.yaml", [f"data={{path: {tmp_path / 'flat.npz'}}}"])
    with pytest.raises(ConfigError, match=r"`x` must have shape \(N, height, width\) .* but got \(10, 64\)"):
        load_table(recipe)
    np.savez(tmp_path / "short.npz", x=np.zeros((10, 8, 8)), y=np.zeros(9))
    recipe = load_recipe(RECIPES / "digits_cnn.yaml", [f"data={{path: {tmp_path / 'short.npz'}}}"])
    with pytest.raises(ConfigError, match=r"`y` must hold one target per image, but got shape \(9,\) for 10 images"):
        load_table(recipe)
    np.savez(tmp_path / "named.npz", images=np.zeros((10, 8, 8)))
    recipe = load_recipe(RECIPES / "digits_cnn.yaml", [f"data={{path: {tmp_path / 'named.npz'}}}"])
    with pytest.raises(ConfigError, match=r"needs arrays `x` \(images\) and `y` \(targets\), but .* "
                                          r"holds \['images'\]"):
        load_table(recipe)


@pytest.fixture
def family_package() -> Iterator[None]:
    """The example package, installed into this interpreter's environment for the test (and removed after)."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(EXAMPLE_FAMILY)], check=True,
                   timeout=300)
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "mltune-family-example"], check=True, timeout=300)


@pytest.mark.slow
def test_an_installed_family_tunes_from_a_recipe_and_serves_in_a_fresh_process(workdir: Path, storage: str,
                                                                                family_package: None) -> None:
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    recipe = EXAMPLE_FAMILY / "wide_deep_digits.yaml"
    tuned = subprocess.run([sys.executable, "-m", "mltune", "tune", str(recipe), "--n-trials", "2", "--storage",
                            storage, "--set", "search.epochs=2", "--promote", "--quiet"], cwd=workdir, env=env,
                           capture_output=True, text=True, timeout=600)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    check = ("import mlflow, sklearn.datasets as d; rows = d.load_digits(as_frame=True).frame.drop(columns='target'); "
             "print(list(mlflow.pyfunc.load_model('models:/digits-wide-deep@champion').predict(rows.head(3))))")
    fresh = subprocess.run([sys.executable, "-c", check], cwd=workdir, env=env, capture_output=True, text=True,
                           timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert len(eval(fresh.stdout.strip().splitlines()[-1])) == 3  # noqa: S307 (a list of ints we printed)


@pytest.mark.parametrize(("layout", "expected"), [
    ({"normalization": "none", "block": "plain"}, {"Dense": 3, "Dropout": 2}),
    ({"normalization": "batch", "block": "plain"}, {"Dense": 3, "BatchNormalization": 2, "Activation": 2}),
    ({"normalization": "layer", "block": "residual"},
     {"Dense": 6, "LayerNormalization": 3, "Add": 2, "Activation": 3}),
])
def test_mlp_layouts_build_the_layers_they_name(layout: dict[str, str], expected: dict[str, int]) -> None:
    import keras

    params = {n: h.default for n, h in MLP.hyperparameters.items()}
    params.update(layout, n_layers=2, units_0=32, units_1=16, dropout=0.1 if layout["block"] == "plain" else 0.0)
    model = MLP().build(params, _shape(8))
    kinds = Counter(type(layer).__name__ for layer in model.layers)
    assert {kind: kinds[kind] for kind in expected} == expected
    assert model(keras.ops.ones((4, 8))).shape == (4, 10)
    if layout["block"] == "residual":  # every block adds back to the stem's width
        assert model.get_layer("back_1").units == model.get_layer("stem").units == 32
