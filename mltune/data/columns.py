"""Column kinds: what each column of a user's table is, why, and how its raw values reach the model's inputs.

A kind is inferred from the values (or given in the recipe's ``data.columns``):

- ``numeric``: floats; ``integer``: whole numbers (both go to the model's numeric input).
- ``boolean``: true/false, yes/no, y/n, t/f (any case) or a bool column, as 1.0/0.0.
- ``categorical``: text with few distinct values; ``ordinal``: text with an order the recipe gives.
- ``date``: text that parses as dates, expanded into year, month, day and day of week (and the hour, when the cells
  carry times of day); times of day alone (``11:38:36``) give the hour.
- ``drop``: identifiers, free text, constant or empty columns; dropped with the reason.

:func:`model_inputs` turns raw rows (as ``pd.read_csv`` gives them) into the arrays the Keras model takes: one
float matrix for every numeric, integer, boolean and date column, and one string array per categorical or ordinal
column. It holds no fitted state: vocabularies, medians, outlier bounds and scaling are learned inside the Keras
model (``mltune.model.inputs``). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mltune.config.recipe import ColumnSpec

NUMERIC_KINDS = ("numeric", "integer", "boolean", "date")
TEXT_KINDS = ("categorical", "ordinal", "text")
TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
DATE_PARTS = ("year", "month", "day", "dayofweek")
MOSTLY_NUMBERS = 0.9
"""A text column whose filled cells are at least this share numbers is numeric; its other cells (``?``, ``n/a``,
``-``) are read as empty. Cells that say a value is missing (:data:`MISSING_WORDS`) count as numbers here, as long as
at least half the filled cells are numbers."""
MISSING_WORDS = frozenset({"?", "-", "--", ".", "na", "n/a", "nan", "none", "null", "missing", "unknown", "#n/a"})
"""Cells that say a number is missing (UCI's ``?``, a spreadsheet's ``-``); pandas reads only some of them as empty."""
MISSING_MARKS = frozenset({"?", "-", "--", "."})
"""The missing words that no class is named: a text target's cells holding one are empty."""
CONSTANT = "constant"
MISSING_TOKEN = "<missing>"
"""What an empty cell of a categorical or ordinal column becomes: a category of its own."""
MAX_CLASSES_OF_NUMBERS = 10
"""A target of whole numbers with at most this many distinct values is taken as classes (but see the inferred
recipe's ``MIN_SCALE_VALUES``), or, predicted as a number, as a score or count."""
MAX_CATEGORIES = 100
"""More distinct text values than this (or than half the rows) make a column free text, not categorical, unless
the table is large enough for :data:`MAX_CATEGORIES_OF_MANY_ROWS`."""
MAX_CATEGORIES_OF_MANY_ROWS = 1000
"""A column of up to this many distinct text values, each seen in 10 rows on average (a country among 30,000 people),
is categorical too (the search space then tunes embeddings)."""
TEXT_WORDS = 2
"""Free text (a name, a title, a description) has at least this many words in a cell (the median) ..."""
TEXT_SHARED_WORDS = 5
"""... and at least this many words (not numbers) that each appear in 1% of the rows (2 at least) but not in every
row: ``Mr``, ``Mrs`` and ``Miss`` of passengers' names, a product's brand, a list of tags, where an identifier's
parts do not repeat and a template's fixed words (``note 17 about the visit``) tell nothing."""
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')
"""What Keras' ``TextVectorization`` strips by default (``lower_and_strip_punctuation``)."""
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|index|row)$|^(id|uuid|guid)[_\W]|^row_?names?$"
                      r"|^unnamed: ?\d+(\.\d+)?$", re.IGNORECASE)
