"""Data sources: a table of raw rows as the user has them, loaded and checked once. Nothing here imports
TensorFlow."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mltune.config.recipe import Recipe
from mltune.errors import ConfigError
from mltune.tasks import TASKS


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

    def features_frame(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The feature columns of ``frame`` (all rows by default), as a model takes them."""
        return (self.frame if frame is None else frame)[list(self.features)]

    def x(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Feature matrix (float32) of the given row positions."""
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return frame[list(self.features)].to_numpy(dtype=np.float32)

    def y(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Raw target values of the given row positions."""
        assert self.target is not None
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return frame[self.target].to_numpy()


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
    task = TASKS[recipe.task]
    if not task.uses_target and spec.target is None and spec.dataset is None:
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
    if not task.uses_target:
        target = None
        used = list(features)
    missing_counts = frame[used].isna().sum()
    if missing_counts.any():
        holes = {str(k): int(v) for k, v in missing_counts[missing_counts > 0].items()}
        raise ConfigError(f"{source}: data: missing values must be filled first, but got empty cells {holes}")
    broken = task.check_target(frame[target], where=str(target)) if target is not None else None
    if broken:
        raise ConfigError(f"{source}: data.target: {broken}")
    table = Table(frame=frame[used].reset_index(drop=True), features=features, target=target, source=origin)
    return table


