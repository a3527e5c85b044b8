"""Loading tables (CSV, Parquet, bundled datasets) and the seeded test/development/fold splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mltune.config.recipe import Recipe, parse_recipe
from mltune.data import Table, load_table, make_splits
from mltune.errors import ConfigError

SOURCE = "r.yaml"


def recipe(data: dict[str, Any], *, task: str = "regression", **fields: Any) -> Recipe:
    raw: dict[str, Any] = {"name": "t", "task": task, "data": data, "search": {"epochs": 1}, **fields}
    if task == "autoencoder":
        raw["model"] = {"family": "autoencoder"}
    return parse_recipe(raw)


def frame(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": rng.integers(-50, 50, n) / 4, "b": rng.integers(0, 5, n), "y": rng.integers(0, 1000, n) / 8}
    )


def csv(tmp_path: Path, df: pd.DataFrame, name: str = "data.csv", **kwargs: Any) -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False, **kwargs)
    return path


def load_error(r: Recipe) -> str:
    """The error of loading and splitting the recipe's rows, as every command does before anything trains."""
    with pytest.raises(ConfigError) as excinfo:
        make_splits(r, load_table(r, source=SOURCE), source=SOURCE)
    return str(excinfo.value)


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    message = load_error(recipe({"path": str(path), "target": "y"}))
    assert message == f"r.yaml: data.path: file not found, but got {str(path)!r}"


def test_missing_target_column(tmp_path: Path) -> None:
    path = csv(tmp_path, frame())
    message = load_error(recipe({"path": str(path), "target": "price"}))
    assert message == f"r.yaml: data.target: no such column in {path}, but got 'price' (columns: a, b, y)"


def test_missing_feature_column(tmp_path: Path) -> None:
    path = csv(tmp_path, frame())
    message = load_error(recipe({"path": str(path), "target": "y", "features": ["a", "q"]}))
    assert message == f"r.yaml: data.features: no such column in {path}, but got ['q']"


def test_text_feature_column_is_categorical(tmp_path: Path) -> None:
    path = csv(tmp_path, frame().assign(city=["Oslo", " Bergen", "Oslo "] * 10))
    table = load_table(recipe({"path": str(path), "target": "y"}))
    assert table.features == ("a", "b", "city")
    assert table.schema == {"a": "numeric", "b": "integer", "city": "categorical"}
    assert sorted(table.frame["city"].unique()) == ["Bergen", "Oslo"]  # stray spaces are not new categories


def test_non_numeric_autoencoder_feature_column(tmp_path: Path) -> None:
    path = csv(tmp_path, frame().assign(city="Oslo"))
    message = load_error(recipe({"path": str(path)}, task="autoencoder"))
    assert message == (
        "r.yaml: data.features: an autoencoder's features must be numeric, but got non-numeric columns ['city'] "
        "(drop them with data.features)"
    )


def test_non_numeric_column_can_be_left_out_with_features(tmp_path: Path) -> None:
    path = csv(tmp_path, frame().assign(city="Oslo"))
    table = load_table(recipe({"path": str(path), "target": "y", "features": ["b", "a"]}))
    assert table.features == ("b", "a") and list(table.frame.columns) == ["b", "a", "y"]


def test_non_numeric_regression_target(tmp_path: Path) -> None:
    path = csv(tmp_path, frame().assign(y="high"))
    message = load_error(recipe({"path": str(path), "target": "y"}))
    assert message.startswith("r.yaml: data.target: a regression target must be numeric, but column 'y' holds text, "
                              "e.g. 'high' (")