"""Names of identifier columns: ``id``, ``customer_id``, ``ID``, ``rownames`` (R), ``Unnamed: 0`` (a pandas index
written with ``to_csv``; ``Unnamed: 0.1`` when written twice)."""
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$|^[A-Z]?ID$")
"""Identifiers named in camel case or capitals: ``userId``, ``patientID``, ``PID``."""
_TIME_NAME = re.compile(r"year|month|week|quarter|period|time|^(t|yr|day|age|season)$", re.IGNORECASE)
"""Names of a time (``Year``, ``month``, ``t``): a table with a row per year counts them up by one, like a row number,
but they are what the target changes with."""


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind and why.

    Attributes:
        name: the column's name in the table.
        kind: one of :data:`KINDS`.
        reason: why it has this kind (inferred from what, or given in the recipe).
        order: the categories of an ordinal column, lowest first.
        dtype: the MLflow type of the raw column as read ("long", "double", "string", "boolean").
        missing: whether the training table had empty cells in it.
    """

    name: str
    kind: str
    reason: str
    order: tuple[str, ...] | None = None
    dtype: str = "string"
    missing: bool = False
    date_format: str | None = None
    """A date column's format when its dates are numbers in one order (``%d/%m/%Y``: day first), so that every
    cell is read the same way; None: each cell is parsed as it reads (ISO dates, month names)."""
    date_parts: tuple[str, ...] = DATE_PARTS
    """The entries a date column gives the model: :data:`DATE_PARTS`, with ``hour`` (the time of day in hours)
    when its cells carry times, or ``hour`` alone for times of day (``11:38:36``)."""

    @property
    def used(self) -> bool:
        return self.kind != "drop"

    @property
    def constant(self) -> bool:
        return self.reason.startswith(CONSTANT)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Column:
        order = raw.get("order")
        return cls(**{**raw, "order": None if order is None else tuple(order),
                      "date_parts": tuple(raw.get("date_parts", DATE_PARTS))})


def clean_text(values: pd.Series) -> pd.Series:
    """Text without leading and trailing spaces; empty strings become missing. Other values, and ordered
    categories (whose order is kept), pass unchanged."""
    ordered = isinstance(values.dtype, pd.CategoricalDtype) and values.dtype.ordered
    if ordered or not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    stripped = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    return stripped.map(lambda v: np.nan if isinstance(v, str) and not v else v).astype(object)


def infer_columns(frame: pd.DataFrame, names: Sequence[str],
                  overrides: Mapping[str, ColumnSpec] | None = None) -> tuple[Column, ...]:
    """The kind of every named column of ``frame`` (text already cleaned with :func:`clean_text`)."""
    overrides = overrides or {}
    return tuple(_override(frame[name], name, overrides[name]) if name in overrides else infer_column(frame[name], name)
                 for name in names)


def infer_column(values: pd.Series, name: str) -> Column:
    """The kind of one column, inferred from its values."""
    dtype, missing = mlflow_type(values), bool(values.isna().any())
    present = values.dropna()
    distinct = present.nunique()

    def column(kind: str, reason: str) -> Column:
        return Column(name, kind, reason, dtype=dtype, missing=missing)

    if present.empty:
        return column("drop", "every cell is empty")
    if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype.ordered and distinct > 1:  # Parquet, pandas
        ranks = tuple(category(c) for c in values.dtype.categories)
        return Column(name, "ordinal", f"ordered categories {list(ranks)[:10]}", order=ranks, dtype=dtype,
                      missing=missing)
    if distinct == 1:
        kind = "numeric" if pd.api.types.is_numeric_dtype(values) else "categorical"
        return column(kind, f"{CONSTANT}: every filled cell is {plain_value(present.iloc[0])!r}")
    if pd.api.types.is_bool_dtype(values) or _is_boolean_text(present):
        return column("boolean", f"two values {sorted(map(str, present.unique()))}")
    if pd.api.types.is_numeric_dtype(values):
        whole = bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0)) if np.isfinite(
            present.to_numpy(dtype=float)).all() else False
        if whole and _looks_like_identifier(present, name):
            return column("drop", f"identifier: {distinct} distinct whole numbers in {len(present)} rows")
        if whole:
            return column("integer", "whole numbers")
        return column("numeric", "numbers")
    text = present.map(str)
    numbers = pd.to_numeric(text, errors="coerce")
    if mostly_numbers(text, numbers):
        odd = text[numbers.isna()]
        whole = bool(np.all(np.mod(numbers.dropna().to_numpy(dtype=float), 1) == 0))
        # Blank cells ("  ") are already empty: a column of them and numbers is plain numbers.
        reason = "numbers" if odd.empty else \
            f"numbers, but {len(odd)} cell(s) are text read as empty, e.g. {odd.iloc[0]!r}"
        return column("integer" if whole else "numeric", reason)
    formatted = formatted_numbers(text)
    if mostly_numbers(text, formatted):
        example = text[formatted.notna() & numbers.isna()].iloc[0]
        return column("numeric", f"numbers written with a currency sign, thousands separators or %, e.g. "
                                 f"{example!r} (read as {formatted[text == example].iloc[0]:g})")
    comma = decimal_comma_number(text)
    if comma is not None:
        return column("drop", f"numbers written with commas, read as text, e.g. {comma!r} (for decimal commas set "
                              "data.decimal: ',')")
    dated = _date_column(text, name, dtype, missing)
    if dated is not None:
        return dated
    if (distinct <= MAX_CATEGORIES and distinct <= max(2, len(present) // 2)) or (
            distinct <= MAX_CATEGORIES_OF_MANY_ROWS and distinct <= len(present) // 10):
        return column("categorical", f"text with {distinct} distinct values")
    shared = shared_words(text)
    if shared:
        return column("text", f"free text: {distinct} distinct values, words such as {shared[:4]} in many rows")
    if distinct >= 0.9 * len(present):
        return column("drop", f"identifier or free text: {distinct} distinct values in {len(present)} rows")
    return column("drop", f"free text: {distinct} distinct values (more than {MAX_CATEGORIES}, or half the rows, "
                          f"for a categorical column; up to {MAX_CATEGORIES_OF_MANY_ROWS} seen in 10 rows each)")


def words(text: str) -> list[str]:
    """A cell's words as Keras' ``TextVectorization`` splits them by default: lower case, punctuation left out."""
    return _PUNCTUATION.sub("", text.lower()).split()


def shared_words(text: pd.Series) -> list[str]:
    """The words of free text that many rows share, most shared first (see :data:`TEXT_WORDS`), or none when
    ``text`` is not free text."""
    cells = text.map(words)
    if cells.map(len).median() < TEXT_WORDS:
        return []
    rows = Counter(word for cell in cells for word in set(cell) if not word.isdigit())
    floor = max(2.0, 0.01 * len(text))
    shared = [word for word, count in rows.most_common() if floor <= count <= len(text) - floor]
    return shared if len(shared) >= TEXT_SHARED_WORDS else []


def few_whole_numbers(values: pd.Series) -> bool:
    """Whether a target's values are whole numbers, at most :data:`MAX_CLASSES_OF_NUMBERS` of them: class codes,
    or a score or count."""
    return (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            and values.nunique() <= MAX_CLASSES_OF_NUMBERS and bool((values.astype(float) % 1 == 0).all()))


def mostly_numbers(text: pd.Series, numbers: pd.Series) -> bool:
    """Whether filled cells ``text`` (read as ``numbers``) are a column of numbers with a few odd cells, or with
    cells that say a number is missing (see :data:`MOSTLY_NUMBERS`)."""
    share = numbers.notna().mean()
    return bool(share >= MOSTLY_NUMBERS or (share >= 0.5 and (numbers.notna() | says_missing(text)).mean()
                                            >= MOSTLY_NUMBERS))


def says_missing(text: pd.Series) -> pd.Series:
    """Which cells say a value is missing (:data:`MISSING_WORDS`, in any case)."""
    return text.map(lambda v: str(v).strip().lower() in MISSING_WORDS)


def _override(values: pd.Series, name: str, given: ColumnSpec) -> Column:
    order = numeric_date_format(values.dropna().map(str)) if given.kind == "date" else None
    return Column(name, given.kind, "given in data.columns", order=given.order, dtype=mlflow_type(values),
                  missing=bool(values.isna().any()), date_format=order)


def _is_boolean_text(present: pd.Series) -> bool:
    if not (pd.api.types.is_object_dtype(present) or pd.api.types.is_string_dtype(present)):
        return False
    words = {str(v).lower() for v in present.unique()}
    return len(words) == 2 and (words <= TRUE_WORDS | FALSE_WORDS) and bool(words & TRUE_WORDS) \
        and bool(words & FALSE_WORDS)


def _looks_like_identifier(present: pd.Series, name: str) -> bool:
    unique_share = present.nunique() / len(present)
    if (_ID_NAME.search(name) or _CAMEL_ID.search(name)) and unique_share > 0.5:  # UCI's sample codes repeat
        return True
    numbers = present.to_numpy(dtype=float)
    years = bool(np.all((numbers >= 1700) & (numbers <= 2200)))
    return len(present) > 20 and unique_share == 1.0 and bool(np.all(np.diff(numbers) == 1)) and not (
        years or _TIME_NAME.search(name))


FORMATTED_NUMBER = re.compile(r"\s*(?P<sign>[-+]?)\s*[$€£¥]?\s*(?P<inner>[-+]?)"
                              r"(?P<digits>[1-9]\d{0,2}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?\s*%?\s*")
"""A number as a spreadsheet shows it: ``$1,234.50``, ``-€12``, ``45%``, ``1,234`` (thousands separated by commas)."""


def formatted_numbers(text: pd.Series) -> pd.Series:
    """The numbers of cells written as :data:`FORMATTED_NUMBER` (``$1,234.50`` is 1234.5, ``45%`` is 45), NaN
    elsewhere."""
    parts = text.astype(str).str.fullmatch(FORMATTED_NUMBER.pattern)
    found = text.astype(str).str.extract("^" + FORMATTED_NUMBER.pattern + "$")
    plain = found["digits"].str.replace(",", "", regex=False) + found["fraction"].fillna("")
    negative = (found["sign"] == "-") ^ (found["inner"] == "-")
    numbers = pd.to_numeric(plain, errors="coerce").where(~negative, -pd.to_numeric(plain, errors="coerce"))
    return numbers.where(parts)


def column_list(names: Sequence[Any], wanted: str) -> str:
    """The columns a missing one was looked for in (the first 20), and the one it differs from only in case."""
    alike = [str(n) for n in names if str(n).casefold() == wanted.casefold()]
    return (f"did you mean {alike[0]!r}? " if alike else "") + \
        f"columns: {', '.join(map(str, names[:20]))}{f' and {len(names) - 20} more' if len(names) > 20 else ''}"


def read_numbers(text: pd.Series) -> pd.Series | None:
    """Text cells as numbers, when they are a column of numbers (see :func:`mostly_numbers`; the other cells
    empty), written plainly or as a spreadsheet shows them (``$132,500``, ``45%``); None when they are not."""
    numbers = pd.to_numeric(text, errors="coerce")
    if mostly_numbers(text, numbers):
        return numbers
    formatted = formatted_numbers(text)
    return formatted if mostly_numbers(text, formatted) else None


DECIMAL_COMMA = re.compile(r"\s*[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s*")
"""A number written with a decimal comma (its thousands grouped by dots or not: ``238.920,64``), or a whole
number."""


def comma_numbers(text: pd.Series) -> pd.Series | None:
    """Cells written as :data:`DECIMAL_COMMA` numbers, some of them with thousands grouped by dots (which pandas
    does not read, as its ``thousands='.'`` would read the date ``01.02.2020`` as a number), as numbers; None when
    they are not all such numbers, or none is grouped."""
    text = text.dropna().astype(str)
    if text.empty or not text.str.contains(".", regex=False).any() or not text.str.fullmatch(DECIMAL_COMMA).all():
        return None
    plain = text.str.strip().str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(plain, errors="coerce")


def decimal_comma_number(text: pd.Series) -> str | None:
    """The first number with a decimal comma, when every cell of ``text`` is one (or a whole number)."""
    commas = text.str.contains(",", regex=False)
    if text.empty or not commas.any() or not text.str.fullmatch(DECIMAL_COMMA).all():
        return None
    return str(text[commas].iloc[0])


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_LIKE = re.compile(rf"\d{{1,4}}[-/.]\d{{1,2}}[-/.]\d{{1,4}}|\d{{1,2}}[-/ ]{_MONTH}[-/ ,]*\d{{2,4}}"
                        rf"|{_MONTH}[-/ ]\d{{1,2}}(?:st|nd|rd|th)?,?[-/ ]\d{{4}}", re.IGNORECASE)
"""Dates as numbers (``2020-08-05``, ``05/08/2020``) or with a month's name (``05-Jan-2020``, ``Jan 1, 2000``)."""


