"""Figures mltune attaches to MLflow runs: study plots, learning curves, confusion matrices, reconstructions.

Every function writes files and returns; none talks to MLflow (that is :mod:`mltune.tracking.runs`'s job). Importing
this module is cheap: matplotlib, plotly and Optuna's visualization load inside the functions that need them.

Optuna's matplotlib plots draw through pyplot, whose state is global: they run under one lock (trials may finish in
several threads), inside :func:`matplotlib.rc_context` (they switch the style to ggplot, which would otherwise leak
into every later figure of the process), and every figure they open is closed. The other figures are built on
:class:`matplotlib.figure.Figure` directly and never touch pyplot.
"""

from __future__ import annotations

import html
import logging
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial

__all__ = [
    "STUDY_PLOTS_HTML",
    "write_confusion_matrix",
    "write_learning_curve",
    "write_reconstructions",
    "write_study_plots",
]

STUDY_PLOTS_HTML = "study_plots.html"

# A contour plot of k params is a k x k grid; past 3 the panels get small and the PNG takes most of the time.
MAX_CONTOUR_PARAMS = 3
# Slice and parallel-coordinate plots grow by a panel or an axis per param; past 8 they stop being readable.
MAX_PLOTTED_PARAMS = 8
STUDY_DPI = 90
SMALL_DPI = 80

_PYPLOT_LOCK = threading.Lock()


@dataclass(frozen=True)
class _StudyPlot:
    """One Optuna visualization, drawn with plotly (for the HTML page) and with matplotlib (for the PNG)."""

    name: str
    title: str
    function: str
    kwargs: dict[str, Any]


def write_study_plots(study: optuna.Study, folder: Path) -> list[Path]:
    """Writes Optuna's visualizations of ``study`` as PNGs and as one self-contained HTML page.

    A single-objective study gets its optimization history, parameter importances, parallel coordinates and slice
    plot of its :data:`MAX_PLOTTED_PARAMS` most important params, and a contour plot of its
    :data:`MAX_CONTOUR_PARAMS` most important params that every complete trial has. A study with two or three
    objectives gets its Pareto front instead (more objectives: nothing). A plot the trials so far cannot support is
    left out rather than drawn empty: everything needs a complete trial with finite values and all but the history
    a param with more than one possible value; importances need two different values, a contour two complete
    trials and two params. ``study_plots.html`` holds every plot drawn, with plotly.js (about 5 MB) inlined once,
    so it opens without a network.

    Args:
        study: The study to draw; only complete trials with finite values are drawn.
        folder: Where the files go (created if missing); files of the same names are replaced, so two calls must
            not share a folder at the same time.

    Returns:
        The written paths: ``<name>.png`` for each plot drawn (``optimization_history``, ``param_importances``,
        ``parallel_coordinate``, ``slice``, ``contour``; or ``pareto_front``), then ``study_plots.html``. Empty,
        with nothing written, when there is nothing to draw yet.

    Raises:
        OSError: ``folder`` cannot be created or written.
    """
    plots = _study_plots(study)
    if not plots:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    written = [_write_matplotlib_plot(study, plot, folder / f"{plot.name}.png") for plot in plots]
    written.append(_write_plotly_page(study, plots, folder / STUDY_PLOTS_HTML))
    return written


def _study_plots(study: optuna.Study) -> list[_StudyPlot]:
    """Chooses the plots the study's complete trials can support, with the params each one shows."""
    from optuna.trial import TrialState

    complete = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.values is not None and all(math.isfinite(value) for value in trial.values)
    ]
    if not complete:
        return []
    n_objectives = len(study.directions)
    if n_objectives > 1:
        if n_objectives > 3:  # Optuna draws Pareto fronts in two or three dimensions only
            return []
        return [_StudyPlot("pareto_front", "Pareto front", "plot_pareto_front", {})]

    names = _varying_params(complete)
    plots = [_StudyPlot("optimization_history", "Optimization history", "plot_optimization_history", {})]
    if not names:
        return plots
    ranked = names
    # Importances attribute the spread of the values to the params: with one value or no spread, there is none.
    if len({trial.value for trial in complete}) >= 2:
        ranked = _params_by_importance(study, names)
        plots.append(_StudyPlot("param_importances", "Parameter importances", "plot_param_importances",
                                {"params": ranked}))
    shown = ranked[:MAX_PLOTTED_PARAMS]
    plots.append(_StudyPlot("parallel_coordinate", "Parallel coordinates", "plot_parallel_coordinate",
                            {"params": shown}))
    plots.append(_StudyPlot("slice", "Slice", "plot_slice", {"params": shown}))
    # Conditional params are left out of the contour: a pair that never shares a trial draws an empty panel.
    everywhere = [name for name in ranked if all(name in trial.params for trial in complete)]
    if len(everywhere) >= 2 and len(complete) >= 2:
        shown = everywhere[:MAX_CONTOUR_PARAMS]
        plots.append(_StudyPlot("contour", f"Contour of {', '.join(shown)}", "plot_contour", {"params": shown}))
    return plots


