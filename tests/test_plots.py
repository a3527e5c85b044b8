"""The figures mltune attaches to runs: study plots, learning curves, confusion matrices and reconstructions."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.image
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from mltune.views.plots import (
    STUDY_PLOTS_HTML,
    write_confusion_matrix,
    write_learning_curve,
    write_reconstructions,
    write_study_plots,
)

SINGLE_OBJECTIVE_PLOTS = ["optimization_history", "param_importances", "parallel_coordinate", "slice", "contour"]


def assert_png(path: Path) -> tuple[int, int]:
    """Asserts ``path`` is a PNG that decodes; returns its height and width in pixels."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50, (path, image.shape)
    return image.shape[0], image.shape[1]


def tuning_objective(trial: optuna.Trial) -> float:
    """Cheap stand-in for training: reports per epoch so the pruner can stop it, and fails once."""
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    units = trial.suggest_int("units", 8, 64)
    activation = trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])
    if trial.number == 4:
        raise RuntimeError("diverged")
    value = (math.log10(lr) + 2.5) ** 2 + abs(units - 32) / 32 + (activation != "relu") * 0.3
    for epoch in range(4):
        trial.report(value + 1 / (epoch + 1), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def tuned_study(n_trials: int = 12) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    study.optimize(tuning_objective, n_trials=n_trials, catch=(RuntimeError,))
    return study


@pytest.fixture(scope="module")
def study_plots(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, list[Path]]:
    study = tuned_study()
    states = {state: len(study.get_trials(states=(state,))) for state in TrialState}
    assert states[TrialState.PRUNED] and states[TrialState.FAIL] == 1 and states[TrialState.COMPLETE] >= 4, states
    return study, write_study_plots(study, tmp_path_factory.mktemp("study") / "plots")


def test_study_plots_are_pngs_and_one_page(study_plots: tuple[optuna.Study, list[Path]]) -> None:
    _, paths = study_plots
    assert [path.name for path in paths] == [f"{name}.png" for name in SINGLE_OBJECTIVE_PLOTS] + [STUDY_PLOTS_HTML]
    assert all(path.parent == paths[0].parent for path in paths)
    for path in paths[:-1]:
        assert_png(path)


def test_study_page_holds_every_figure_and_plotly_once(study_plots: tuple[optuna.Study, list[Path]]) -> None:
    study, paths = study_plots
    page = paths[-1].read_text(encoding="utf-8")
    assert re.findall(r'<section id="(\w+)">', page) == SINGLE_OBJECTIVE_PLOTS
    assert page.count("Plotly.newPlot(") == len(SINGLE_OBJECTIVE_PLOTS)
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1  # inlined once, so the page opens offline
    body = page[page.index("</head>"):]  # plotly.js itself mentions its CDN
    assert "<script src=" not in body and "http" not in body
    assert f"{len(study.trials)} trials:" in page and "1 fail" in page and "pruned" in page


def test_contour_shows_the_most_important_params(study_plots: tuple[optuna.Study, list[Path]]) -> None:
    study, paths = study_plots
    page = paths[-1].read_text(encoding="utf-8")
    ranked = list(optuna.importance.get_param_importances(study))
    assert f"<h2>Contour of {', '.join(ranked)}</h2>" in page  # three params here: all of them, by importance


@pytest.mark.parametrize(
    ("objective", "n_trials", "expected"),
    [
        pytest.param(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("y", 0, 3), 1,
                     ["optimization_history", "parallel_coordinate", "slice"], id="one-complete-trial"),
        pytest.param(lambda t: t.suggest_float("x", 0, 1), 5,
                     ["optimization_history", "param_importances", "parallel_coordinate", "slice"], id="one-param"),
        pytest.param(lambda t: 1.0, 3, ["optimization_history"], id="no-params"),
        pytest.param(lambda t: 0 * t.suggest_float("x", 0, 1) * t.suggest_int("y", 0, 3), 4,
                     ["optimization_history", "parallel_coordinate", "slice", "contour"], id="all-values-equal"),
        pytest.param(lambda t: t.suggest_float("x", 0, 1) + len(t.suggest_categorical("c", ["only"])), 4,
                     ["optimization_history", "param_importances", "parallel_coordinate", "slice"],
                     id="single-choice-param-ignored"),
    ],
)
def test_small_studies_draw_what_they_can(objective, n_trials: int, expected: list[str], tmp_path: Path) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    paths = write_study_plots(study, tmp_path)
    assert [path.name for path in paths] == [f"{name}.png" for name in expected] + [STUDY_PLOTS_HTML]
    for path in paths[:-1]:
        assert_png(path)


def test_conditional_params_stay_out_of_the_contour(tmp_path: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return trial.suggest_float("a_rate", 0, 1)
        return trial.suggest_float("b_rate", 0, 1) + trial.suggest_int("b_depth", 1, 4)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=12)
    names = [path.stem for path in write_study_plots(study, tmp_path)]
    assert "contour" not in names and "param_importances" in names  # "kind" is the only param in every trial


def test_study_without_a_complete_trial_writes_nothing(tmp_path: Path) -> None:
    study = optuna.create_study()
    study.tell(study.ask(), state=TrialState.FAIL)
    study.tell(study.ask(), state=TrialState.PRUNED)
    study.ask()  # still running
    assert write_study_plots(study, tmp_path / "plots") == []
    assert not (tmp_path / "plots").exists()


def test_two_objectives_draw_the_pareto_front(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=10)
    paths = write_study_plots(study, tmp_path)
    assert [path.name for path in paths] == ["pareto_front.png", STUDY_PLOTS_HTML]
    assert_png(paths[0])
    assert re.findall(r'<section id="(\w+)">', paths[1].read_text(encoding="utf-8")) == ["pareto_front"]


def test_study_plots_leave_pyplot_as_they_found_it(tmp_path: Path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    study = tuned_study(n_trials=6)
    style = dict(matplotlib.rcParams)
    figures = plt.get_fignums()
    write_study_plots(study, tmp_path)
    assert plt.get_fignums() == figures  # every figure closed
    assert dict(matplotlib.rcParams) == style  # Optuna's ggplot style did not leak


def test_study_plots_from_several_threads(tmp_path: Path) -> None:
    study = tuned_study(n_trials=6)

    def draw(index: int) -> None:
        write_study_plots(study, tmp_path / str(index))
        write_learning_curve({"loss": [1.0, 0.5]}, metric="accuracy", path=tmp_path / f"curve{index}.png")

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(draw, range(2)))  # re-raises what a thread raised
    for index in range(2):
        assert_png(tmp_path / str(index) / "slice.png")
        assert_png(tmp_path / f"curve{index}.png")


def test_importing_plots_loads_neither_matplotlib_nor_tensorflow() -> None:
    code = ("import sys, mltune.views.plots; "
            "print(sorted({'matplotlib', 'plotly', 'tensorflow', 'keras'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_learning_curve_with_losses_and_metric(tmp_path: Path) -> None:
    epochs = np.arange(12)
    history = {"loss": list(np.exp(-epochs / 4)), "val_loss": list(np.exp(-epochs / 4) + 0.1),
               "accuracy": list(1 - np.exp(-epochs / 4)), "val_accuracy": list(0.9 - np.exp(-epochs / 4)),
               "learning_rate": [0.001] * 12}
    write_learning_curve(history, metric="accuracy", path=tmp_path / "curve.png", title="trial 3")
    height, width = assert_png(tmp_path / "curve.png")
    assert width > 1.8 * height  # two panels side by side


@pytest.mark.parametrize(
    ("history", "metric", "panels"),
    [
        pytest.param({"loss": [1.0, 0.7, float("nan"), 0.5], "val_loss": [1.1, 0.9], "accuracy": [0.5, 0.6, 0.7]},
                     "accuracy", 2, id="pruned-or-diverged"),
        pytest.param({"loss": [1.0, 0.8], "val_loss": [1.2, 1.1]}, "accuracy", 1, id="metric-missing"),
        pytest.param({"val_mae": [3.0, 2.0, 1.5]}, "mae", 1, id="only-val-metric"),
        pytest.param({"loss": [1.0, 0.8], "val_loss": [1.2, 1.1]}, "loss", 1, id="metric-is-loss"),
        pytest.param({"loss": [], "val_loss": []}, "accuracy", 0, id="no-epochs"),
    ],
)
def test_learning_curve_with_partial_history(history: dict[str, list[float]], metric: str, panels: int,
                                             tmp_path: Path) -> None:
    write_learning_curve(history, metric=metric, path=tmp_path / "curve.png")
    height, width = assert_png(tmp_path / "curve.png")
    assert (width > 1.8 * height) == (panels == 2)


def test_confusion_matrix_with_string_labels(tmp_path: Path) -> None:
    labels = ["setosa", "versicolor", "virginica"]
    y_true = ["setosa", "versicolor", "virginica", "virginica", np.str_("setosa")]
    y_pred = ["setosa", "virginica", "virginica", "versicolor", "setosa"]
    write_confusion_matrix(y_true, y_pred, labels=labels, path=tmp_path / "confusion.png")
    assert_png(tmp_path / "confusion.png")


def test_confusion_matrix_with_twenty_numpy_int_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 20, 500)
    y_pred = np.where(rng.random(500) < 0.8, y_true, rng.integers(0, 20, 500))
    write_confusion_matrix(y_true, y_pred, labels=list(range(20)), path=tmp_path / "confusion.png")
    assert_png(tmp_path / "confusion.png")


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "message"),
    [
        pytest.param([0, 1], [0], [0, 1], "same length", id="lengths-differ"),
        pytest.param([0, 2], [0, 1], [0, 1], "one of labels", id="unknown-true-label"),
        pytest.param(["a"], ["c"], ["a", "b"], "'c'", id="unknown-predicted-label"),
        pytest.param([0], [0], [], "non-empty and distinct", id="no-labels"),
        pytest.param([0], [0], [0, 0], "non-empty and distinct", id="repeated-label"),
    ],
)
def test_confusion_matrix_rejects_bad_input(y_true, y_pred, labels, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        write_confusion_matrix(y_true, y_pred, labels=labels, path=tmp_path / "confusion.png")
    assert not (tmp_path / "confusion.png").exists()


@pytest.mark.parametrize(("shape", "images"), [((20, 64), True), ((20, 10), False), ((3, 8, 8), True),
                                               ((5, 99), False)])
def test_reconstructions(shape: tuple[int, ...], images: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    original = rng.random(shape) * 16
    write_reconstructions(original, original + rng.normal(0, 1, shape), path=tmp_path / "reconstructions.png")
    _, width = assert_png(tmp_path / "reconstructions.png")
    assert (width < 300) == images  # two small images a row make a narrow figure; bars need room


def test_reconstructions_reject_mismatched_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same shape"):
        write_reconstructions(np.zeros((4, 64)), np.zeros((4, 63)), path=tmp_path / "reconstructions.png")
    with pytest.raises(ValueError, match="n >= 1"):
        write_reconstructions(np.zeros((4, 64)), np.zeros((4, 64)), path=tmp_path / "reconstructions.png", n=0)
