"""The recipe inferred for ``mltune tune --data FILE --target COLUMN`` (no recipe file); no training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltune.errors import ConfigError
from mltune.flows.autorecipe import infer_recipe, sniff_separator
from mltune.flows.promote import overfit_warning

from .tables import messy_table


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "credit.csv", **kwargs: object) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, **kwargs)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(("target", "task", "metric"), [
    ("balance", "regression", "rmse"),
    ("default", "classification", "accuracy"),
    ("cards", "classification", "accuracy"),  # four whole-number values: classes
])
def test_task_and_metric_from_the_target(tmp_path: Path, target: str, task: str, metric: str) -> None:
    recipe, text = infer_recipe(str(write(tmp_path, messy_table())), target)
    assert (recipe.task, recipe.metric) == (task, metric)
    assert recipe.name == "credit" and recipe.model_name == "credit" and recipe.data.target == target
    assert f"# task: {task} (" in text and "name: credit" in text


def test_unequal_classes_get_f1_and_class_weights(tmp_path: Path) -> None:
    frame = messy_table().assign(default=["yes"] * 20 + ["no"] * 220)
    recipe, text = infer_recipe(str(write(tmp_path, frame)), "default")
    assert recipe.metric == "f1_macro" and recipe.data.class_weights == "balanced"
    assert "# classes are unequal (20 vs 220 rows): metric f1_macro, class weights balanced" in text


def test_many_categories_tune_the_encoding(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = messy_table().assign(shop=rng.choice([f"shop {i}" for i in range(30)], 240))
    recipe, _ = infer_recipe(str(write(tmp_path, frame)), "balance")
    assert set(recipe.search["categorical_encoding"].choices) == {"onehot", "embedding"}  # type: ignore[union-attr]


def test_overrides_apply_and_task_can_be_chosen(tmp_path: Path) -> None:
    recipe, _ = infer_recipe(str(write(tmp_path, messy_table())), "cards", ["task=regression", "budget.n_trials=3"])
    assert recipe.task == "regression" and recipe.metric == "mae" and recipe.budget.n_trials == 3  # a count


def test_separator_is_sniffed(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table().drop(columns=["note"]), sep=";")
    assert sniff_separator(path) == ";"
    recipe, _ = infer_recipe(str(path), "balance")
    assert recipe.data.separator == ";"


def test_unknown_target(tmp_path: Path) -> None:
    path = write(tmp_path, messy_table())
    with pytest.raises(ConfigError, match=r"credit.csv: --target: no such column, but got 'price' \(columns: "):
        infer_recipe(str(path), "price")
    with pytest.raises(ConfigError, match=r"but got 'BALANCE' \(did you mean 'balance'\? columns: "):
        infer_recipe(str(path), "BALANCE")


def test_many_whole_numbers_are_a_number_to_predict_that_may_be_class_codes(tmp_path: Path) -> None:
    frame = messy_table().assign(movement=[1 + i % 15 for i in range(240)])  # KEEL's libras: 15 codes, 16 rows each
    recipe, text = infer_recipe(str(write(tmp_path, frame)), "movement")
    assert recipe.task == "regression" and "--set task=classification if they are class codes" in text


@pytest.mark.parametrize(("metric", "direction", "validation", "test", "called_out"), [
    ("accuracy", "maximize", 0.95, 0.70, True),
    ("accuracy", "maximize", 0.80, 0.78, False),
    ("accuracy", "maximize", 0.60, 0.90, False),  # test better: nothing to call out
    ("rmse", "minimize", 0.69, 71.0, True),
    ("rmse", "minimize", 0.69, 0.72, False),
    ("rmse", "minimize", None, 0.72, False),
])
def test_validation_far_better_than_test_is_called_out(metric: str, direction: str, validation: float | None,
                                                       test: float, called_out: bool) -> None:
    warning = overfit_warning(metric, direction, validation, test)
    assert bool(warning) == called_out
    if called_out:
        assert warning.startswith(f"validation {metric} {validation:.6g} is far better than test {metric} {test:.6g}")


def test_tune_needs_a_recipe_or_data_and_target(workdir: Path) -> None:
    from click.testing import CliRunner

    from mltune.cli import main

    result = CliRunner().invoke(main, ["tune", "--data", "x.csv"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("mltune: error: tune: give a RECIPE file, or --data FILE and --target COLUMN to "
                                     "infer one, but got data='x.csv', target=None")
    missing = CliRunner().invoke(main, ["tune", "--data", "nope.csv", "--target", "y", "--output", "json"])
    assert missing.exit_code == 2
    assert "data.path: file not found, but got" in missing.stdout and "nope.csv" in missing.stdout
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna-journal.log").exists()


def test_print_recipe_prints_the_inferred_recipe_and_trains_nothing(workdir: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from mltune.cli import main
    from mltune.config.recipe import load_recipe
    from mltune.data import load_table

    path = write(workdir, messy_table())
    result = CliRunner().invoke(main, ["tune", "--data", str(path), "--target", "default", "--set",
                                       "search.epochs=3", "--n-trials", "4", "--print-recipe"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# inferred by `mltune tune --data") and result.stderr == ""
    printed = yaml.safe_load(result.stdout)
    assert printed["search"]["epochs"] == 3 and printed["budget"]["n_trials"] == 4
    saved = workdir / "credit.yaml"
    saved.write_text(result.stdout)
    table = load_table(load_recipe(str(saved)))
    read_as = result.stdout.partition("# the feature columns as read")[2].splitlines()[1:]
    assert read_as == [f"#   {c.name}: {c.kind} ({c.reason})" for c in table.columns] and len(read_as) > 3
    assert load_recipe(str(saved)).data.target == "default"  # save it, edit it, run it
    again = CliRunner().invoke(main, ["tune", str(saved), "--set", "seed=7", "--print-recipe"])
    assert again.exit_code == 0 and yaml.safe_load(again.stdout)["seed"] == 7
    assert not (workdir / "mlflow.db").exists() and not (workdir / "optuna-journal.log").exists()


def test_the_default_space_trains_fewer_epochs_of_larger_batches_on_larger_tables() -> None:
    from mltune.flows.autorecipe import default_search_space

    sizes = {rows: default_search_space(rows) for rows in (500, 1_600, 10_000, 20_000, 53_940, 500_000)}
    assert [space["epochs"] for space in sizes.values()] == [100, 100, 50, 50, 20, 10]
    assert [space["batch_size"]["choices"] for space in sizes.values()] == [
        [32, 64], [32, 64], [256, 512], [512, 1024], [512, 1024], [512, 1024]]


def test_a_large_tables_short_trials_register_one_model_trained_as_long_as_the_ensemble_would(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    large = write(tmp_path, pd.DataFrame({"x": rng.normal(size=30_000), "y": rng.normal(size=30_000)}))
    recipe, text = infer_recipe(str(large), "y")
    assert "epochs: 30" in text and "trains for 120 (promotion.epochs)" in text
    assert (recipe.promotion.epochs, recipe.promotion.ensemble) == (120, 1)
    shorter, _ = infer_recipe(str(large), "y", ["search.epochs=10"])
    assert shorter.promotion.epochs == 40  # follows the trials' epochs given with --set
    given, _ = infer_recipe(str(large), "y", ["search.epochs=10", "promotion.epochs=15"])
    assert given.promotion.epochs == 15
    longer, _ = infer_recipe(str(large), "y", ["search.epochs=80"])  # trials in full: the ensemble of seeds
    assert (longer.promotion.epochs, longer.promotion.ensemble) == (None, 5)
    small, _ = infer_recipe(str(write(tmp_path, messy_table())), "balance")
    assert (small.promotion.epochs, small.promotion.ensemble) == (None, 5)


def test_a_few_numeric_inputs_are_embedded_periodically_and_many_are_read_plain(tmp_path: Path) -> None:
    recipe, text = infer_recipe(str(write(tmp_path, messy_table())), "balance")
    # age, income, student, cards and the date's parts: a few numbers, each embedded
    assert recipe.search["numeric_embedding"].value == "periodic"  # type: ignore[union-attr]
    assert "numeric input(s), at most 16: each embedded with periodic functions" in text
    plain, _ = infer_recipe(str(write(tmp_path, messy_table())), "balance", ["search.numeric_embedding=none"])
    assert plain.search["numeric_embedding"].value == "none"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"--set search.numeric_embedding=bogus: search.numeric_embedding: value "
                                          r"must be one of none, periodic, but got value='bogus'"):
        infer_recipe(str(write(tmp_path, messy_table())), "balance", ["search.numeric_embedding=bogus"])
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(300, 18)), columns=[f"pixel_{i}" for i in range(18)])
    recipe, text = infer_recipe(str(write(tmp_path, wide, "wide.csv")), "pixel_0")
    assert "numeric_embedding" not in recipe.search and "periodic" not in text  # 17 inputs: read plain


def test_decimal_commas_are_sniffed_and_the_numbers_read(tmp_path: Path) -> None:
    table = messy_table().drop(columns=["note"])
    path = write(tmp_path, table, sep=";", decimal=",")
    recipe, text = infer_recipe(str(path), "balance")
    assert (recipe.data.separator, recipe.data.decimal) == (";", ",")
    assert "numbers are written with decimal commas (e.g. '" in text and "data.decimal ','" in text
    assert recipe.task == "regression"


def test_thousands_grouped_by_dots_are_numbers_and_dotted_dates_stay_dates(tmp_path: Path) -> None:
    from mltune.data import load_table

    # as German Excel saves a table: ';', salaries such as 100.000,00, dates as 01.02.2020
    rng = np.random.default_rng(0)
    salary = rng.integers(20_000, 300_000, 240) + rng.integers(0, 100, 240) / 100
    path = tmp_path / "gehalt.csv"
    path.write_text("Gehalt;Eintritt;Abteilung\n" + "".join(
        f"{f'{v:,.2f}'.replace(',', ' ').replace('.', ',').replace(' ', '.')};{1 + i % 28:02d}.0{1 + i % 9}.2020;"
        f"{'ab'[i % 2]}\n" for i, v in enumerate(salary)), encoding="utf-8")
    recipe, text = infer_recipe(str(path), "Gehalt")
    assert (recipe.task, recipe.data.decimal) == ("regression", ",") and "e.g. '" in text
    table = load_table(recipe)
    assert table.frame["Gehalt"].tolist() == pytest.approx(salary.tolist())
    assert {c.name: c.kind for c in table.columns}["Eintritt"] == "date"


def test_a_comma_separated_file_keeps_decimal_points(tmp_path: Path) -> None:
    recipe, _ = infer_recipe(str(write(tmp_path, messy_table())), "balance")
    assert recipe.data.decimal == "."


@pytest.mark.parametrize(("counts", "task"), [
    ({3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18}, "regression"),  # UCI red wine's quality: a score
    ({digit: 30 for digit in range(10)}, "classification"),  # ten codes about as common as each other
    ({1: 5, 2: 100, 3: 40, 4: 60}, "classification"),  # four codes, however unequal
])
def test_whole_number_targets_with_rare_values_are_scores_to_predict(tmp_path: Path, counts: dict[int, int],
                                                                      task: str) -> None:
    values = np.repeat(list(counts), list(counts.values()))
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float) / 7, "quality": values})
    recipe, text = infer_recipe(str(write(tmp_path, frame)), "quality")
    assert recipe.task == task
    assert ("--set task=classification predicts classes instead" in text) == (task == "regression")
    # A score is predicted to the point: absolute error is its metric (the paper's, for red wine).
    assert recipe.metric == ("mae" if task == "regression" else recipe.metric)
    assert ("metric mae (--set objective.metric=rmse for squared error)" in text) == (task == "regression")


def test_a_class_too_rare_to_stratify_turns_stratification_off(tmp_path: Path) -> None:
    frame = messy_table().assign(fuel=["c"] + ["r"] * 120 + ["p"] * 119)
    recipe, text = infer_recipe(str(write(tmp_path, frame)), "fuel")
    assert recipe.task == "classification" and recipe.split.stratify is False
    assert "# class 'c' has 1 row(s), fewer than the 3 that splits keeping the class proportions need" in text
    balanced, _ = infer_recipe(str(write(tmp_path, messy_table())), "default")
    assert balanced.split.stratify is True


def test_the_printed_recipe_is_the_one_that_runs_with_the_rungs_following_the_epochs(tmp_path: Path) -> None:
    recipe, text = infer_recipe(str(write(tmp_path, messy_table())), "balance",
                                ["search.epochs=3", "budget.n_trials=4"])
    assert recipe.pruner.min_resource == 2 and recipe.budget.n_trials == 4  # type: ignore[union-attr]
    assert "# with --set search.epochs=3 budget.n_trials=4" in text
    assert "epochs: 3" in text and "n_trials: 4" in text and "min_resource: 2" in text
    given, _ = infer_recipe(str(write(tmp_path, messy_table())), "balance",
                            ["search.epochs=3", "pruner={name: hyperband, min_resource: 1}"])
    assert given.pruner.min_resource == 1  # type: ignore[union-attr]


def test_a_number_target_with_a_few_question_marks_is_a_number_to_predict(tmp_path: Path) -> None:
    frame = messy_table()
    frame["balance"] = frame["balance"].astype(object).where(frame.index % 80 != 3, "?")
    recipe, text = infer_recipe(str(write(tmp_path, frame)), "balance")
    assert (recipe.task, recipe.metric) == ("regression", "rmse")
    assert "its 3 other cell(s) are read as empty and their rows left out" in text


def test_a_target_of_formatted_numbers_is_read_and_predicted_as_numbers(tmp_path: Path) -> None:
    from mltune.data import load_table

    frame = messy_table()  # mosaicData's SaratogaHouses as a spreadsheet exports it: price as $132,500
    prices = (frame["balance"].abs() * 1000).round()
    frame["balance"] = [f"${v:,.0f}" if i % 50 else "?" for i, v in enumerate(prices)]
    recipe, _ = infer_recipe(str(write(tmp_path, frame)), "balance")
    assert recipe.task == "regression"
    table = load_table(recipe)
    assert table.frame["balance"].tolist() == [v for i, v in enumerate(prices) if i % 50]  # the ?s left out


def test_question_marks_in_a_class_target_are_empty_not_a_class(tmp_path: Path) -> None:
    from mltune.data import load_table

    frame = messy_table().assign(bought=["yes", "no", "yes", "?", "no", "yes"] * 40)
    recipe, _ = infer_recipe(str(write(tmp_path, frame)), "bought")
    table = load_table(recipe)
    assert sorted(table.frame["bought"].unique()) == ["no", "yes"] and len(table.frame) == 200
    [dropped] = table.report.of("empty target")
    assert dropped.count == 40


@pytest.mark.parametrize(("name", "sep"), [("credit.tsv", "\t"), ("credit.csv.gz", ";"), ("credit.data", ",")])
def test_the_separator_of_other_text_files_is_sniffed(tmp_path: Path, name: str, sep: str) -> None:
    recipe, _ = infer_recipe(str(write(tmp_path, messy_table().drop(columns=["note"]), name=name, sep=sep)),
                             "balance")
    assert recipe.data.separator == sep and recipe.task == "regression"


def test_a_yes_no_target_written_in_several_cases_is_two_classes(tmp_path: Path) -> None:
    from mltune.data import load_table

    frame = messy_table().assign(bought=["yes", "Yes", "YES", "no", "No", "no"] * 40)
    recipe, text = infer_recipe(str(write(tmp_path, frame)), "bought")
    assert recipe.task == "classification" and recipe.metric == "accuracy"  # 2 classes of 120 rows, not 5
    assert sorted(load_table(recipe).frame["bought"].unique()) == ["no", "yes"]