def test_a_number_column_whose_other_cells_say_missing_is_numbers(tmp_path: Path) -> None:
    # UCI's '?' for a missing value, in a fifth of the rows (Titanic's age): numbers, not a 98-level category; and
    # a number target with a few such cells is a number to predict, those rows left out.
    rows = frame()
    rows["a"] = rows["a"].astype(object).where(rows.index % 5 != 0, "?")
    rows["y"] = rows["y"].astype(object).where(rows.index % 40 != 1, "n/a")
    path = csv(tmp_path, rows)
    table = load_table(recipe({"path": str(path), "target": "y"}))
    column = {c.name: c for c in table.columns}["a"]
    assert column.kind in ("numeric", "integer") and "read as empty, e.g. '?'" in column.reason
    [said] = table.report.of("text among numbers")  # on the console too, not only in columns.json
    assert (said.column, said.count, said.detail) == ("a", 6, "6 cell(s) are text read as empty, e.g. '?'")
    assert len(table.frame) == len(rows) - int((rows.index % 40 == 1).sum())
    assert pd.api.types.is_numeric_dtype(table.frame["y"])
    given = load_table(recipe({"path": str(path), "target": "y", "columns": {"a": {"kind": "numeric"}}}))
    assert {c.name: c.kind for c in given.columns}["a"] == "numeric"  # '?' is read as empty, not refused


def test_a_number_column_with_blank_cells_is_numbers_with_empty_cells(tmp_path: Path) -> None:
    # Kaggle's Telco churn: TotalCharges is " " where tenure is 0
    rows = frame()
    rows["a"] = rows["a"].astype(object).where(rows.index % 7 != 0, " ")
    table = load_table(recipe({"path": str(csv(tmp_path, rows)), "target": "y"}))
    column = {c.name: c for c in table.columns}["a"]
    assert (column.kind, column.reason, column.missing) == ("numeric", "numbers", True)
    assert not table.report.of("text among numbers")
    assert table.frame["a"].isna().sum() == 5


def test_missing_values_are_kept_and_empty_targets_dropped(tmp_path: Path) -> None:
    df = frame()
    df.loc[[3, 7], "a"] = np.nan
    df.loc[4, "y"] = np.nan
    path = csv(tmp_path, df)
    table = load_table(recipe({"path": str(path), "target": "y"}))
    assert len(table.frame) == 29 and int(table.frame["a"].isna().sum()) == 2
    [dropped] = table.report.of("empty target")
    assert dropped.count == 1 and dropped.detail == "1 row(s) with an empty target were dropped"
    [empty] = table.report.of("empty cells")
    assert empty.column == "a" and empty.count == 2


def test_missing_values_in_an_autoencoder_table(tmp_path: Path) -> None:
    df = frame()
    df.loc[[3, 7], "a"] = np.nan
    path = csv(tmp_path, df)
    message = load_error(recipe({"path": str(path)}, task="autoencoder"))
    assert message == "r.yaml: data: an autoencoder needs filled cells, but got empty cells {'a': 2}"


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("this is not parquet")
    message = load_error(recipe({"path": str(path), "target": "y"}))
    assert message.startswith(f"r.yaml: data.path: cannot read {str(path)!r}: ")


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("")
    message = load_error(recipe({"path": str(path), "target": "y"}))
    assert message == f"r.yaml: data.path: cannot read {str(path)!r}: No columns to parse from file"


def test_too_few_rows_for_a_validation_split(tmp_path: Path) -> None:
    path = csv(tmp_path, frame(4))
    message = load_error(recipe({"path": str(path), "target": "y"}))
    assert message == (
        "r.yaml: split: a train/validation split needs at least 4 development rows, "
        "but got 3 of 4 rows after the test split"
    )


def test_too_few_rows_for_the_folds(tmp_path: Path) -> None:
    path = csv(tmp_path, frame(12))
    message = load_error(recipe({"path": str(path), "target": "y"}, split={"folds": 5}))
    assert message == (
        "r.yaml: split: k-fold with folds=5 needs at least 10 development rows, "
        "but got 9 of 12 rows after the test split"
    )
    load_table(recipe({"path": str(path), "target": "y"}, split={"folds": 4}))  # 9 rows are enough for 4 folds


