"""Real tables in, raw rows out: messy CSVs tune from the templates (or with no recipe), the champion takes the
rows ``pd.read_csv`` gives back, studies are bound to their data, and the test score is shown after promotion."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner

from mltune.cli import main
from mltune.config.recipe import load_recipe
from mltune.data import for_table, load_table, make_splits
from mltune.names import DATA_SOURCE_ATTR, SCHEMA_ATTR, TEST_SCORE_ATTR

from .conftest import RECIPES
from .tables import messy_table
from .test_promotion import _post_when_up

FAST = ["--n-trials", "2", "--set", "search.epochs=2", "--set", "search.patience=null", "-q"]


def _tune(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["tune", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _held_out(path: Path, recipe_path: Path, target: str) -> pd.DataFrame:
    """The test rows of the study, read back from the file with pandas, unchanged."""
    recipe = load_recipe(recipe_path, [f"data.path={path}", f"data.target={target}"])
    table = load_table(recipe)
    rows = pd.read_csv(path)
    return rows.iloc[make_splits(recipe, table).test]


@pytest.mark.slow
@pytest.mark.parametrize(("template", "target", "model"), [
    ("csv_regression.yaml", "balance", "csv-regression"),
    ("csv_classification.yaml", "default", "csv-classification"),
])
def test_messy_table_tunes_from_a_template_and_the_champion_takes_read_csv_rows(
        workdir: Path, storage: str, template: str, target: str, model: str) -> None:
    path = workdir / "credit.csv"
    messy_table().to_csv(path, index=False)
    code, out, err = _tune(str(RECIPES / template), "--set", f"data.path={path}", "--set", f"data.target={target}",
                           "--storage", storage, "--promote", *FAST)
    assert code == 0, err
    assert "data: customer_id: dropped: identifier: 240 distinct whole numbers in 240 rows" in err
    assert "data: income: outliers: 5 value(s) outside" in err
    assert "on the held-out test split" in out

    champion = mlflow.pyfunc.load_model(f"models:/{model}@champion")
    rows = _held_out(path, RECIPES / template, target)
    predicted = champion.predict(rows.drop(columns=[target]))
    assert len(predicted) == len(rows)
    if target == "default":
        assert set(predicted) <= {"yes", "no"}
    else:
        assert np.isfinite(predicted).all()
    odd = rows.head(3).drop(columns=[target]).assign(city=["Reykjavik", None, "  Oslo  "], student=[None, "YES", "no"],
                                                     income=[np.nan, 1e300, 5.0], cards=[1.0, np.nan, 99.0])
    assert len(champion.predict(odd)) == 3  # unseen category, empty cells, outliers: an answer, no error
    one = workdir / "one.csv"
    one.write_text("age,income,city,student,cards,grade,opened,balance,default\n41,,,,2,B,2020-02-03,,\n")
    assert len(champion.predict(pd.read_csv(one).drop(columns=[target]))) == 1  # empty text cells read as float
    schema = champion.metadata.get_input_schema()
    assert schema.input_names() == ["age", "income", "city", "student", "cards", "grade", "opened",
                                    *(["default"] if target == "balance" else ["balance"])]


@pytest.mark.parametrize(("target", "sets", "metric"), [
    ("cards", [], "mae"),  # 1-4 cards: a count, predicted to the card, as the inferred recipe does
    ("balance", [], "rmse"),  # any number: squared error
    ("cards", ["objective.metric=rmse"], "rmse"),  # a metric given is kept
])
def test_the_regression_template_tunes_a_score_for_absolute_error(tmp_path: Path, target: str, sets: list[str],
                                                                   metric: str) -> None:
    path = tmp_path / "credit.csv"
    messy_table().to_csv(path, index=False)
    recipe = load_recipe(RECIPES / "csv_regression.yaml", [f"data.path={path}", f"data.target={target}", *sets])
    assert for_table(recipe, load_table(recipe)).metric == metric


@pytest.mark.parametrize(("features", "tuned"), [
    ("[age, income, city]", True),  # city: text categories, one-hot or embedded
    ("[age, income]", False),  # numbers only: no category to encode, no trial spent on how
])
def test_the_template_tunes_how_categories_are_read_only_where_a_table_has_them(tmp_path: Path, features: str,
                                                                                  tuned: bool) -> None:
    path = tmp_path / "credit.csv"
    messy_table().to_csv(path, index=False)
    recipe = load_recipe(RECIPES / "csv_regression.yaml",
                         [f"data.path={path}", "data.target=balance", f"data.features={features}"])
    search = for_table(recipe, load_table(recipe)).search
    assert {"categorical_encoding", "embedding_dim"} <= set(recipe.search)
    assert ("categorical_encoding" in search, "embedding_dim" in search) == (tuned, tuned)
    assert "numeric_scaling" in search


@pytest.mark.slow
def test_data_and_target_without_a_recipe_and_the_test_score_everywhere(workdir: Path, storage: str) -> None:
    path = workdir / "credit.csv"
    messy_table().drop(columns=["balance"]).to_csv(path, index=False)
    code, out, err = _tune("--data", str(path), "--target", "default", "--storage", storage, "--promote",
                           "--output", "json", *FAST)
    assert code == 0, err
    assert "# task: classification (target 'default' holds text)" in err
    payload = json.loads(out)
    assert payload["study_name"] == "credit" and payload["promotion"]["model_name"] == "credit"
    assert payload["test_score"] == payload["promotion"]["challenger_score"]
    assert 0.0 <= payload["test_score"] <= 1.0

    report = CliRunner().invoke(main, ["report", "--study-name", "credit", "--storage", storage, "--output", "json"])
    assert json.loads(report.stdout)["test_score"] == payload["test_score"]
    text = CliRunner().invoke(main, ["report", "--study-name", "credit", "--storage", storage]).stdout
    assert f"accuracy={payload['test_score']:.6g} on the held-out test split" in text

    study = optuna.load_study(study_name="credit", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(storage.removeprefix("journal:"))))
    assert json.loads(study.user_attrs[SCHEMA_ATTR])["features"]["city"] == "categorical"
    assert study.user_attrs[TEST_SCORE_ATTR]["metric"] == "accuracy"
    parent = mlflow.MlflowClient().get_run(payload["parent_run_id"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"data_report.csv", "data_report.txt", "columns.json", "recipe.yaml"} <= artifacts
    assert parent.data.metrics["data_dropped"] == 2


def test_a_table_of_free_text_is_tuned_on_its_words_and_the_champion_reads_raw_text(workdir: Path,
                                                                                     storage: str) -> None:
    rng = np.random.default_rng(3)
    good, bad, neutral = ["great", "tasty", "love", "fresh"], ["stale", "awful", "broken", "bland"], \
        ["the", "coffee", "box", "was", "a", "bit", "and", "arrived", "today", "my", "kids"]
    liked = rng.random(400) < 0.5
    reviews = [" ".join(rng.choice(neutral, 5).tolist() + [str(rng.choice(good if y else bad)).title() + "!"])
               for y in liked]
    path = workdir / "reviews.csv"
    pd.DataFrame({"review_id": [f"R{i:06d}" for i in range(400)], "review": reviews,
                  "liked": np.where(liked, "yes", "no")}).to_csv(path, index=False)
    code, out, err = _tune("--data", str(path), "--target", "liked", "--storage", storage, "--promote",
                           "--output", "json", "--n-trials", "1", "--set", "search.epochs=3")
    assert code == 0, err
    assert "data: 1 feature column(s): review (text)" in err
    assert json.loads(out)["test_score"] >= 0.9  # one word tells the class, whatever its case and punctuation
    rows = pd.DataFrame({"review_id": ["new"] * 3, "review": ["Awful, awful coffee.", "GREAT box, never seen", None]})
    predicted = mlflow.pyfunc.load_model("models:/reviews@champion").predict(rows)
    assert list(predicted[:2]) == ["no", "yes"] and predicted[2] in ("no", "yes")


@pytest.mark.slow
def test_a_study_is_bound_to_its_data(workdir: Path, storage: str) -> None:
    first, second = workdir / "first.csv", workdir / "second.csv"
    messy_table().to_csv(first, index=False)
    messy_table(seed=1).drop(columns=["grade"]).assign(extra=1.5).to_csv(second, index=False)
    template = str(RECIPES / "csv_regression.yaml")
    code, _, err = _tune(template, "--data", str(first), "--target", "balance", "--study-name", "s",
                         "--storage", storage, *FAST[:2], "--set", "search.epochs=1")
    assert code == 0, err
    runs_before = len(mlflow.search_runs(search_all_experiments=True))

    code, _, err = _tune(template, "--data", str(second), "--target", "balance", "--study-name", "s",
                         "--storage", storage, *FAST)
    assert code == 2
    assert err.strip().endswith(
        f"study 's' is bound to the columns of {first}, but {second} differs: new columns ['extra']; missing columns "
        "['grade'] (give another --study-name, or point data.path at a table like the first)")
    assert len(mlflow.search_runs(search_all_experiments=True)) == runs_before  # nothing written

    # Without --study-name a template on a second file gets a study and a model of its own, and says so.
    for path in (first, second):
        code, out, err = _tune(template, "--data", str(path), "--target", "balance", "--storage", storage,
                               "--n-trials", "1", "--set", "search.epochs=1", "-q")
        assert code == 0, err
    assert (f"note: study 'csv_regression' was made on {first}; {second} gets study 'csv_regression-second' and "
            "model 'csv-regression-second'") in out
    names = optuna.get_all_study_names(optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(storage.removeprefix("journal:"))))
    assert {"s", "csv_regression", "csv_regression-second"} <= set(names)


@pytest.mark.slow
def test_embeddings_and_class_weights_train_and_serve_json(workdir: Path, storage: str) -> None:
    path = workdir / "credit.csv"
    frame = messy_table()
    frame.loc[frame.index[:200], "default"] = "no"  # unequal classes
    frame.to_csv(path, index=False)
    code, _, err = _tune(str(RECIPES / "csv_classification.yaml"), "--data", str(path), "--target", "default",
                         "--set", "data.class_weights=balanced", "--set", "search.categorical_encoding=embedding",
                         "--set", "search.embedding_dim=3", "--set", "promotion.model_name=credit", "--storage",
                         storage, "--promote", "--n-trials", "1", "--set", "search.epochs=2", "-q")
    assert code == 0, err
    assert "class balance: 2 classes, unequal (weighed by data.class_weights: balanced)" in err
    rows = pd.read_csv(path).drop(columns=["default"]).head(6)
    expected = list(mlflow.pyfunc.load_model("models:/credit@champion").predict(rows))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(["mlflow", "models", "serve", "-m", "models:/credit@champion", "--env-manager",
                               "local", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = json.loads(rows.to_json(orient="split", index=False))  # empty cells become null, as a client sends them
    try:
        answer = _post_when_up(f"http://127.0.0.1:{port}", {"dataframe_split": body})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer["predictions"] == expected


def test_schema_guard_names_columns_of_another_kind(workdir: Path) -> None:
    from mltune.config.recipe import parse_recipe
    from mltune.errors import ConfigError
    from mltune.search.context import check_bound_data, data_schema

    path = workdir / "credit.csv"
    messy_table().to_csv(path, index=False)
    data = {"path": str(path), "target": "balance"}
    first = load_table(parse_recipe({"name": "t", "task": "regression", "data": data}))
    study = optuna.create_study(study_name="s")
    study.set_user_attr(SCHEMA_ATTR, data_schema(first))
    study.set_user_attr(DATA_SOURCE_ATTR, str(path))
    check_bound_data(study, first)  # the same table resumes
    ordinal = {**data, "columns": {"grade": {"kind": "ordinal", "order": ["C", "B", "A"]}}}
    second = load_table(parse_recipe({"name": "t", "task": "regression", "data": ordinal}))
    with pytest.raises(ConfigError) as excinfo:
        check_bound_data(study, second)
    assert str(excinfo.value) == (
        f"--study-name: study 's' is bound to the columns of {path}, but {path} differs: other kinds "
        "['grade: categorical -> ordinal'] (give another --study-name, or point data.path at a table like the first)")
