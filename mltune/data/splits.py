"""Splits: the held-out test rows, the development rows, and the trial folds.

The splits depend only on the rows and the recipe's seed, so the promotion step rebuilds exactly the test split
the study never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mltune.config.recipe import Recipe
from mltune.data.tables import Table
from mltune.errors import ConfigError
from mltune.tasks import TASKS


@dataclass(frozen=True)
class Fold:
    """Row positions of one train/validation pair."""

    train: np.ndarray
    validation: np.ndarray


@dataclass(frozen=True)
class Splits:
    """The held-out test rows, the development rows, and the folds (one for a plain validation split)."""

    test: np.ndarray
    development: np.ndarray
    folds: tuple[Fold, ...]


def make_splits(recipe: Recipe, table: Table, *, source: str = "recipe") -> Splits:
    """Splits rows into test, development and folds, deterministically from the recipe's seed.

    Raises:
        ConfigError: too few rows for the splits, or classes that the splits cannot hold or a model cannot learn.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    split = recipe.split
    n_rows = len(table.frame)
    classes = table.y() if TASKS[recipe.task].stratified else None
    stratify = split.stratify and classes is not None
    k = split.folds or 1
    n_test = int(np.ceil(n_rows * split.test))
    n_dev = n_rows - n_test
    if n_dev < 2 * max(k, 2):
        rule = f"k-fold with folds={k}" if split.folds else "a train/validation split"
        raise ConfigError(f"{source}: split: {rule} needs at least {2 * max(k, 2)} development rows, "
                          f"but got {n_dev} of {n_rows} rows after the test split")
    if classes is not None:  # classes a model cannot learn first: no split setting would help them
        _check_class_count(recipe, table, n_rows=n_rows, n_test=n_test, stratify=stratify, source=source)
    if stratify:
        _check_class_rows(recipe, table, n_rows=n_rows, n_test=n_test, source=source)
    positions = np.arange(n_rows)
    try:
        dev, test = train_test_split(positions, test_size=split.test, random_state=recipe.seed,
                                     stratify=classes if stratify else None)
        dev_classes: Any = classes[dev] if stratify and classes is not None else None
        if split.folds:
            splitter = (StratifiedKFold if stratify else KFold)(split.folds, shuffle=True,
                                                                random_state=recipe.seed)
            folds = tuple(Fold(dev[tr], dev[va]) for tr, va in splitter.split(dev, dev_classes))
        else:
            tr, va = train_test_split(dev, test_size=split.validation, random_state=recipe.seed,
                                      stratify=dev_classes)
            folds = (Fold(tr, va),)
    except ValueError as error:  # scikit-learn's word on splits too small for stratification
        raise ConfigError(f"{source}: split: cannot split {n_rows} rows with test={split.test}, "
                          f"{f'folds={split.folds}' if split.folds else f'validation={split.validation}'}"
                          f"{', stratified' if stratify else ''}: {str(error)[:300]} (add rows or set "
                          "split.stratify: false)") from None
    return Splits(test=np.sort(test), development=np.sort(dev), folds=folds)


def rows_to_stratify(n_rows: int, test: float, folds: int | None) -> int:
    """The fewest rows a class needs for stratified splits of ``n_rows`` rows: after the test split takes its
    share, 2 for training and validation, or one for each of the folds (at least 2)."""
    per_dev = max(2, folds or 2)
    n_test = int(np.ceil(n_rows * test))
    return next(m for m in range(per_dev + 1, n_rows + 2) if m - int(np.ceil(m * n_test / n_rows)) >= per_dev)


def _check_class_rows(recipe: Recipe, table: Table, *, n_rows: int, n_test: int, source: str) -> None:
    """Every class keeps enough development rows, after the test split takes its share, to stratify the
    validation split (2 rows) or the folds (one row per fold)."""
    split = recipe.split
    per_dev = max(2, split.folds or 2)
    need = rows_to_stratify(n_rows, split.test, split.folds)
    counts = pd.Series(table.y()).value_counts(sort=False)  # in order of appearance
    short = counts[counts < need]
    if short.empty:
        return
    label = short.idxmin()  # the first of the rarest classes
    label = label.item() if isinstance(label, np.generic) else label
    others = f", and {len(short) - 1} more classes have fewer than {need}" if len(short) > 1 else ""
    parts = f"the {split.folds} folds" if split.folds else "training and validation"
    raise ConfigError(f"{source}: split.stratify: every class of column {table.target!r} needs at least {need} rows "
                      f"({per_dev} for {parts} after test={split.test} takes its share), but class {label!r} has "
                      f"{short.min()}{others} (add rows or set split.stratify: false)")


MIN_TRAINING_ROWS_PER_CLASS = 2
"""A classifier is refused when its training rows hold fewer than this many rows per class on average."""


def _check_class_count(recipe: Recipe, table: Table, *, n_rows: int, n_test: int, stratify: bool,
                       source: str) -> None:
    """Refuses classes a model cannot learn from the rows given (e.g. 10,000 classes of 2 rows each), and
    stratified parts too small to hold a row of every class."""
    split = recipe.split
    n_classes = int(pd.Series(table.y()).nunique())
    n_dev = n_rows - n_test
    n_validation = int(np.ceil(n_dev / split.folds)) if split.folds else int(np.ceil(n_dev * split.validation))
    n_train = n_dev - n_validation
    where = f"{n_classes} classes of column {table.target!r}"
    most = n_train // MIN_TRAINING_ROWS_PER_CLASS
    if n_classes > most:
        raise ConfigError(f"{source}: data.target: a classifier needs at least {MIN_TRAINING_ROWS_PER_CLASS} "
                          f"training rows per class on average, so {n_train} training rows allow at most {most} "
                          f"classes, but column {table.target!r} has {n_classes} (of {n_rows} rows; is it an "
                          "identifier, or a number to predict with task: regression?)")
    if stratify and n_test < n_classes:
        raise ConfigError(f"{source}: split.test: a stratified split needs a test row per class, but test="
                          f"{split.test} of {n_rows} rows gives {n_test} test rows for {where} (raise split.test, "
                          "add rows or set split.stratify: false)")
    if stratify and not split.folds and n_validation < n_classes:
        raise ConfigError(f"{source}: split.validation: a stratified split needs a validation row per class, but "
                          f"validation={split.validation} of {n_dev} development rows gives {n_validation} rows "
                          f"for {where} (raise split.validation, add rows or set split.stratify: false)")