def test_too_few_rows_of_a_class_to_stratify(tmp_path: Path) -> None:
    df = frame(20).assign(label=["cat"] * 19 + ["dog"])
    path = csv(tmp_path, df)
    message = load_error(recipe({"path": str(path), "target": "label"}, task="classification"))
    assert message == (
        "r.yaml: split.stratify: every class of column 'label' needs at least 3 rows (2 for training and "
        "validation after test=0.2 takes its share), but class 'dog' has 1 (add rows or set split.stratify: false)"
    )
    table = load_table(recipe({"path": str(path), "target": "label"}, task="classification", split={"stratify": False}))
    assert set(table.y()) == {"cat", "dog"}


def folds_with_three_rows_of_class_1(tmp_path: Path) -> str:
    df = frame(30).assign(label=[0] * 27 + [1] * 3)
    path = csv(tmp_path, df)
    return load_error(recipe({"path": str(path), "target": "label"}, task="classification", split={"folds": 4}))


def test_too_few_rows_of_a_class_for_the_folds(tmp_path: Path) -> None:
    message = folds_with_three_rows_of_class_1(tmp_path)
    assert message.startswith("r.yaml: split.stratify: every class of column 'label' needs at least 5 rows (4 for "
                              "the 4 folds after test=0.2 takes its share), but class ")
    assert message.endswith(" has 3 (add rows or set split.stratify: false)")



def test_too_few_rows_of_a_class_names_the_label_plainly(tmp_path: Path) -> None:
    assert folds_with_three_rows_of_class_1(tmp_path) == (
        "r.yaml: split.stratify: every class of column 'label' needs at least 5 rows (4 for the 4 folds after "
        "test=0.2 takes its share), but class 1 has 3 (add rows or set split.stratify: false)"
    )



@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ([0] * 4 + [1] * 3 + [2] * 3, "split.test"),  # 3 classes but only ceil(10 * 0.2) = 2 test rows
        ([0] * 4 + [1] * 2, "data.target"),  # 3 training rows cannot teach 2 classes, however split
    ],
    ids=["fewer-test-rows-than-classes", "too-few-training-rows-for-the-classes"],
)
def test_tiny_classification_tables_are_config_errors(tmp_path: Path, labels: list[int], field: str) -> None:
    path = csv(tmp_path, pd.DataFrame({"a": np.arange(len(labels), dtype=float), "y": labels}))
    assert load_error(recipe({"path": str(path), "target": "y"}, task="classification")).startswith(
        f"r.yaml: {field}: ")


def many_classes(tmp_path: Path, n_classes: int, rows_each: int, **split: Any) -> str:
    labels = np.repeat([f"c{i}" for i in range(n_classes)], rows_each)
    df = pd.DataFrame({"a": np.arange(len(labels), dtype=float), "b": np.arange(len(labels)) % 7, "y": labels})
    return load_error(recipe({"path": str(csv(tmp_path, df)), "target": "y"}, task="classification", split=split))


def test_more_classes_than_half_the_training_rows_is_refused_unstratified(tmp_path: Path) -> None:
    # 400 classes of 2 rows: 800 rows, 512 of them train each trial; a model cannot learn 400 classes from them.
    assert many_classes(tmp_path, 400, 2, stratify=False) == (
        "r.yaml: data.target: a classifier needs at least 2 training rows per class on average, so 512 training "
        "rows allow at most 256 classes, but column 'y' has 400 (of 800 rows; is it an identifier, or a number to "
        "predict with task: regression?)"
    )


def test_too_many_classes_are_refused_for_their_count_before_any_split_advice(tmp_path: Path) -> None:
    # Stratified, the advice to set split.stratify: false would only lead to this refusal (one row per class).
    assert many_classes(tmp_path, 32, 1) == (
        "r.yaml: data.target: a classifier needs at least 2 training rows per class on average, so 20 training "
        "rows allow at most 10 classes, but column 'y' has 32 (of 32 rows; is it an identifier, or a number to "
        "predict with task: regression?)"
    )