def _date_column(text: pd.Series, name: str, dtype: str, missing: bool) -> Column | None:
    """A date column, when the text cells are dates (with times of day, or not), or times of day alone."""
    if text.str.fullmatch(TIME_OF_DAY).mean() >= MOSTLY_NUMBERS:
        return Column(name, "date", "times of day, read as hours", dtype=dtype, missing=missing,
                      date_parts=("hour",))
    if not _parses_as_dates(text):
        return None
    order = numeric_date_format(text)
    dates = parse_dates(text.head(1000), order)
    timed = bool(((dates.dt.hour != 0) | (dates.dt.minute != 0)).any())
    return Column(name, "date", f"text that parses as dates{f' ({order})' if order else ''}"
                                f"{', with times of day' if timed else ''}", dtype=dtype, missing=missing,
                  date_format=order, date_parts=(*DATE_PARTS, "hour") if timed else DATE_PARTS)


def _parses_as_dates(text: pd.Series) -> bool:
    sample = text.head(200)
    if not sample.str.contains(_DATE_LIKE, regex=True).mean() >= 0.9:
        return False
    return bool(parse_dates(sample).notna().mean() >= 0.9)


TIME_OF_DAY = re.compile(r"\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp]\.?[Mm]\.?)?\s*")
"""A time of day with no date: ``11:38``, ``11:38:36``, ``9:05 PM``."""

