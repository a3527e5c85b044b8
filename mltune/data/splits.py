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
    """Splits rows into test, development and folds, deterministically from the recipe's seed."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    split = recipe.split
    n_rows = len(table.frame)
    classes = table.y() if TASKS[recipe.task].stratified else None
    stratify = split.stratify and classes is not None
    if stratify:
        counts = pd.Series(classes).value_counts()
        need = max(2, split.folds or 2)
        if counts.min() < need:
            label = counts.idxmin()
            label = label.item() if isinstance(label, np.generic) else label
            raise ConfigError(f"{source}: split.stratify: every class needs at least {need} rows, but class "
                              f"{label!r} has {counts.min()} (add rows or set split.stratify: false)")
    k = split.folds or 1
    n_dev = n_rows - int(np.ceil(n_rows * split.test))
    if n_dev < 2 * max(k, 2):
        rule = f"k-fold with folds={k}" if split.folds else "a train/validation split"
        raise ConfigError(f"{source}: split: {rule} needs at least {2 * max(k, 2)} development rows, "
                          f"but got {n_dev} of {n_rows} rows after the test split")
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
                          f"{', stratified' if stratify else ''}: {error} (add rows or set split.stratify: false)"
                          ) from None
    return Splits(test=np.sort(test), development=np.sort(dev), folds=folds)