def test_classes_of_two_rows_are_refused_stratified_naming_the_column_and_how_many(tmp_path: Path) -> None:
    # scikit-learn's own message listed every class (10,000 of them in the issue)
    labels = np.concatenate([np.repeat([f"c{i}" for i in range(20)], 2), np.repeat(["big"], 200)])
    df = pd.DataFrame({"a": np.arange(len(labels)) % 7 / 2, "y": labels})
    assert load_error(recipe({"path": str(csv(tmp_path, df)), "target": "y"}, task="classification")) == (
        "r.yaml: split.stratify: every class of column 'y' needs at least 3 rows (2 for training and validation "
        "after test=0.2 takes its share), but class 'c0' has 2, and 19 more classes have fewer than 3 "
        "(add rows or set split.stratify: false)"
    )


def test_fewer_test_rows_than_classes_names_split_test_and_the_numbers(tmp_path: Path) -> None:
    assert many_classes(tmp_path, 30, 4, test=0.1) == (
        "r.yaml: split.test: a stratified split needs a test row per class, but test=0.1 of 120 rows gives 12 test "
        "rows for 30 classes of column 'y' (raise split.test, add rows or set split.stratify: false)"
    )


def test_fewer_validation_rows_than_classes_names_split_validation(tmp_path: Path) -> None:
    assert many_classes(tmp_path, 30, 6, validation=0.1, test=0.2) == (
        "r.yaml: split.validation: a stratified split needs a validation row per class, but validation=0.1 of 144 "
        "development rows gives 15 rows for 30 classes of column 'y' (raise split.validation, add rows or set "
        "split.stratify: false)"
    )


# ---------------------------------------------------------------- good tables


def test_csv_loads(tmp_path: Path) -> None:
    df = frame()
    path = csv(tmp_path, df)
    table = load_table(recipe({"path": str(path), "target": "y"}))
    assert isinstance(table, Table)
    assert table.source == str(path) and table.target == "y" and table.features == ("a", "b")
    pd.testing.assert_frame_equal(table.frame, df)
    assert table.x().dtype == np.float32 and table.x().shape == (30, 2)
    np.testing.assert_array_equal(table.y(np.array([2, 0])), df["y"].to_numpy()[[2, 0]])
    np.testing.assert_array_equal(table.x(np.array([5])), df[["a", "b"]].to_numpy(dtype=np.float32)[[5]])


def test_csv_with_separator_and_chosen_features(tmp_path: Path) -> None:
    df = frame().assign(c=1.0)
    path = csv(tmp_path, df, sep=";")
    table = load_table(recipe({"path": str(path), "target": "y", "separator": ";", "features": ["c", "a"]}))
    assert table.features == ("c", "a")
    assert list(table.frame.columns) == ["c", "a", "y"]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_loads_like_the_csv(tmp_path: Path, suffix: str) -> None:
    df = frame()
    parquet = tmp_path / f"data{suffix}"
    df.to_parquet(parquet)
    from_parquet = load_table(recipe({"path": str(parquet), "target": "y"}))
    from_csv = load_table(recipe({"path": str(csv(tmp_path, df)), "target": "y"}))
    assert from_parquet.features == ("a", "b") and from_parquet.source == str(parquet)
    pd.testing.assert_frame_equal(from_parquet.frame, df)
    assert from_parquet.fingerprint == from_csv.fingerprint


def test_fingerprint_follows_the_used_data(tmp_path: Path) -> None:
    df = frame()
    base = load_table(recipe({"path": str(csv(tmp_path, df, "a.csv")), "target": "y"}))
    same = load_table(
        recipe({"path": str(csv(tmp_path, df.assign(unused="x"), "b.csv")), "target": "y", "features": ["a", "b"]})
    )
    other = load_table(recipe({"path": str(csv(tmp_path, df.assign(y=df.y + 1), "c.csv")), "target": "y"}))
    assert base.fingerprint == same.fingerprint != other.fingerprint