def _varying_params(trials: Sequence[FrozenTrial]) -> list[str]:
    """Names of the params the trials took from a distribution with more than one value, sorted."""
    names = {name for trial in trials for name, dist in trial.distributions.items() if not dist.single()}
    return sorted(names)


def _params_by_importance(study: optuna.Study, names: list[str]) -> list[str]:
    """``names`` ordered by Optuna's default importance (PED-ANOVA), most important first."""
    import optuna

    with _quiet_warnings():
        importances = optuna.importance.get_param_importances(study, params=names)
    return sorted(names, key=lambda name: -importances.get(name, 0.0))


def _write_matplotlib_plot(study: optuna.Study, plot: _StudyPlot, path: Path) -> Path:
    import optuna.visualization.matplotlib as optuna_matplotlib

    draw: Callable[..., Axes | np.ndarray] = getattr(optuna_matplotlib, plot.function)
    with _pyplot() as plt:
        axes = draw(study, **plot.kwargs)
        figure = (axes.flat[0] if isinstance(axes, np.ndarray) else axes).get_figure(root=True)
        assert figure is not None  # Optuna's axes always belong to a figure
        # Optuna keeps the default size for its k x k contour grid, and gives each slice panel 3.2 inches.
        if plot.name == "contour":
            side = 2.6 * len(plot.kwargs["params"])
            figure.set_size_inches(side + 1.2, side)
        elif plot.name == "slice":
            figure.set_size_inches(2.8 * len(plot.kwargs["params"]) + 1.2, 3.6)
        # Tight, except for the contour: the history's legend and the parallel axes' labels reach outside the
        # figure, and the slice plot has wide margins. It costs a second draw.
        figure.savefig(path, dpi=STUDY_DPI, bbox_inches=None if plot.name == "contour" else "tight")
        plt.close(figure)
    return path


@contextmanager
def _pyplot() -> Iterator[Any]:
    """Pyplot for Optuna's matplotlib plots: locked, with rcParams restored and every new figure closed after."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")  # studies run on servers without a display; a backend someone chose is kept
    import matplotlib.pyplot as plt

    with _PYPLOT_LOCK, matplotlib.rc_context(), _quiet_warnings():
        before = set(plt.get_fignums())
        try:
            yield plt
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)


@contextmanager
def _quiet_warnings() -> Iterator[None]:
    """Silences the warnings that plotting a young study raises every time, and only those."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # Optuna's matplotlib backend is experimental
        # PED-ANOVA: with few trials, or few per value of a param, its importances come out equal; still valid.
        warnings.filterwarnings("ignore", "(The number of trials is too small|Target and region quantiles"
                                "|Some regimes for parameter)", UserWarning)
        # Matplotlib: an axis over a single value (one trial, or a param sampled once) gets widened.
        warnings.filterwarnings("ignore", "Attempting to set identical (low and high|left == right|bottom == top)",
                                UserWarning)
        yield


def _write_plotly_page(study: optuna.Study, plots: Sequence[_StudyPlot], path: Path) -> Path:
    import optuna.visualization as optuna_plotly
    from plotly.offline import get_plotlyjs

    sections = []
    with _quiet_warnings():
        for plot in plots:
            figure = getattr(optuna_plotly, plot.function)(study, **plot.kwargs)
            div = figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{plot.name}",
                                 default_height="520px")
            sections.append(f'<section id="{plot.name}">\n<h2>{html.escape(plot.title)}</h2>\n{div}\n</section>')
    title = html.escape(f"Study {study.study_name}")
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head>\n<meta charset="utf-8">\n<title>{title}</title>',
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>',
        f"<body>\n<h1>{title}</h1>\n<p>{html.escape(_trial_summary(study))}</p>",
        *sections,
        "</body>\n</html>\n",
    ])
    path.write_text(page, encoding="utf-8")
    return path


def _trial_summary(study: optuna.Study) -> str:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    parts = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    summary = f"{sum(counts.values())} trials: {parts}."
    if len(study.directions) == 1 and counts.get("complete"):
        best = study.best_trial
        summary += f" Best value {best.value:.6g} in trial {best.number}."
    return summary


