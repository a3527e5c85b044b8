"""Column kinds, data checks and the data report on messy tables; every bad input names file, column, rule, value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mltune.config.recipe import Recipe, parse_recipe
from mltune.data import load_table
from mltune.data.columns import MISSING_TOKEN, Column, category, infer_column, model_inputs, numeric_names
from mltune.errors import ConfigError

from .tables import messy_table
from .test_data import csv
from .test_data import load_error as error

SOURCE = "r.yaml"


def recipe(path: Path, target: str = "balance", *, task: str = "regression", **data: Any) -> Recipe:
    return parse_recipe({"name": "t", "task": task, "data": {"path": str(path), "target": target, **data},
                         "search": {"epochs": 1}})


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "table.csv", **kwargs: Any) -> Path:
    return csv(tmp_path, frame, name, **kwargs)


# ---------------------------------------------------------------- kinds


def test_kinds_of_a_messy_table(tmp_path: Path) -> None:
    table = load_table(recipe(write(tmp_path, messy_table()), features=None))
    assert table.schema == {"age": "integer", "income": "numeric", "city": "categorical", "student": "boolean",
                            "cards": "integer", "grade": "categorical", "opened": "date", "default": "boolean"}
    dropped = {f.column: f.detail for f in table.report.of("dropped")}
    assert dropped == {"customer_id": "identifier: 240 distinct whole numbers in 240 rows",
                       "note": "identifier or free text: 240 distinct values in 240 rows"}
    assert sorted(table.frame["city"].dropna().unique()) == ["Bergen", "Oslo", "Stavanger", "Trondheim"]


def test_overrides_give_ordinal_order_and_drop(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table())
    table = load_table(recipe(path, columns={"grade": {"kind": "ordinal", "order": ["C", "B", "A"]},
                                             "cards": {"kind": "categorical"}, "age": {"kind": "drop"}}))
    assert table.schema["grade"] == "ordinal" and table.schema["cards"] == "categorical"
    assert "age" not in table.features
    grade = next(c for c in table.columns if c.name == "grade")
    assert grade.order == ("C", "B", "A") and grade.reason == "given in data.columns"


@pytest.mark.parametrize(("values", "kind"), [
    (["yes", "No", "YES", None], "boolean"),
    ([True, False, True, True], "boolean"),
    (["2024-01-05", "2024-02-11", "2023-12-31", None], "date"),
    ([1.5, 2.0, np.nan, 3.25], "numeric"),
    ([1, 2, 3, 2], "integer"),
    (["a", "b", "a", "b"], "categorical"),
    (["1.5", "2", "?", "3.5"] * 5 + ["4.5"] * 30, "numeric"),
])
def test_inferred_kind(values: list[Any], kind: str) -> None:
    assert infer_column(pd.Series(values, name="c"), "c").kind == kind


def test_model_inputs_from_raw_rows() -> None:
    columns = [Column("n", "integer", ""), Column("b", "boolean", ""), Column("d", "date", ""),
               Column("c", "categorical", ""), Column("o", "ordinal", "", order=("lo", "hi")), Column("x", "drop", "")]
    rows = pd.DataFrame({"n": [3, np.nan], "b": ["Yes", None], "d": ["2024-03-05", "not a date"],
                         "c": [" Oslo ", np.nan], "o": ["hi", "lo"], "x": ["ignored", "too"]})
    inputs = model_inputs(rows, columns)
    assert set(inputs) == {"numeric", "text_0", "text_1"}
    np.testing.assert_array_equal(inputs["numeric"][0], [3, 1, 2024, 3, 5, 1])
    assert np.isnan(inputs["numeric"][1]).all()
    assert inputs["text_0"].ravel().tolist() == ["Oslo", MISSING_TOKEN]
    assert category(3.0) == "3" and category(None) == MISSING_TOKEN
    with pytest.raises(ValueError, match=r"input rows lack feature columns \['o'\]"):
        model_inputs(rows.drop(columns=["o"]), columns)


# ---------------------------------------------------------------- the bad inputs


def test_entirely_empty_column_is_dropped_with_a_message(tmp_path: Path) -> None:
    table = load_table(recipe(write(tmp_path, messy_table().assign(empty=np.nan))))
    assert "empty" not in table.features
    assert [f.detail for f in table.report.of("dropped") if f.column == "empty"] == ["every cell is empty"]


def test_entirely_empty_only_feature_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, pd.DataFrame({"empty": [np.nan] * 10, "balance": range(10)}))
    assert error(recipe(path)) == (
        f"r.yaml: data.features: no feature of {path} can train a model (every one is dropped or holds one value), "
        "but got 'empty': every cell is empty")


def test_constant_only_feature_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, pd.DataFrame({"k": ["same"] * 10, "balance": range(10)}))
    assert error(recipe(path)).endswith("but got 'k': constant: every filled cell is 'same'")


def test_a_table_of_only_free_text_says_how_to_keep_a_column(tmp_path: Path) -> None:
    notes = [f"note {i} about the visit" for i in range(300)]
    path = write(tmp_path, pd.DataFrame({"note": notes, "balance": range(300)}))
    message = error(recipe(path))
    assert "'note': identifier or free text" in message
    assert message.endswith("to use a dropped column, give its kind: categories "
                            "(--set 'data.columns={note: {kind: categorical}}') or words (kind: text)")
    assert "note" in load_table(recipe(path, columns={"note": {"kind": "categorical"}})).features
    assert load_table(recipe(path, columns={"note": {"kind": "text"}})).schema == {"note": "text"}


def test_target_with_empty_cells_drops_those_rows(tmp_path: Path) -> None:
    frame = messy_table()
    frame.loc[[1, 5, 9], "balance"] = np.nan
    table = load_table(recipe(write(tmp_path, frame)))
    assert len(table.frame) == len(frame) - 3
    assert table.report.of("empty target")[0].detail == "3 row(s) with an empty target were dropped"


def test_target_with_no_values(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table().assign(balance=np.nan))
    assert error(recipe(path)) == (f"r.yaml: data.target: column 'balance' of {path} has no values: all 240 cells "
                                   "are empty")


def test_target_with_one_class(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table().assign(default=" yes"))
    assert error(recipe(path, "default", task="classification")) == (
        f"r.yaml: data.target: a classifier needs at least two classes, but column 'default' of {path} has one: "
        "'yes'")


def test_infinite_target(tmp_path: Path) -> None:
    frame = messy_table()
    frame.loc[4, "balance"] = np.inf
    path = write(tmp_path, frame)
    assert error(recipe(path)) == (f"r.yaml: data.target: values must be finite, but column 'balance' of {path} "
                                   "has 1 infinite value(s), e.g. inf")


def test_text_column_with_tens_of_thousands_of_values_is_dropped(tmp_path: Path) -> None:
    n = 20_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"comment": [f"text {i}" for i in range(n)], "x": rng.normal(size=n),
                          "balance": rng.normal(size=n)})
    table = load_table(recipe(write(tmp_path, frame)))
    assert table.features == ("x",)
    assert table.report.lines()[1] == (
        "data: comment: dropped: identifier or free text: 20000 distinct values in 20000 rows")


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table(), encoding="utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    table = load_table(recipe(path, features=["customer_id", "age"]))
    assert table.features == ("age",) and "customer_id" in {c.name for c in table.columns}


def test_separator_that_does_not_split_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table().drop(columns=["note"]), sep=";")
    assert error(recipe(path)) == (
        f"r.yaml: data.separator: ',' does not split the header of {str(path)!r} into columns, but ';' would: set "
        "data.separator: ';' (header: 'customer_id;age;income;city;student;cards;grade;opened;balance;default')")


def test_header_with_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a,b,balance\n")
    assert error(recipe(path)) == f"r.yaml: data.path: {str(path)!r} has a header (3 columns) but no rows"


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a,b,a,balance\n1,2,3,4\n")
    assert error(recipe(path)) == f"r.yaml: data.path: column names must be unique, but {str(path)!r} repeats ['a']"


def test_override_of_an_unknown_column(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table())
    assert error(recipe(path, columns={"colour": {"kind": "categorical"}})) == (
        f"r.yaml: data.columns: no such column in {path}, but got ['colour']")


def test_ordinal_order_must_hold_every_value(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table())
    assert error(recipe(path, columns={"grade": {"kind": "ordinal", "order": ["C", "B"]}})) == (
        "r.yaml: data.columns.grade.order: every value of the column must be in `order`, but got ['A'] outside "
        "['C', 'B']")


def test_numeric_override_on_text(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table())
    assert error(recipe(path, columns={"city": {"kind": "numeric"}})) == (
        "r.yaml: data.columns.city: kind numeric needs numbers, but got 'Stavanger' (220 of 220 filled cells are "
        "not numbers)")


def test_ordinal_without_order_is_a_recipe_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.columns.grade: an ordinal column needs `order`"):
        recipe(tmp_path / "t.csv", columns={"grade": {"kind": "ordinal"}})


# ---------------------------------------------------------------- the data report


def test_data_report_counts_outliers_empty_cells_duplicates_and_classes(tmp_path: Path) -> None:
    frame = messy_table()
    frame = pd.concat([frame, frame.iloc[:2]], ignore_index=True)
    table = load_table(recipe(write(tmp_path, frame), "default", task="classification"))
    report = table.report
    [outliers] = report.of("outliers")
    assert outliers.column == "income" and outliers.count == 5 and "9.7e+14" in outliers.detail
    assert {f.column for f in report.of("empty cells")} == {"income", "city"}
    assert report.of("duplicate rows")[0].count == 2
    assert report.of("class balance")[0].detail.startswith("2 classes, balanced enough")
    assert list(report.frame().columns) == ["column", "check", "detail", "count"]


@pytest.mark.parametrize("name", ["rownames", "Unnamed: 0", "Unnamed: 0.1", "customer_id", "ID", "userId",
                                  "patientID", "PID"])
def test_identifier_by_name(name: str) -> None:
    values = pd.Series(np.random.default_rng(0).permutation(100_000)[:300], name=name)
    column = infer_column(values, name)
    assert (column.kind, column.reason) == ("drop", "identifier: 300 distinct whole numbers in 300 rows")


def test_whole_numbers_named_as_an_identifier_are_one_even_when_some_repeat() -> None:
    codes = pd.Series(np.r_[np.arange(1000, 1645), np.arange(1000, 1054)], name="id")  # UCI breast cancer's id
    assert infer_column(codes, "id").kind == "drop"
    assert infer_column(pd.Series(np.arange(300) % 100, name="id"), "id").kind == "integer"  # a third unique: a code


def test_a_time_counted_up_by_one_a_row_is_kept_where_a_row_number_is_dropped() -> None:
    def kind(name: str, values: Any) -> str:
        return infer_column(pd.Series(values, name=name), name).kind

    assert kind("Year", np.arange(1970, 2012)) == "integer"  # a row per year: what the target changes with
    assert kind("month", np.arange(1, 43)) == "integer" and kind("t", np.arange(42)) == "integer"
    assert kind("case", np.arange(1, 43)) == "drop" and kind("rownames", np.arange(1970, 2012)) == "drop"


def test_a_table_of_only_row_numbers_says_how_to_keep_one_as_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, pd.DataFrame({"case": range(1, 43), "balance": np.linspace(0, 1, 42)}))
    message = error(recipe(path))
    assert message.endswith("to use a dropped column, give its kind: numbers "
                            "(--set 'data.columns={case: {kind: integer}}') or categories (kind: categorical)")
    assert load_table(recipe(path, columns={"case": {"kind": "integer"}})).schema == {"case": "integer"}


def test_unique_whole_numbers_with_a_plain_name_are_kept() -> None:
    values = pd.Series(np.random.default_rng(0).permutation(100_000)[:300], name="income")
    assert infer_column(values, "income").kind == "integer"


def test_numbers_with_a_few_text_markers_are_numeric() -> None:
    values = pd.Series(["3", "4", "?", "5", "6", "7", "8", "9", "10", "11", "12"], name="ca")
    column = infer_column(values, "ca")
    assert (column.kind, column.reason) == ("integer", "numbers, but 1 cell(s) are text read as empty, e.g. '?'")
    inputs = model_inputs(pd.DataFrame({"ca": values}), [column])
    assert np.isnan(inputs["numeric"][2, 0]) and inputs["numeric"][0, 0] == 3


def test_a_heavy_tail_keeps_its_real_large_values_and_a_corrupted_cell_is_still_an_outlier() -> None:
    from mltune.data.report import outlier_fences

    rng = np.random.default_rng(0)
    applications = np.round(np.exp(rng.normal(7.5, 1.0, 777)))  # ISLR College's Accept: counts, a long right tail
    low, high = outlier_fences(applications)
    assert low < applications.min() and high > applications.max()  # the linear fences cut 2% of these rows
    income = np.r_[rng.normal(50_000, 10_000, 240), 9.7e14]
    assert outlier_fences(income)[1] < 1e6
    # Signed values with a heavy tail (flight delays: early departures below 0, 2% of flights late by hours).
    delays = np.r_[rng.normal(0, 8, 9800), rng.exponential(120, 200) + 60, -9.7e14]
    low, high = outlier_fences(delays)
    assert high > delays.max() and -9.7e14 < low < delays[:-1].min()  # the tail kept, the corrupted cell still out
    # Small changes, half of them 0 (Wooldridge's htv: the change in tuition): the quartiles are 0 and a hair below,
    # and even the log-scale fences cut 41% of the rows; the fences move out to the tails' own spread.
    change = np.r_[np.zeros(600), rng.normal(0, 1.0, 600), 9.7e14]
    low, high = outlier_fences(change)
    assert low < change.min() and change[:-1].max() < high < 1e6
    # A flag that is almost always 1: its three 0s are not outliers (they were clipped to 1, a constant column).
    assert outlier_fences(np.r_[np.ones(2997), np.zeros(3)]) == (-4.0, 6.0)
    assert outlier_fences(np.r_[np.ones(2997), 9.7e14])[1] == 6.0


@pytest.mark.parametrize(("cells", "date_format", "month_of_first"), [
    (["05/08/2020", "18/01/2022", "01/02/2021"], "%d/%m/%Y", 8),  # 18 cannot be a month: day first, every row
    (["05/08/2020", "03/25/2021", "01/02/2021"], "%m/%d/%Y", 5),  # 25 cannot be a month: month first
    (["05.08.20", "01.02.21", "03.04.22"], "%d.%m.%y", 8),  # no cell tells; dots are written day first
    (["2020-08-05", "2021-02-01", "2022-01-18"], None, 8),  # ISO: each cell as it reads
])
def test_dates_written_as_numbers_are_read_in_one_order_for_every_row(cells: list[str], date_format: str | None,
                                                                      month_of_first: int) -> None:
    column = infer_column(pd.Series([*cells, None], dtype=object), "when")
    assert (column.kind, column.date_format) == ("date", date_format)
    month = model_inputs(pd.DataFrame({"when": cells}), [column])["numeric"][:, 1]
    assert month[0] == month_of_first
    assert Column.from_dict(column.as_dict()) == column
    assert Column.from_dict({k: v for k, v in column.as_dict().items() if k != "date_format"}).date_format is None


def test_times_whose_utc_offset_changes_are_read_at_their_own_clock() -> None:
    # A river gauge's export across the change to summer time: '+01:00', then '+02:00' (pandas refuses to mix them),
    # and the same from a Parquet column in a time zone.
    cells = ["2021-03-27 23:30:00+01:00", "2021-03-28 23:30:00+02:00", "2021-03-29T06:00:00Z", "2021-03-30"]
    column = infer_column(pd.Series(cells, dtype=object), "when")
    assert column.kind == "date"
    year, month, day, weekday, hour = model_inputs(pd.DataFrame({"when": cells}), [column])["numeric"].T
    assert day.tolist() == [27, 28, 29, 30] and weekday.tolist() == [5, 6, 0, 1]
    assert hour.tolist() == [23.5, 23.5, 6, 0]
    zoned = pd.Series(pd.date_range("2021-03-20", periods=20, freq="D", tz="Europe/Berlin"))
    column = infer_column(zoned, "when")
    assert column.kind == "date"
    assert model_inputs(pd.DataFrame({"when": zoned}), [column])["numeric"][:, 2].tolist() == list(range(20, 32)) + \
        list(range(1, 9))


def test_times_of_day_are_hours_and_timestamps_keep_theirs() -> None:
    # gt's pizzaplace: a date column and a time column; Kaggle's bike sharing: the hour is in the timestamp
    times = infer_column(pd.Series(["11:38:36", "09:05", "9:30 PM", None] * 5, dtype=object), "time")
    assert (times.kind, times.date_parts, times.reason) == ("date", ("hour",), "times of day, read as hours")
    hours = model_inputs(pd.DataFrame({"time": ["11:38:36", "09:05", "9:30 PM", None]}), [times])["numeric"][:, 0]
    assert hours[:3] == pytest.approx([11 + 38 / 60 + 36 / 3600, 9 + 5 / 60, 21.5]) and np.isnan(hours[3])
    stamps = infer_column(pd.Series(["2011-01-01 00:00:00", "2011-01-01 01:00:00", "2011-01-02 13:00:00"] * 5), "at")
    assert stamps.date_parts == ("year", "month", "day", "dayofweek", "hour")
    assert numeric_names([stamps])[-1] == "at.hour" and Column.from_dict(stamps.as_dict()) == stamps
    days = infer_column(pd.Series(["2011-01-01", "2011-01-02", "2011-02-03"] * 5), "on")
    assert days.date_parts == ("year", "month", "day", "dayofweek")
    assert Column.from_dict({k: v for k, v in days.as_dict().items() if k != "date_parts"}) == days  # older studies


def test_numbers_as_a_spreadsheet_shows_them_are_numbers() -> None:
    cells = ["$1,234.50", "-$12", "$538.77", "$2,000,000"] * 5
    column = infer_column(pd.Series(cells, dtype=object), "price")
    assert column.kind == "numeric" and "e.g. '$1,234.50' (read as 1234.5)" in column.reason
    served = ["$1,234.50", "-$12", None, "?", "7"]
    values = model_inputs(pd.DataFrame({"price": served}), [column])["numeric"][:, 0]
    assert values[[0, 1, 4]].tolist() == [1234.5, -12.0, 7.0] and np.isnan(values[[2, 3]]).all()
    assert infer_column(pd.Series(["45%", "2.5%", "100%"] * 5, dtype=object), "rate").kind == "numeric"
    assert infer_column(pd.Series(["5,850", "12,001", "800"] * 5, dtype=object), "people").kind == "numeric"
    decimal_commas = infer_column(pd.Series(["14,23", "12,5", "8"] * 5, dtype=object), "x")
    assert decimal_commas.kind == "drop" and "data.decimal: ','" in decimal_commas.reason


@pytest.mark.parametrize("cells", [["05-Jan-2020", "17-Feb-2021", "30-Dec-2019"],  # Excel's default date format
                                   ["Jan 5 2020", "February 17, 2021", "Dec 30 2019"]])
def test_dates_with_a_months_name_are_dates(cells: list[str]) -> None:
    column = infer_column(pd.Series(cells * 5, dtype=object), "when")
    assert column.kind == "date"
    assert model_inputs(pd.DataFrame({"when": cells}), [column])["numeric"][:, :3].tolist() == [
        [2020, 1, 5], [2021, 2, 17], [2019, 12, 30]]


def test_a_text_column_of_many_values_each_seen_often_is_categorical() -> None:
    rng = np.random.default_rng(0)
    countries = pd.Series(rng.choice([f"country {i}" for i in range(142)], 3000))
    assert infer_column(countries, "country").kind == "categorical"  # 142 values, about 21 rows each
    assert infer_column(countries.head(1000), "country").kind == "drop"  # about 7 rows each: free text


def test_free_text_whose_words_many_rows_share_is_text_and_codes_are_not() -> None:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    surnames = ["".join(rng.choice(letters, 7)).title() for _ in range(300)]
    firsts = ["John", "William", "Mary", "Anna", "Owen", "James", "Elin", "Karl", "Rose", "Hugo", "Ida", "Per"]
    names = pd.Series([f"{s}, {rng.choice(['Mr.', 'Mrs.', 'Miss.', 'Master.'])} {rng.choice(firsts)}"
                       for s in surnames])  # a passenger list's names: the titles and first names repeat
    text = infer_column(names, "Name")
    assert text.kind == "text" and text.reason.startswith("free text: 300 distinct values, words such as [")
    codes = pd.Series([f"C{100000 + i} {''.join(rng.choice(letters, 5))}" for i in range(300)])
    assert infer_column(codes, "code").kind == "drop"  # parts that do not repeat
    numbered = pd.Series([f"visit {i} of {i % 97}" for i in range(300)])
    assert infer_column(numbered, "visit").kind == "drop"  # only numbers differ: not words that inform
    tags = pd.Series([", ".join(rng.choice(["wifi", "pool", "parking", "gym", "spa", "bar"], 3, replace=False))
                      + f" #{i}" for i in range(300)])
    assert infer_column(tags, "amenities").kind == "text"  # a list of a few tags, in many combinations


def test_the_console_report_of_a_wide_table_shows_the_largest_findings_of_each_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"q{i}": np.where(rng.random(200) < 0.05 * (i + 1), np.nan, rng.random(200))
                          for i in range(12)})
    frame["balance"] = rng.normal(size=200)
    report = load_table(recipe(write(tmp_path, frame))).report
    lines = report.lines(per_check=3)
    empty = [line for line in lines if "empty cells" in line]
    assert [line.split(":")[1].strip() for line in empty[:3]] == ["q9", "q10", "q11"]  # the emptiest
    assert empty[-1] == "data: empty cells: also in 9 more column(s) (all in the parent run's data_report.csv)"
    assert len(report.lines()) == len(lines) - 1 + 9  # the logged report keeps every finding