def test_autoencoder_table_has_no_target(tmp_path: Path) -> None:
    path = csv(tmp_path, frame())
    everything = load_table(recipe({"path": str(path)}, task="autoencoder"))
    assert everything.target is None and everything.features == ("a", "b", "y")
    without_y = load_table(recipe({"path": str(path), "target": "y"}, task="autoencoder"))
    assert without_y.target is None and without_y.features == ("a", "b")
    assert list(without_y.frame.columns) == ["a", "b"]


def test_bundled_dataset() -> None:
    table = load_table(recipe({"dataset": "iris"}, task="classification"))
    assert table.source == "sklearn:iris" and table.target == "target"
    assert len(table.frame) == 150 and len(table.features) == 4
    digits = load_table(recipe({"dataset": "digits"}, task="autoencoder"))
    assert digits.target is None and len(digits.features) == 64


# ---------------------------------------------------------------- splits


def classification_table() -> tuple[Recipe, Table]:
    r = recipe({"dataset": "wine"}, task="classification", seed=3)
    return r, load_table(r)


def with_split(r: Recipe, **split: Any) -> Recipe:
    return r.model_copy(update={"split": r.split.model_copy(update=split)})


def with_seed(r: Recipe, seed: int) -> Recipe:
    return r.model_copy(update={"seed": seed})


def as_tuple(splits: Any) -> tuple[list[int], ...]:
    return (
        splits.test.tolist(),
        splits.development.tolist(),
        *[part.tolist() for fold in splits.folds for part in (fold.train, fold.validation)],
    )


@pytest.mark.parametrize("folds", [None, 3])
def test_splits_are_seeded(folds: int | None) -> None:
    r, table = classification_table()
    r = with_split(r, folds=folds)
    first, again = make_splits(r, table), make_splits(r, table)
    assert as_tuple(first) == as_tuple(again)
    other = make_splits(with_seed(r, 4), table)
    assert first.test.tolist() != other.test.tolist()


@pytest.mark.parametrize("folds", [None, 3, 5])
def test_test_rows_never_meet_development_rows(folds: int | None) -> None:
    r, table = classification_table()
    splits = make_splits(with_split(r, folds=folds), table)
    n = len(table.frame)
    assert not set(splits.test) & set(splits.development)
    assert sorted([*splits.test, *splits.development]) == list(range(n))
    assert len(splits.test) == int(np.ceil(n * r.split.test))
    assert splits.test.tolist() == sorted(splits.test) and splits.development.tolist() == sorted(splits.development)
    for fold in splits.folds:
        assert not set(fold.train) & set(splits.test) and not set(fold.validation) & set(splits.test)


def test_k_folds_cover_the_development_rows() -> None:
    r, table = classification_table()
    splits = make_splits(with_split(r, folds=4), table)
    dev = set(splits.development)
    assert len(splits.folds) == 4
    validation = [set(fold.validation) for fold in splits.folds]
    assert sorted(i for part in validation for i in part) == sorted(dev)  # each dev row validates exactly once
    for fold in splits.folds:
        assert not set(fold.train) & set(fold.validation)
        assert set(fold.train) | set(fold.validation) == dev


def test_validation_split_is_one_fold() -> None:
    r, table = classification_table()
    splits = make_splits(with_split(r, validation=0.25), table)
    (fold,) = splits.folds
    assert not set(fold.train) & set(fold.validation)
    assert set(fold.train) | set(fold.validation) == set(splits.development)
    assert len(fold.validation) == int(np.ceil(len(splits.development) * 0.25))


def test_test_split_does_not_depend_on_the_folds() -> None:
    """Promotion rebuilds the test split; it must not move when the trials' folds change."""
    r, table = classification_table()
    plain = make_splits(r, table)
    for folds in (2, 5):
        assert make_splits(with_split(r, folds=folds), table).test.tolist() == plain.test.tolist()


def test_stratified_splits_keep_class_proportions() -> None:
    r, table = classification_table()
    splits = make_splits(with_split(r, folds=3), table)
    y = table.y()
    overall = np.bincount(y) / len(y)
    for rows in (splits.test, *[fold.validation for fold in splits.folds]):
        share = np.bincount(y[rows], minlength=len(overall)) / len(rows)
        np.testing.assert_allclose(share, overall, atol=0.05)


