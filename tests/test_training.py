"""Training one configuration: the value a trial reports is the one of the weights it keeps."""

from __future__ import annotations

import numpy as np
import pytest

from mltune.config.recipe import load_recipe
from mltune.data import load_table, make_splits
from mltune.model.training import fit_fold
from mltune.search.space import SearchSpace
from mltune.tracking.pyfunc import KerasTabularModel

from .conftest import TINY

pytestmark = pytest.mark.slow


def test_early_stopping_that_never_stops_reports_the_epoch_whose_weights_it_restores() -> None:
    # Keras 3 restores the best epoch's weights at the end of training even when patience never ran out: the trial's
    # value is that epoch's objective (the first best epoch, as EarlyStopping counts an improvement).
    recipe = load_recipe(TINY)
    table = load_table(recipe)
    fold = make_splits(recipe, table).folds[0]
    params = {**SearchSpace.from_recipe(recipe).defaults, "epochs": 8, "patience": 100, "n_layers": 1,
              "units": 16, "optimizer": "sgd", "learning_rate": 0.6, "momentum": 0.9, "batch_size": 64}
    result = fit_fold(recipe=recipe, params=params, table=table, fold=fold, seed=3)

    curve = result.history["val_accuracy"]
    best = int(np.argmax(curve))
    assert best != len(curve) - 1, "the setting must make the last epoch not the best one"
    assert result.value == pytest.approx(result.history["val_accuracy"][best])
    rows = table.frame.iloc[fold.validation]
    kept = KerasTabularModel.of(result.model, result.encoding).score(rows, table.y(fold.validation), "accuracy")
    assert kept == pytest.approx(result.value, abs=1e-6)


@pytest.mark.parametrize(("task", "metric", "choice", "loss"), [
    ("regression", "mae", "auto", "mean_absolute_error"),
    ("regression", "rmse", "auto", "mse"),
    ("regression", "rmse", "huber", "huber"),
    ("autoencoder", "mae", "auto", "mean_absolute_error"),
    ("classification", "f1_macro", "auto", "categorical_crossentropy"),
    ("classification", "accuracy", "mae", "categorical_crossentropy"),
])
def test_the_loss_follows_the_objective(task: str, metric: str, choice: str, loss: str) -> None:
    from mltune.tasks import TASKS

    assert TASKS[task].loss_for(metric, choice) == loss


def test_one_cycle_warms_up_for_a_tenth_of_the_steps_then_decays_to_zero() -> None:
    from mltune.model.training import _optimizer

    params = {"learning_rate": 0.01, "lr_schedule": "one_cycle", "optimizer": "adamw", "weight_decay": 0.01}
    rate = _optimizer(params, steps=100)._learning_rate
    assert [round(float(rate(step)), 5) for step in (0, 10, 100)] == [0.0004, 0.01, 0.0]


def _count_traces(model: object) -> list[int]:
    traced = [0]
    step = model.train_step  # type: ignore[attr-defined]

    def counting(data: object) -> object:
        traced[0] += 1  # the Python function runs once per trace, not per batch
        return step(data)

    model.train_step = counting  # type: ignore[attr-defined]
    return traced


def test_a_trial_traces_its_training_step_once() -> None:
    # Keras creates the optimizer's variables inside the first trace of the training step, and TensorFlow then
    # traces it again: mltune creates them before `fit`.
    from mltune.model.training import compiled_model, fit_rows, prepare

    recipe = load_recipe(TINY)
    table = load_table(recipe)
    prepared = prepare(recipe, table, make_splits(recipe, table).folds[0])
    params = {**SearchSpace.from_recipe(recipe).defaults, "epochs": 2}
    model = compiled_model(recipe, params, prepared.x_train, prepared.encoding)
    traced = _count_traces(model)
    fit_rows(model, prepared.x_train, prepared.y_train, (prepared.x_val, prepared.y_val),
             batch_size=int(params["batch_size"]), seed=0, epochs=2)
    assert traced == [1] and model.optimizer.built


def test_a_users_model_trains_with_its_optimizer_built_first_unless_it_trains_itself() -> None:
    import keras

    from mltune.model.hypermodel import HyperModel
    from mltune.model.training import build_optimizer

    def build(hp: object) -> keras.Model:
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        return model

    class OwnStep(keras.Sequential):
        def train_step(self, data: object) -> object:
            return super().train_step(data)

    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.zeros((40, 2))
    model = build(None)
    traced = _count_traces(model)
    HyperModel(build).fit(None, model, x, y, epochs=2, batch_size=16, verbose=0)
    assert traced == [1]
    own = OwnStep([keras.Input((3,)), keras.layers.Dense(2)])
    own.compile(optimizer="adam", loss="mse")
    build_optimizer(own)
    assert not own.optimizer.built  # its train_step may update other variables: Keras builds it inside `fit`
