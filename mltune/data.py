"""Data sources and splits: a table of raw rows, a held-out test split, and the trial folds.

Nothing here imports TensorFlow. The splits depend only on the rows and the recipe's seed, so the promotion
step rebuilds exactly the test split the study never saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mltune.errors import ConfigError
from mltune.recipe import Recipe


@dataclass(frozen=True)
class Table:
    """Raw rows as the user has them.

    Attributes:
        frame: the rows, feature columns and (unless autoencoder) the target column.
        features: feature column names, in model input order.
        target: the target column, or None for an autoencoder.
        source: where the rows came from, for messages and lineage.
    """

    frame: pd.DataFrame
    features: tuple[str, ...]
    target: str | None
    source: str

    @property
    def fingerprint(self) -> str:
        """A hash of the used columns' contents: equal data, equal fingerprint."""
        columns = [*self.features, *([self.target] if self.target else [])]
        hashed = pd.util.hash_pandas_object(self.frame[columns], index=False).to_numpy()
        return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]

    def x(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Feature matrix (float32) of the given row positions."""
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return frame[list(self.features)].to_numpy(dtype=np.float32)

    def y(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Raw target values of the given row positions."""
        assert self.target is not None
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return frame[self.target].to_numpy()


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


def load_table(recipe: Recipe, *, source: str = "recipe") -> Table:
    """Loads and checks the recipe's data.

    Raises:
        ConfigError: missing file or column, non-numeric or missing feature values, or too few rows.
    """
    spec = recipe.data
    if spec.dataset is not None:
        from sklearn import datasets

        frame = getattr(datasets, f"load_{spec.dataset}")(as_frame=True).frame
        target: str | None = "target"
        origin = f"sklearn:{spec.dataset}"
    else:
        assert spec.path is not None
        if not spec.path.is_file():
            raise ConfigError(f"{source}: data.path: file not found, but got {str(spec.path)!r}")
        try:
            if spec.path.suffix.lower() == ".csv":
                frame = pd.read_csv(spec.path, sep=spec.separator)
            else:
                frame = pd.read_parquet(spec.path)
        except (ValueError, OSError, ImportError) as error:
            raise ConfigError(f"{source}: data.path: cannot read {str(spec.path)!r}: {error}") from None
        target = spec.target
        origin = str(spec.path)
    if recipe.task == "autoencoder" and spec.target is None and spec.dataset is None:
        target = None
    if target is not None and target not in frame.columns:
        raise ConfigError(f"{source}: data.target: no such column in {origin}, but got {target!r} "
                          f"(columns: {', '.join(map(str, frame.columns[:20]))})")
    if spec.features is not None:
        missing = [c for c in spec.features if c not in frame.columns]
        if missing:
            raise ConfigError(f"{source}: data.features: no such column in {origin}, but got {missing}")
        features = tuple(spec.features)
    else:
        features = tuple(str(c) for c in frame.columns if c != target)
    if not features:
        raise ConfigError(f"{source}: data.features: at least one feature column is needed, but got none")
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ConfigError(f"{source}: data.features: features must be numeric, but got non-numeric "
                          f"columns {bad} (drop them with data.features or encode them first)")
    used = [*features, *([target] if target else [])]
    if recipe.task == "autoencoder":
        target = None
        used = list(features)
    missing_counts = frame[used].isna().sum()
    if missing_counts.any():
        holes = {str(k): int(v) for k, v in missing_counts[missing_counts > 0].items()}
        raise ConfigError(f"{source}: data: missing values must be filled first, but got empty cells {holes}")
    if recipe.task == "regression" and not pd.api.types.is_numeric_dtype(frame[target]):
        raise ConfigError(f"{source}: data.target: a regression target must be numeric, but got "
                          f"dtype {frame[target].dtype} in {target!r}")
    table = Table(frame=frame[used].reset_index(drop=True), features=features, target=target, source=origin)
    make_splits(recipe, table, source=source)  # fail now, not in the first trial
    return table


def make_splits(recipe: Recipe, table: Table, *, source: str = "recipe") -> Splits:
    """Splits rows into test, development and folds, deterministically from the recipe's seed."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    split = recipe.split
    n_rows = len(table.frame)
    classes = table.y() if recipe.task == "classification" else None
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