def test_regression_splits_are_not_stratified(tmp_path: Path) -> None:
    path = csv(tmp_path, frame(40))
    r = recipe({"path": str(path), "target": "y"}, split={"folds": 4})
    splits = make_splits(r, load_table(r))
    assert len(splits.folds) == 4 and len(splits.test) == 8 and len(splits.development) == 32


def test_numbers_with_decimal_commas_load_with_data_decimal(tmp_path: Path) -> None:
    path = csv(tmp_path, frame(), sep=";", decimal=",")
    table = load_table(recipe({"path": str(path), "target": "y", "separator": ";", "decimal": ","}))
    assert table.frame["a"].dtype == np.float64 and table.frame["y"].tolist() == frame()["y"].tolist()


def test_numbers_with_decimal_commas_read_as_text_are_dropped_naming_the_setting(tmp_path: Path) -> None:
    df = frame().assign(c=lambda f: f["a"] * 2)
    table = load_table(recipe({"path": str(csv(tmp_path, df, sep=";", decimal=",")), "target": "y",
                               "separator": ";"}, task="classification"))
    column = next(c for c in table.columns if c.name == "c")
    assert column.kind == "drop" and column.reason.startswith("numbers written with commas, read as text, e.g. '")
    assert column.reason.endswith("(for decimal commas set data.decimal: ',')")


def test_decimal_mark_and_separator_must_differ() -> None:
    with pytest.raises(ConfigError, match=r"data: decimal and separator must differ, but both are ','"):
        recipe({"path": "t.csv", "target": "y", "decimal": ","})


