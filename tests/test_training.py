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
    # Keras 3 restores the best epoch's weights at the end of training even when patience never ran out.
    recipe = load_recipe(TINY)
    table = load_table(recipe)
    fold = make_splits(recipe, table).folds[0]
    params = {**SearchSpace.from_recipe(recipe).defaults, "epochs": 8, "patience": 100, "n_layers": 1,
              "units": 16, "optimizer": "sgd", "learning_rate": 0.6, "momentum": 0.9, "batch_size": 64}
    result = fit_fold(recipe=recipe, params=params, table=table, fold=fold, seed=3)

    val_loss = result.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert best != len(val_loss) - 1, "the setting must make the last epoch not the best one"
    assert result.value == pytest.approx(result.history["val_accuracy"][best])
    rows = table.frame.iloc[fold.validation]
    kept = KerasTabularModel.of(result.model, result.encoding).score(rows, table.y(fold.validation), "accuracy")
    assert kept == pytest.approx(result.value, abs=1e-6)