_NUMERIC_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})")


def numeric_date_format(text: pd.Series) -> str | None:
    """The format of dates written as numbers with the year last (``05/08/2020``), read from the column's cells:
    day first when a first number is over 12, month first when a second one is; when no cell tells, month first
    for ``/`` (as pandas reads it) and day first for ``.`` and ``-``. None for other dates (ISO, month names)."""
    parts = text.str.fullmatch(_NUMERIC_DATE.pattern)
    if not parts.all():
        return None
    found = text.str.extract(_NUMERIC_DATE)
    first, second = found[0].astype(int), found[2].astype(int)
    separator, year = found[1].iloc[0], "%Y" if len(found[3].iloc[0]) == 4 else "%y"
    day_first = bool((first > 12).any()) or (not (second > 12).any() and separator != "/")
    return separator.join(["%d", "%m"] if day_first else ["%m", "%d"]) + separator + year


_UTC_OFFSET = re.compile(r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}:?\d{2})$")
"""A time's UTC offset (``10:00+01:00``, ``10:00:00Z``), kept apart in ``\\1`` from the time."""


def parse_dates(values: pd.Series, date_format: str | None = None) -> pd.Series:
    """Dates from text (missing where a cell does not parse), in ``date_format`` when given. A time with a UTC
    offset is read at its own clock (the day and weekday where it was written), without the offset: offsets that
    change with daylight saving time, or cells with and without one, would not parse together."""
    local = values.map(lambda v: _UTC_OFFSET.sub(r"\1", v) if isinstance(v, str) else v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(local, errors="coerce", format=date_format or "mixed")


def date_part(dates: pd.Series, part: str) -> np.ndarray:
    """One of a date column's entries (:attr:`Column.date_parts`) of parsed dates; ``hour`` counts minutes too."""
    if part == "hour":
        return (dates.dt.hour + dates.dt.minute / 60 + dates.dt.second / 3600).to_numpy(dtype=np.float64)
    return getattr(dates.dt, "day_of_week" if part == "dayofweek" else part).to_numpy(dtype=np.float64)


def mlflow_type(values: pd.Series) -> str:
    """The MLflow column type of a raw column, as ``pd.read_csv`` types it."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "long"
    if pd.api.types.is_float_dtype(values):
        return "double"
    return "string"


def plain_value(value: Any) -> Any:
    """A NumPy scalar as the Python value it equals (``np.False_`` is ``False``, ``np.str_("a")`` is ``"a"``)."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- raw rows to model inputs


def numeric_names(columns: Sequence[Column]) -> list[str]:
    """The names of the numeric input's entries, in order (a date column gives four)."""
    names: list[str] = []
    for column in columns:
        if column.kind == "date":
            names.extend(f"{column.name}.{part}" for part in column.date_parts)
        elif column.kind in NUMERIC_KINDS:
            names.append(column.name)
    return names


def text_columns(columns: Sequence[Column]) -> list[Column]:
    """The categorical, ordinal and free-text columns: one string input each."""
    return [c for c in columns if c.kind in TEXT_KINDS]


def input_name(position: int) -> str:
    """The Keras input name of the ``position``-th text column (column names may hold any character)."""
    return f"text_{position}"


NUMERIC_INPUT = "numeric"


def model_inputs(frame: pd.DataFrame, columns: Sequence[Column]) -> dict[str, np.ndarray]:
    """The Keras model's inputs for raw rows: ``numeric`` (float32, NaN where empty) and ``text_<i>`` (str).

    Raises:
        ValueError: a used column is missing from ``frame``.
    """
    used = [c for c in columns if c.used]
    absent = [c.name for c in used if c.name not in frame.columns]
    if absent:
        raise ValueError(f"input rows lack feature columns {absent}")
    inputs: dict[str, np.ndarray] = {}
    parts = [_numeric_values(frame[c.name], c) for c in used if c.kind in NUMERIC_KINDS]
    if parts:
        with np.errstate(over="ignore"):  # beyond float32's range is +-inf, which the model clips like any outlier
            inputs[NUMERIC_INPUT] = np.column_stack(parts).astype(np.float32)
    for position, column in enumerate(text_columns(used)):
        inputs[input_name(position)] = _text_values(frame[column.name]).reshape(-1, 1)
    return inputs


def _numeric_values(values: pd.Series, column: Column) -> np.ndarray:
    if column.kind == "boolean":
        return values.map(_truth).to_numpy(dtype=np.float64)
    if column.kind == "date":
        text = clean_text(values).map(lambda v: v if pd.isna(v) else str(v))
        dates = parse_dates(text, column.date_format)
        return np.column_stack([date_part(dates, part) for part in column.date_parts])
    numbers = pd.to_numeric(clean_text(values), errors="coerce")
    text = values.notna() & numbers.isna()
    if text.any():  # '$1,234.50', '45%': as the column was read when it was inferred
        numbers = numbers.where(~text, formatted_numbers(values.where(text, "")))
    return numbers.to_numpy(dtype=np.float64)


def _truth(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, str):
        word = value.strip().lower()
        return 1.0 if word in TRUE_WORDS or word == "1" else 0.0 if word in FALSE_WORDS or word == "0" else np.nan
    if isinstance(value, (int, float, np.number)) and not pd.isna(value):
        return float(value != 0)
    return np.nan


def _text_values(values: pd.Series) -> np.ndarray:
    return np.asarray([category(v) for v in values], dtype=object).astype(str)


def category(value: Any) -> str:
    """A cell as a category: text stripped, whole numbers without ``.0``, empty cells :data:`MISSING_TOKEN`."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING_TOKEN
    if isinstance(value, str):
        return value.strip() or MISSING_TOKEN
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(plain_value(value))