def test_class_codes_read_as_floats_for_empty_cells_stay_integers(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": np.arange(40, dtype=float), "y": [1, 2, 3, None] * 10})
    table = load_table(recipe({"path": str(csv(tmp_path, df)), "target": "y"}, task="classification"))
    assert table.frame["y"].dtype == np.int64 and sorted(set(table.y().tolist())) == [1, 2, 3]


def test_a_true_false_target_with_empty_cells_is_read_as_booleans(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": np.arange(40, dtype=float), "y": ["TRUE", "FALSE", "", "TRUE"] * 10})
    table = load_table(recipe({"path": str(csv(tmp_path, df)), "target": "y"}, task="classification"))
    assert table.frame["y"].dtype == bool and len(table.frame) == 30


def test_ordered_categories_of_a_parquet_file_are_ordinal_in_their_order(tmp_path: Path) -> None:
    cut = pd.Categorical(["Good", "Fair", "Ideal", "Good"] * 10, categories=["Fair", "Good", "Ideal"], ordered=True)
    df = pd.DataFrame({"cut": cut, "a": np.arange(40, dtype=float), "y": np.arange(40) % 7 / 3})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    table = load_table(recipe({"path": str(path), "target": "y"}))
    column = next(c for c in table.columns if c.name == "cut")
    assert (column.kind, column.order) == ("ordinal", ("Fair", "Good", "Ideal"))


@pytest.mark.parametrize("name", ["rows.tsv", "rows.txt", "rows.data", "rows.csv.gz", "rows.tsv.zip"])
def test_delimited_text_files_of_other_names_and_compressed_ones_are_read(tmp_path: Path, name: str) -> None:
    separator = "\t" if ".tsv" in name else ","
    path = csv(tmp_path, frame(), name=name, sep=separator)
    table = load_table(recipe({"path": str(path), "target": "y", "separator": separator}))
    assert table.features == ("a", "b") and len(table.frame) == 30


def test_a_spreadsheets_export_with_trailing_empty_columns_windows_encoding_and_spaced_names(tmp_path: Path) -> None:
    # Excel on Windows: cp1252 text, a header ending in blank names, names with spaces around them.
    lines = [" city ,a,b, y ,,", *(f"Zürich,{a},{b},{y},," for a, b, y in frame().itertuples(index=False))]
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    table = load_table(recipe({"path": str(path), "target": "y"}))
    assert table.target == "y" and {"a", "b"} <= set(table.features)
    assert table.frame.columns.tolist()[-1] == "y" and "Zürich" not in table.frame.columns
    kinds = {c.name: c.kind for c in table.columns}
    assert kinds["Unnamed: 4"] == kinds["Unnamed: 5"] == "drop"  # every cell is empty


def test_a_file_with_no_header_row_is_read_with_numbered_or_given_names(tmp_path: Path) -> None:
    # UCI's .data files: the first line is data (a fraction among its cells, or numbers only).
    path = tmp_path / "cars.data"
    path.write_text("".join(f"{18 + a / 2},{b},{a * 10.5},car {b}\n" for a, b, *_ in frame().itertuples(index=False)))
    table = load_table(recipe({"path": str(path), "target": "column_1"}))
    assert table.features == ("column_2", "column_3", "column_4") and len(table.frame) == 30  # no row lost
    named = load_table(recipe({"path": str(path), "target": "mpg", "column_names": ["mpg", "cyl", "disp", "name"]}))
    assert named.features == ("cyl", "disp", "name") and named.frame["mpg"].iloc[0] == table.frame["column_1"].iloc[0]
    assert "one name per column, but got 2 names for the 4 columns" in load_error(
        recipe({"path": str(path), "target": "a", "column_names": ["a", "b"]}))
    with pytest.raises(ConfigError, match=r"data.column_names: must be one name per column, each given once"):
        recipe({"path": str(path), "target": "a", "column_names": ["a", "a", "b", "c"]})
    # Names that are numbers, as pandas writes an array's columns, or a header naming the target, stay names.
    positions = csv(tmp_path, pd.DataFrame(np.arange(120).reshape(30, 4) / 3), name="array.csv")
    assert load_table(recipe({"path": str(positions), "target": "3"})).features == ("0", "1", "2")
    years = csv(tmp_path, frame().rename(columns={"a": "Country", "b": "1990"}).assign(Country=["a", "b"] * 15))
    assert load_table(recipe({"path": str(years), "target": "y"})).features == ("Country", "1990")


def test_the_inferred_recipe_of_a_file_with_no_header_row_says_so_and_how_to_name_its_columns(tmp_path: Path) -> None:
    from mltune.flows.autorecipe import infer_recipe

    path = tmp_path / "iris.data"
    path.write_text("".join(f"{a / 4},{b},{a % 3},{'yes' if y > 60 else 'no'}\n"
                            for a, b, y in frame(60).itertuples(index=False)))
    recipe_, text = infer_recipe(str(path), "column_4")
    assert recipe_.task == "classification" and "# the first line of iris.data is data, not names" in text
    with pytest.raises(ConfigError, match=r"no such column, but got 'class' \(columns: column_1, column_2, column_3, "
                                          r"column_4\); its first line is data, not names"):
        infer_recipe(str(path), "class")
    named, _ = infer_recipe(str(path), "class", ["data.column_names=[a, b, c, class]"])
    assert named.data.target == "class" and named.data.column_names == ("a", "b", "c", "class")


def test_comment_and_title_lines_above_the_header_are_skipped(tmp_path: Path) -> None:
    rows = frame().to_csv(index=False, sep=";")
    path = tmp_path / "olives.csv"
    path.write_text(f"# Olive oils of Italy, Forina et al.\n# measured 1983\n\nTable 3. Olive oils\n{rows}")
    from mltune.flows.autorecipe import sniff_separator

    assert sniff_separator(path) == ";"
    table = load_table(recipe({"path": str(path), "target": "y", "separator": ";"}))
    assert table.features == ("a", "b") and len(table.frame) == 30
    assert table.frame["y"].tolist() == frame()["y"].tolist()
    hashed = tmp_path / "hashed.csv"  # a header that starts with '#' is still the header
    hashed.write_text("#" + frame().to_csv(index=False))
    assert load_table(recipe({"path": str(hashed), "target": "y"})).features == ("#a", "b")
