"""A tree baseline beside the network: scikit-learn's HistGradientBoosting with its defaults, on the same split.

Users deserve to know when a network is not worth it. The baseline trains on the study's development rows in
seconds, is scored on the same held-out test rows with the same metric as the challenger, and is logged as its own
run in the study's experiment (tag ``mltune.role=baseline``). Optuna keeps its score with the study, so a second
promotion of the study does not fit it again.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mltune import names
from mltune.search.context import StudyContext
from mltune.tasks import METRICS, TASKS

MAX_CATEGORIES = 255
"""HistGradientBoosting's limit on a categorical column's distinct values; wider text columns become codes."""


@dataclass(frozen=True)
class Baseline:
    """The baseline's test score and where it is logged."""

    estimator: str
    metric: str
    score: float
    run_id: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline(context: StudyContext, study: Any) -> Baseline | None:
    """The study's baseline: the one Optuna keeps, else fitted and logged now. None for an autoencoder."""
    if not TASKS[context.recipe.task].uses_target:
        return None
    kept = study.user_attrs.get(names.BASELINE_ATTR)
    if kept:
        return Baseline(**kept)
    try:
        found = fit_baseline(context)
    except Exception as error:  # a side note: the promotion goes on without it
        warnings.warn(f"the HistGradientBoosting baseline could not be fitted, so none is reported: "
                      f"{type(error).__name__}: {error}", stacklevel=2)
        return None
    study.set_user_attr(names.BASELINE_ATTR, found.as_dict())
    return found


def fit_baseline(context: StudyContext) -> Baseline:
    """Fits HistGradientBoosting (defaults, the recipe's seed) on the development rows, scores it on the test rows
    and logs it as a run beside the study's parent run."""
    recipe, table, splits = context.recipe, context.table, context.splits
    classify = recipe.task == "classification"
    y = table.y(splits.development)
    estimator = tree_estimator(classify, y, seed=recipe.seed)
    x = tree_features(table.features_frame())
    started = time.perf_counter()
    estimator.fit(x.iloc[splits.development], y)
    seconds = time.perf_counter() - started
    x_test, y_test = x.iloc[splits.test], table.y(splits.test)
    if classify:
        score = METRICS[recipe.metric].score(y_test, estimator.predict_proba(x_test), np.asarray(estimator.classes_))
    else:
        score = METRICS[recipe.metric].score(y_test, estimator.predict(x_test), None)
    name = type(estimator).__name__
    tracker = context.tracker
    settings = "scikit-learn defaults" if estimator.early_stopping == "auto" else \
        "scikit-learn defaults, early stopping off (a class has one development row)"
    run = tracker.start_run(experiment_id=context.experiment_id, run_name=f"baseline-{context.study_name}",
                            params={"estimator": name, "settings": settings,
                                    "rows": len(splits.development)},
                            tags={names.ROLE: "baseline", names.STUDY_NAME: context.study_name,
                                  names.STUDY_PARENT_RUN_ID: context.parent_run_id})
    run.log_value(f"test_{recipe.metric}", score)
    run.log_value("training_time_s", seconds)
    run.flush()
    tracker.finish(run.run_id, "FINISHED")
    tracker.set_tags(context.parent_run_id, {names.BASELINE_RUN_ID: run.run_id})
    tracker.log_metrics(context.parent_run_id, {f"baseline_test_{recipe.metric}": score})
    return Baseline(estimator=name, metric=recipe.metric, score=float(score), run_id=run.run_id, seconds=seconds)


def tree_estimator(classify: bool, y: Any, *, seed: int) -> Any:
    """HistGradientBoosting with its defaults. Past 10,000 rows they stop early on a stratified tenth of the
    rows, which a class of one row cannot be split into: then it trains without early stopping."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if not classify:
        return HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
    singleton = bool((pd.Series(np.asarray(y)).value_counts() < 2).any())
    return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed,
                                          early_stopping=False if singleton else "auto")


def tree_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as HistGradientBoosting takes them: text as categories (trimmed), flags as numbers, dates as
    timestamps, every empty cell NaN; a text column with more distinct values than the trees allow becomes codes."""
    columns = {}
    for name, column in frame.items():
        if pd.api.types.is_bool_dtype(column):
            columns[name] = column.map({True: 1.0, False: 0.0}).astype(float)
        elif pd.api.types.is_datetime64_any_dtype(column):
            columns[name] = column.astype("int64").where(column.notna()).astype(float)
        elif pd.api.types.is_numeric_dtype(column):
            columns[name] = pd.to_numeric(column, errors="coerce").astype(float)
        else:
            text = column.map(lambda v: v.strip() if isinstance(v, str) and v.strip() else np.nan)
            text = text.astype(object).astype("category")
            columns[name] = text if len(text.cat.categories) <= MAX_CATEGORIES else \
                text.cat.codes.where(text.notna()).astype(float)
    return pd.DataFrame(columns, index=frame.index)
