"""Data sources: a table of raw rows as the user has them, loaded and checked once. Nothing here imports
TensorFlow.

What cannot train is a :class:`ConfigError` (exit 2) raised here, before anything is written: no rows, duplicate
column names, a separator that does not split the header, a target with no values or one class, infinite
targets, no usable feature. What can train but deserves a look goes to the :class:`~mltune.data.report.DataReport`.
Rows whose target is empty are dropped (the report says how many).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mltune.config.recipe import FixedParam, Recipe, table_format
from mltune.data.columns import (
    MISSING_MARKS,
    NUMERIC_KINDS,
    Column,
    clean_text,
    column_list,
    comma_numbers,
    few_whole_numbers,
    infer_columns,
    mlflow_type,
    read_numbers,
    says_missing,
)
from mltune.data.report import DataReport, describe
from mltune.errors import ConfigError
from mltune.tasks import TASKS

SEPARATORS = (";", "\t", "|", ",")


@dataclass(frozen=True)
class Table:
    """Raw rows as the user has them.

    Attributes:
        frame: the rows, feature columns and (unless autoencoder) the target column; text stripped of spaces.
        features: the used feature column names, in model input order.
        target: the target column, or None for an autoencoder.
        source: where the rows came from, for messages and lineage.
        columns: every candidate feature column with its kind and why, dropped ones included.
        report: what the data checks found.
        image_shape: (height, width, channels) when the rows are images (a ``.npz`` file).
    """

    frame: pd.DataFrame
    features: tuple[str, ...]
    target: str | None
    source: str
    columns: tuple[Column, ...] = ()
    report: DataReport = field(default_factory=DataReport)
    image_shape: tuple[int, ...] | None = None
    """(height, width, channels) of image rows read from a ``.npz`` file; their pixels are the feature columns."""

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of the used columns' contents: equal data, equal fingerprint."""
        columns = [*self.features, *([self.target] if self.target else [])]
        hashed = pd.util.hash_pandas_object(self.frame[columns], index=False).to_numpy()
        return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]

    @property
    def schema(self) -> dict[str, str]:
        """The used feature columns and their kinds: what a study is bound to."""
        return {c.name: c.kind for c in self.used_columns}

    @property
    def used_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.used)

    def features_frame(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The feature columns of ``frame`` (all rows by default), as a model takes them."""
        return (self.frame if frame is None else frame)[list(self.features)]

    def x(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Feature matrix (float32) of the given row positions (numeric tables only: the autoencoder's)."""
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
        ConfigError: the file cannot be read or has no rows, a column is missing, or nothing could train.
    """
    spec = recipe.data
    image_shape: tuple[int, ...] | None = None
    if spec.dataset is not None:
        from sklearn import datasets

        frame = getattr(datasets, f"load_{spec.dataset}")(as_frame=True).frame
        target: str | None = "target"
        origin = f"sklearn:{spec.dataset}"
    elif spec.path is not None and spec.path.suffix.lower() == ".npz":
        frame, image_shape = read_images(spec.path, source=source)
        target, origin = spec.target or IMAGE_TARGET, str(spec.path)
    else:
        assert spec.path is not None
        frame = read_file(spec.path, spec.separator, source=source, decimal=spec.decimal, names=spec.column_names,
                          target=spec.target)
        target, origin = spec.target, str(spec.path)
    task = TASKS[recipe.task]
    if not task.uses_target and spec.target is None and spec.dataset is None:
        target = None
    if target is not None and target not in frame.columns:
        raise ConfigError(f"{source}: data.target: no such column in {origin}, but got {target!r} "
                          f"({column_list(list(frame.columns), target)})")
    names = _feature_names(recipe, frame, target, origin, source)
    frame = frame[[*names, *([target] if target is not None and task.uses_target else [])]]
    frame = frame.apply(clean_text).reset_index(drop=True)
    if not task.uses_target:
        return _numeric_table(frame, names, origin, source)
    assert target is not None
    if recipe.task == "regression":
        frame[target] = _numbers_if_they_are(frame[target])
    else:
        frame[target] = _without_missing_marks(frame[target])
    frame, dropped_rows = _rows_with_target(frame, target, origin, source)
    if recipe.task == "classification":
        frame[target] = class_labels(frame[target])
    broken = task.check_target(frame[target], where=target)
    if broken:
        raise ConfigError(f"{source}: data.target: {broken}")
    _check_target_values(recipe, frame[target], origin, source)
    columns = _columns(recipe, frame, names, origin, source)
    features = tuple(c.name for c in columns if c.used)
    frame = frame[[*features, target]]
    report = describe(frame, columns, target=target, task=recipe.task, dropped_target_rows=dropped_rows,
                      class_weights=recipe.data.class_weights)
    return Table(frame=frame, features=features, target=target, source=origin, columns=columns, report=report,
                 image_shape=image_shape)


IMAGE_TARGET = "y"
"""The target column of a ``.npz`` file's rows (its ``y`` array)."""


READ_BY_KIND = {"categorical_encoding": ("categorical",), "numeric_scaling": NUMERIC_KINDS,
                "numeric_embedding": NUMERIC_KINDS, "periodic_sigma": NUMERIC_KINDS}
"""Hyperparameters of how columns of these kinds are read: moot for a table with none of them."""


def for_table(recipe: Recipe, table: Table) -> Recipe:
    """The recipe as the table settles it, for a template written for any table.

    A regression recipe that names no objective metric is tuned for ``mae`` when its target is a score or count (a
    few whole-number values, as wine quality 3-8), as the inferred recipe is; any other keeps its task's default.
    A searched hyperparameter of how some kind of column is read (:data:`READ_BY_KIND`) is left out when the table
    has no such column, with those sampled only under it: the sampler does not spend trials on it, and the trials'
    parameters say only what their models use.
    """
    update: dict[str, Any] = {}
    if recipe.objective.metric is None and recipe.task == "regression" and table.target is not None \
            and few_whole_numbers(table.frame[table.target]):
        update["objective"] = recipe.objective.model_copy(update={"metric": "mae"})
    kinds = {c.kind for c in table.used_columns}
    moot = {name for name, spec in recipe.search.items()
            if not isinstance(spec, FixedParam) and name in READ_BY_KIND and not kinds & set(READ_BY_KIND[name])}
    if table.columns and moot:
        search = {}
        for name, spec in recipe.search.items():  # a `when` names an earlier parameter
            if moot & {name, *(spec.when or {})}:
                moot.add(name)
            else:
                search[name] = spec
        update["search"] = search
    return recipe.model_copy(update=update) if update else recipe


def read_images(path: Path, *, source: str) -> tuple[pd.DataFrame, tuple[int, int, int]]:
    """A ``.npz`` file of images as rows: one ``pixel_<i>`` column per value of ``x[i]`` (row-major), and ``y``.

    Raises:
        ConfigError: missing or unreadable file, no ``x`` or ``y`` array, ``x`` not (N, H, W[, C]), or lengths
            that differ.
    """
    if not path.is_file():
        raise ConfigError(f"{source}: data.path: file not found, but got {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {name: arrays[name] for name in arrays.files}
    except (ValueError, OSError) as error:
        raise ConfigError(f"{source}: data.path: cannot read {str(path)!r}: {error}") from None
    if "x" not in found or "y" not in found:
        raise ConfigError(f"{source}: data.path: a .npz file needs arrays `x` (images) and `y` (targets), but "
                          f"{str(path)!r} holds {sorted(found)}")
    x, y = found["x"], found["y"]
    if x.ndim not in (3, 4) or len(x) == 0:
        raise ConfigError(f"{source}: data.path: `x` must have shape (N, height, width) or (N, height, width, "
                          f"channels) with N > 0, but got {x.shape} in {str(path)!r}")
    if y.ndim != 1 or len(y) != len(x):
        raise ConfigError(f"{source}: data.path: `y` must hold one target per image, but got shape {y.shape} for "
                          f"{len(x)} images in {str(path)!r}")
    shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]) if x.ndim == 4 else 1)
    pixels = x.reshape(len(x), -1).astype(np.float32)
    frame = pd.DataFrame(pixels, columns=[f"pixel_{i}" for i in range(pixels.shape[1])])
    frame[IMAGE_TARGET] = y
    return frame, shape


