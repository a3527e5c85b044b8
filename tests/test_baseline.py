"""The tree baseline beside a promoted study: same split, same metric, its own run, fitted once per study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mltune.config.recipe import load_recipe
from mltune.flows.baseline import MAX_CATEGORIES, tree_estimator, tree_features
from mltune.flows.promote import promote
from mltune.flows.tune import tune

from .conftest import TINY


def test_tree_features_take_text_flags_dates_and_empty_cells() -> None:
    frame = pd.DataFrame({
        "colour": [" red", "red ", None, "blue"],
        "member": [True, False, True, False],
        "joined": pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-04-01"]),
        "height": [1.0, np.nan, 3.0, 4.0],
        "code": [f"c{i}" for i in range(4)],
    })
    wide = pd.DataFrame({"id": [f"x{i}" for i in range(MAX_CATEGORIES + 1)]})

    x = tree_features(frame)
    assert list(x["colour"].cat.categories) == ["blue", "red"]  # spaces are not new categories
    assert x["colour"].isna().tolist() == [False, False, True, False]
    assert x["member"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert x["joined"].isna().tolist() == [False, True, False, False] and x["joined"].dtype == float
    assert tree_features(wide)["id"].dtype == float  # too many categories for the trees: codes


def test_the_tree_baseline_trains_on_many_rows_with_a_class_of_one_row() -> None:
    # ratdat's surveys: 35,549 rows, 48 species, some seen once; HistGradientBoosting's early stopping splits
    # off a stratified tenth past 10,000 rows, which refuses a class of one row
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=12_000)})
    y = np.r_[np.zeros(6_000), np.ones(5_999), [2]]
    estimator = tree_estimator(True, y, seed=0)
    assert estimator.early_stopping is False and tree_estimator(True, y[:-1], seed=0).early_stopping == "auto"
    estimator.set_params(max_iter=5).fit(x, y)
    assert list(estimator.classes_) == [0, 1, 2]


@pytest.mark.slow
def test_promotion_reports_the_baseline_beside_the_network_and_fits_it_once(storage: str) -> None:
    result = tune(load_recipe(TINY), storage=storage, n_trials=1)
    first = promote(study_name=result.study_name, storage=storage)
    again = promote(study_name=result.study_name, storage=storage)

    assert first.baseline is not None and first.baseline["estimator"] == "HistGradientBoostingClassifier"
    assert 0.5 < first.baseline["score"] <= 1.0  # trees do well on digits
    assert again.baseline == first.baseline
    client = MlflowClient()
    runs = client.search_runs([result.experiment_id], filter_string="tags.`mltune.role` = 'baseline'")
    assert len(runs) == 1
    assert runs[0].data.metrics["test_accuracy"] == pytest.approx(first.baseline["score"])