def write_learning_curve(history: dict[str, list[float]], *, metric: str, path: Path, title: str = "") -> None:
    """Writes one PNG of a trial's training history: losses on the left, ``metric`` on the right.

    Each series is drawn over its own epochs (numbered from 1), so a pruned trial or a validation series shorter
    than the training one is drawn as far as it goes. Missing keys are left out, an axis with nothing to show is
    dropped, and non-finite values (a diverged trial) leave a gap.

    Args:
        history: Values per epoch under ``loss``, ``val_loss``, ``<metric>`` and ``val_<metric>``, as Keras'
            ``History.history`` holds them; other keys are ignored.
        metric: The metric's key, e.g. ``"accuracy"``.
        path: The PNG to write; its folder must exist.
        title: Drawn above the axes when given, e.g. the trial number and params.
    """
    from matplotlib.figure import Figure

    panels = []
    for key in dict.fromkeys(["loss", metric]):  # fromkeys: one panel when the metric is the loss
        series = [name for name in (key, f"val_{key}") if history.get(name)]
        if series:
            panels.append((key, series))
    width = 4.2 * max(len(panels), 1)
    figure = Figure(figsize=(width, 3.2), dpi=SMALL_DPI)
    # Fixed margins, in inches: a layout engine would draw the figure twice, doubling the cost of a call.
    figure.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width, bottom=0.5 / 3.2, top=0.86 if title else 0.95,
                           wspace=0.3)
    if not panels:
        figure.text(0.5, 0.5, "no epochs recorded", ha="center", va="center")
    grid = figure.subplots(1, len(panels), squeeze=False)[0] if panels else []
    for axes, (key, series) in zip(grid, panels, strict=True):
        for name in series:
            values = np.asarray(history[name], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            axes.plot(epochs, np.where(np.isfinite(values), values, np.nan), marker="." if len(values) < 30 else "",
                      linestyle="--" if name.startswith("val_") else "-", label=name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(key)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    if title:
        figure.suptitle(title, fontsize="medium")
    figure.savefig(path)


def write_confusion_matrix(y_true: Sequence[Any] | np.ndarray, y_pred: Sequence[Any] | np.ndarray, *,
                           labels: Sequence[Any] | np.ndarray, path: Path) -> None:
    """Writes a PNG confusion matrix: true labels down, predicted labels across, the count in every cell.

    Args:
        y_true: The true class of each example, as found in ``labels``.
        y_pred: The predicted class of each example, as found in ``labels``.
        labels: Every class, in the order of the rows and columns; ints or strings, readable up to about 20.
        path: The PNG to write; its folder must exist.

    Raises:
        ValueError: ``y_true`` and ``y_pred`` differ in length, ``labels`` is empty or repeats a label, or a value
            is not among ``labels``.
    """
    from matplotlib.figure import Figure

    counts = _confusion_counts(y_true, y_pred, labels)
    n = len(labels)
    side = max(3.5, 0.42 * n + 1.8)
    figure = Figure(figsize=(side + 0.8, side), dpi=SMALL_DPI, layout="tight")
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    names = [str(label) for label in labels]
    rotated = max(map(len, names)) > 3
    axes.set_xticks(range(n), names, rotation=45 if rotated else 0, ha="right" if rotated else "center")
    axes.set_yticks(range(n), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = counts.max() / 2
    fontsize = 9 if n <= 10 else 7
    for row, column in np.ndindex(counts.shape):
        axes.text(column, row, str(counts[row, column]), ha="center", va="center", fontsize=fontsize,
                  color="white" if counts[row, column] > threshold else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    axes.set_title(f"{counts.sum()} examples, accuracy {accuracy:.3f}", fontsize="medium")
    figure.savefig(path)


def _confusion_counts(y_true: Sequence[Any] | np.ndarray, y_pred: Sequence[Any] | np.ndarray,
                      labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    from mltune.data.columns import plain_value  # a label np.str_("a") is the label "a"

    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length, but got {len(y_true)=} and {len(y_pred)=}.")
    plain_labels = [plain_value(label) for label in labels]
    index = {label: i for i, label in enumerate(plain_labels)}
    if not index or len(index) != len(plain_labels):
        raise ValueError(f"labels must be non-empty and distinct, but got labels={plain_labels!r}.")
    counts = np.zeros((len(index), len(index)), dtype=np.int64)
    unknown: set[Any] = set()
    for true, predicted in zip(y_true, y_pred, strict=True):
        row, column = index.get(plain_value(true)), index.get(plain_value(predicted))
        if row is None or column is None:
            unknown.update(plain_value(value) for value, i in ((true, row), (predicted, column)) if i is None)
            continue
        counts[row, column] += 1
    if unknown:
        shown = sorted(map(repr, unknown))[:10]
        raise ValueError(f"Every value in y_true and y_pred must be one of labels={plain_labels!r}, but got {shown}.")
    return counts



def write_reconstructions(original: np.ndarray, reconstructed: np.ndarray, *, path: Path, n: int = 8) -> None:
    """Writes a PNG comparing an autoencoder's inputs with its outputs, one example per row.

    When the feature count is a perfect square (64 features for 8x8 digits) each row shows the original and the
    reconstruction as two grey images, both on the scale of the originals shown. Otherwise each row shows the
    original's features as bars (as a line past 64 features) with the reconstruction as a line over them. Each row
    is labelled with its mean squared error.

    Args:
        original: The inputs, one example per row; further axes are flattened, so ``(n, 28, 28)`` is fine too.
        reconstructed: The model's outputs for the same examples, of the same shape.
        path: The PNG to write; its folder must exist.
        n: How many examples (the first ``n``) to draw.

    Raises:
        ValueError: The arrays differ in shape, are not at least two-dimensional, hold no example, or ``n`` < 1.
    """
    from matplotlib.figure import Figure

    original, reconstructed = np.asarray(original, dtype=float), np.asarray(reconstructed, dtype=float)
    if original.shape != reconstructed.shape:
        raise ValueError(f"original and reconstructed must have the same shape, but got {original.shape=} and "
                         f"{reconstructed.shape=}.")
    if n < 1 or original.ndim < 2 or original.shape[0] == 0 or original[0].size == 0:
        raise ValueError(f"Need n >= 1 and arrays of shape (examples, features...) with at least one example and "
                         f"feature, but got {n=} and {original.shape=}.")
    rows = min(n, len(original))
    original = original[:rows].reshape(rows, -1)
    reconstructed = reconstructed[:rows].reshape(rows, -1)
    errors = np.mean((original - reconstructed) ** 2, axis=1)
    features = original.shape[1]
    side = math.isqrt(features)
    # Fixed margins, in inches: every row is alike, and a layout engine would draw the figure twice.
    if side * side == features and side > 1:
        height = 1.1 * rows + 0.35
        figure = Figure(figsize=(2.9, height), dpi=SMALL_DPI)
        figure.subplots_adjust(left=0.05, right=0.8, bottom=0.05 / height, top=1 - 0.3 / height, wspace=0.08,
                               hspace=0.08)
        _draw_images(figure, original.reshape(rows, side, side), reconstructed.reshape(rows, side, side), errors)
    else:
        width, height = min(max(4.5, 0.25 * features), 12.0), 1.2 * rows + 0.6
        figure = Figure(figsize=(width, height), dpi=SMALL_DPI)
        figure.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.45 / height,
                               top=1 - 0.3 / height, hspace=0.4)
        _draw_features(figure, original, reconstructed, errors)
    figure.savefig(path)


def _draw_images(figure: Figure, original: np.ndarray, reconstructed: np.ndarray, errors: np.ndarray) -> None:
    low, high = float(np.nanmin(original)), float(np.nanmax(original))
    grid = figure.subplots(len(original), 2, squeeze=False)
    for row, (left, right) in enumerate(grid):
        left.imshow(original[row], cmap="gray_r", vmin=low, vmax=high)
        right.imshow(reconstructed[row], cmap="gray_r", vmin=low, vmax=high)
        right.yaxis.set_label_position("right")
        right.set_ylabel(f"MSE\n{errors[row]:.3g}", fontsize="small", rotation=0, ha="left", va="center")
        for axes in (left, right):
            axes.set_xticks([])
            axes.set_yticks([])
    grid[0, 0].set_title("original", fontsize="small")
    grid[0, 1].set_title("reconstructed", fontsize="small")


def _draw_features(figure: Figure, original: np.ndarray, reconstructed: np.ndarray, errors: np.ndarray) -> None:
    positions = np.arange(original.shape[1])
    bars = original.shape[1] <= 64  # past that, bars merge into a block
    grid = figure.subplots(len(original), 1, squeeze=False, sharex=True)[:, 0]
    for row, axes in enumerate(grid):
        if bars:
            axes.bar(positions, original[row], color="0.75", label="original")
        else:
            axes.plot(positions, original[row], color="0.55", label="original")
        axes.plot(positions, reconstructed[row], color="C3", marker="." if bars else "", label="reconstructed")
        axes.set_title(f"MSE {errors[row]:.3g}", fontsize="small", loc="right", pad=2)
        axes.tick_params(labelsize="small")
    grid[0].legend(fontsize="x-small", loc="upper left")
    grid[-1].set_xlabel("feature")


def draw_or_warn(draw: Callable[[], object]) -> None:
    """Runs ``draw``; a plot that fails is logged as a warning and skipped: plots must not cost a study its
    results. Optuna's own notes while it draws (``Param x unique value length is less than 2``) are not shown."""
    try:
        with optuna_says_only(logging.ERROR):
            draw()
    except Exception as error:  # noqa: BLE001
        logging.getLogger("mltune").warning("mltune: a plot failed and was skipped: %s: %s",
                                            type(error).__name__, error)


@contextmanager
def optuna_says_only(level: int) -> Iterator[None]:
    """Optuna's log shows records of ``level`` and above inside the block (its level is restored after)."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, before))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)