def read_file(path: Path, separator: str, *, source: str, decimal: str = ".",
              names: Sequence[str] | None = None, target: str | None = None) -> pd.DataFrame:
    """The rows of a delimited text file (see :func:`~mltune.config.recipe.table_format`; compressed or not; UTF-8
    with or without a byte-order mark, else Windows' cp1252; numbers with ``decimal`` as their decimal mark) or a
    Parquet file. Column names lose surrounding spaces; columns with no name (a spreadsheet's trailing empty
    columns) are named ``Unnamed: N``, as pandas names them. A text file with no header row is read with ``names``,
    or, when its first line is data (:func:`is_data_line`; not when it names the ``target``), with the names
    ``column_1`` ... ``column_N``.

    Raises:
        ConfigError: missing or unreadable file, duplicate column names, a header the separator does not split,
            a header with no rows, or ``names`` that do not fit the columns.
    """
    if not path.is_file():
        raise ConfigError(f"{source}: data.path: file not found, but got {str(path)!r}")
    text = table_format(path) != "parquet"
    try:
        frame, encoding = (_read_text(path, separator, decimal) if text else (pd.read_parquet(path), ""))
        header = _text_header(path, separator, encoding) if text else [str(c) for c in frame.columns]
        if text and (names is not None or (is_data_line(header) and target not in header)):
            if names is not None and len(names) != len(header):
                raise ConfigError(f"{source}: data.column_names: one name per column, but got {len(names)} names "
                                  f"for the {len(header)} columns of {str(path)!r}")
            header = list(names or headerless_names(len(header)))
            frame, _ = _read_text(path, separator, decimal, names=header)
    except (ValueError, OSError, ImportError, UnicodeDecodeError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{source}: data.path: cannot read {str(path)!r}: {error}") from None
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise ConfigError(f"{source}: data.path: column names must be unique, but {str(path)!r} repeats {repeated}")
    if text and len(header) == 1:
        better = [s for s in SEPARATORS if s != separator and s in header[0]]
        if better:
            raise ConfigError(f"{source}: data.separator: {separator!r} does not split the header of {str(path)!r} "
                              f"into columns, but {better[0]!r} would: set data.separator: {better[0]!r} "
                              f"(header: {header[0][:80]!r})")
    if frame.empty:
        raise ConfigError(f"{source}: data.path: {str(path)!r} has a header ({len(header)} columns) but no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_text(path: Path, separator: str, decimal: str,
               names: Sequence[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The rows and the encoding they were read with: UTF-8 (a byte-order mark skipped), else cp1252 (a CSV saved
    by Excel on Windows). The lines above the header are skipped (:func:`lines_above_header`); with ``names``, the
    file has no header row."""
    header = {} if names is None else {"header": None, "names": list(names)}

    def read(encoding: str) -> pd.DataFrame:
        skip = lines_above_header(_first_lines(path, encoding))
        frame = pd.read_csv(path, sep=separator, decimal=decimal, encoding=encoding, skiprows=skip, **header)
        if decimal != ",":
            return frame
        for name, column in frame.items():  # 238.920,64: thousands grouped by dots
            numbers = None if pd.api.types.is_numeric_dtype(column) else comma_numbers(column)
            if numbers is not None:
                frame[name] = numbers.reindex(frame.index)
        return frame

    try:
        return read("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        return read("cp1252"), "cp1252"


def is_data_line(cells: Sequence[str]) -> bool:
    """Whether a text file's first line is data rather than column names: all its cells are numbers, or one is a
    number with a fraction (``18.0``, ``-0.5``). Names such as ``1990`` beside ``Country`` are names, and so are
    the positions ``0, 1, 2, ...`` that pandas writes for a frame made from an array."""
    cells = [cell.strip() for cell in cells]
    numbers = [cell for cell in cells if _NUMBER.fullmatch(cell)]
    positions = any(cells == [str(i) for i in range(start, start + len(cells))] for start in (0, 1))
    return len(cells) > 1 and not positions and (
        len(numbers) == len(cells) or any(_FRACTION.fullmatch(cell) for cell in numbers))


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_FRACTION = re.compile(r"[-+]?(\d*\.\d+|\d+\.\d*)([eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+")


def headerless_names(count: int) -> list[str]:
    """The names of the columns of a text file with no header row and no ``data.column_names``."""
    return [f"column_{i}" for i in range(1, count + 1)]


def first_line(path: Path, encoding: str = "utf-8-sig") -> str:
    """The first line of a text table (decompressed) below the lines :func:`lines_above_header` skips, as
    written: its header, or its first row of data."""
    lines = _first_lines(path, encoding)
    return lines[lines_above_header(lines)] if lines else ""


def lines_above_header(lines: Sequence[str]) -> int:
    """How many of a text table's first lines to skip: blank lines, titles (no separator) and comments (``#``, unless
    split like the line below it: a header such as ``#id,x,y``) above the header (none if no line has a separator)."""
    texts = [line.strip() for line in lines]
    for number, text in enumerate(texts):
        if not any(s in text for s in SEPARATORS):
            continue
        below = next((t for t in texts[number + 1:] if t), "")
        if not text.startswith("#") or any(text.count(s) == below.count(s) > 0 for s in SEPARATORS):
            return number
    return 0


def _first_lines(path: Path, encoding: str, count: int = 30) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines = pd.read_csv(path, sep="\x1f", header=None, nrows=count, dtype=str, encoding=encoding,
                            keep_default_na=False, quoting=csv.QUOTE_NONE, encoding_errors="replace",
                            skip_blank_lines=False)
    return [str(line) for line in lines.iloc[:, 0]] if not lines.empty else []


def _text_header(path: Path, separator: str, encoding: str) -> list[str]:
    return [name.strip() for name in next(csv.reader([first_line(path, encoding)], delimiter=separator), [])]


def _feature_names(recipe: Recipe, frame: pd.DataFrame, target: str | None, origin: str,
                   source: str) -> list[str]:
    spec = recipe.data
    if spec.features is not None:
        missing = [c for c in spec.features if c not in frame.columns]
        if missing:
            raise ConfigError(f"{source}: data.features: no such column in {origin}, but got {missing}")
        names = list(spec.features)
    else:
        names = [str(c) for c in frame.columns if c != target]
    if not names:
        raise ConfigError(f"{source}: data.features: at least one feature column is needed, but got none")
    unknown = [c for c in spec.columns if c not in frame.columns]
    if unknown:
        raise ConfigError(f"{source}: data.columns: no such column in {origin}, but got {unknown}")
    return names


def _rows_with_target(frame: pd.DataFrame, target: str, origin: str, source: str) -> tuple[pd.DataFrame, int]:
    """The rows whose target is filled, and how many were dropped."""
    empty = frame[target].isna()
    if empty.all():
        raise ConfigError(f"{source}: data.target: column {target!r} of {origin} has no values: all {len(frame)} "
                          "cells are empty")
    return frame[~empty].reset_index(drop=True), int(empty.sum())


def _numbers_if_they_are(values: pd.Series) -> pd.Series:
    """A text target of numbers (``$132,500`` too) with a few other cells (``?``, ``n/a``: see
    :func:`read_numbers`) as numbers, those cells empty (their rows are then dropped, and the report counts them);
    any other column as it is."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    text = values.dropna().map(str)
    numbers = None if text.empty else read_numbers(text)
    return values if numbers is None else numbers.reindex(values.index)


def _without_missing_marks(values: pd.Series) -> pd.Series:
    """A class target whose ``?`` and ``-`` cells (:data:`MISSING_MARKS`) are empty: no class is named so."""
    return values.mask(values.map(lambda v: isinstance(v, str) and v.strip() in MISSING_MARKS))


def class_labels(values: pd.Series) -> pd.Series:
    """The labels typed as their filled cells are: ``pd.read_csv`` reads a column with empty cells as objects
    (TRUE/FALSE: Python bools beside NaN) or floats (codes 1, 2, 3 as 1.0, 2.0, 3.0); without those cells, they are
    bools and integers again. Text labels that differ only in case are one class."""
    values = values.infer_objects()
    if pd.api.types.is_float_dtype(values) and bool((values % 1 == 0).all()):
        return values.astype(np.int64)
    if values.map(lambda v: isinstance(v, str)).all():  # 'yes', 'Yes', 'YES': one class, as it is most often written
        folded = values.str.casefold()
        spelling = values.groupby(folded).agg(lambda group: group.value_counts().index[0])
        return folded.map(spelling)
    return values


def _check_target_values(recipe: Recipe, values: pd.Series, origin: str, source: str) -> None:
    if pd.api.types.is_numeric_dtype(values) and not np.isfinite(values.to_numpy(dtype=float)).all():
        bad = values[~np.isfinite(values.to_numpy(dtype=float))]
        raise ConfigError(f"{source}: data.target: values must be finite, but column {values.name!r} of {origin} "
                          f"has {len(bad)} infinite value(s), e.g. {bad.iloc[0]}")
    if recipe.task == "classification" and values.nunique() < 2:
        raise ConfigError(f"{source}: data.target: a classifier needs at least two classes, but column "
                          f"{values.name!r} of {origin} has one: {values.iloc[:1].tolist()[0]!r}")


def _columns(recipe: Recipe, frame: pd.DataFrame, names: list[str], origin: str, source: str) -> tuple[Column, ...]:
    """Every feature column's kind, the recipe's overrides checked against the values."""
    overrides = {k: v for k, v in recipe.data.columns.items() if k in names}
    columns = infer_columns(frame, names, overrides)
    for column in columns:
        if column.name in overrides:
            _check_override(frame[column.name], column, source)
    used = [c for c in columns if c.used]
    if not used or all(c.constant for c in used):
        why = "; ".join(f"{c.name!r}: {c.reason}" for c in columns)
        keepable = [c for c in columns if not c.used and not c.constant and "empty" not in c.reason]
        hint = ""
        if keepable:  # a dropped column of numbers is kept as numbers, one of text as categories or words
            first = keepable[0]
            said, kind, other = ("numbers", "integer", "categories (kind: categorical)") if first.dtype in (
                "long", "double") else ("categories", "categorical", "words (kind: text)")
            hint = (f"; to use a dropped column, give its kind: {said} (--set 'data.columns={{{first.name}: "
                    f"{{kind: {kind}}}}}') or {other}")
        raise ConfigError(f"{source}: data.features: no feature of {origin} can train a model (every one is "
                          f"dropped or holds one value), but got {why}{hint}")
    return columns


def _check_override(values: pd.Series, column: Column, source: str) -> None:
    where = f"{source}: data.columns.{column.name}"
    present = values.dropna()
    if column.kind in ("numeric", "integer"):
        numbers = pd.to_numeric(present, errors="coerce")
        odd = numbers.isna() & ~says_missing(present)  # '?', 'n/a', ... are read as empty
        if odd.any():
            raise ConfigError(f"{where}: kind {column.kind} needs numbers, but got {present[odd].iloc[0]!r} "
                              f"({int(odd.sum())} of {len(present)} filled cells are not numbers)")
    if column.kind == "ordinal":
        assert column.order is not None
        unknown = sorted({str(v) for v in present.map(str)} - set(column.order))
        if unknown:
            raise ConfigError(f"{where}.order: every value of the column must be in `order`, but got {unknown[:10]} "
                              f"outside {list(column.order)}")


def _numeric_table(frame: pd.DataFrame, names: list[str], origin: str, source: str) -> Table:
    """An autoencoder's table: it reconstructs its inputs, so every column must be numeric and filled."""
    bad = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ConfigError(f"{source}: data.features: an autoencoder's features must be numeric, but got "
                          f"non-numeric columns {bad} (drop them with data.features)")
    counts = frame[names].isna().sum()
    if counts.any():
        holes = {str(k): int(v) for k, v in counts[counts > 0].items()}
        raise ConfigError(f"{source}: data: an autoencoder needs filled cells, but got empty cells {holes}")
    columns = tuple(Column(n, "numeric", "autoencoder input", dtype=mlflow_type(frame[n])) for n in names)
    return Table(frame=frame, features=tuple(names), target=None, source=origin, columns=columns)
