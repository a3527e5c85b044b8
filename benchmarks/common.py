"""What every benchmark section shares: its result, the machine it ran on, and a throw-away tracking store."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

LIBRARIES = ("mltune", "mlflow", "optuna", "keras", "tensorflow", "keras-tuner", "scikit-learn", "numpy")


@dataclass
class Section:
    """One part of ``docs/benchmarks.md``.

    Attributes:
        title: the section's heading.
        body: Markdown: how it was measured, tables, and images as ``![...](benchmarks/<name>.png)`` (relative to
            ``docs/``; the PNG files are written into the ``plots`` directory handed to the section).
        headline: the figures the summary table at the top repeats, e.g. ``{"overhead": "1.02x (target <= 1.03)"}``.
    """

    title: str
    body: str
    headline: dict[str, str] = field(default_factory=dict)


def machine() -> str:
    """One line naming the machine, its cores and the library versions."""
    versions = []
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; " + ", ".join(versions))


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temporary working directory with its own MLflow tracking store (SQLite), removed afterwards."""
    cwd, uri = os.getcwd(), os.environ.get("MLFLOW_TRACKING_URI")
    with tempfile.TemporaryDirectory(prefix="mltune-bench-") as tmp:
        os.chdir(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        try:
            yield Path(tmp)
        finally:
            os.chdir(cwd)
            if uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = uri


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """``mean ± sd`` (sd left out for a single value)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def positive(text: str) -> float:
    """An argparse type: a number above zero (a budget in seconds), or a usage error naming the value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number above 0, but got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, but got {text}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1 (trials, seeds), or a usage error naming the value."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, but got {text!r}")
    return int(text)


def check_recipe(parser: argparse.ArgumentParser, option: str, path: str | Path, overrides: Sequence[str] = ()) -> None:
    """Loads the recipe a benchmark will run, or ends with a usage error (exit 2) naming the option, before anything
    runs: the recipe's own message says which key, which rule and which value."""
    from mltune.config.recipe import load_recipe
    from mltune.errors import ConfigError

    try:
        load_recipe(str(path), list(overrides))
    except ConfigError as error:
        parser.error(f"{option}: {error}")


def section_main(run: Callable[..., Section], doc: str | None, argv: list[str] | None) -> None:
    """The command line of a section with no options of its own: ``--smoke`` and ``--plots DIR``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: only checks that the section runs")
    parser.add_argument("--plots", type=Path, help="where its PNG files go (default: a new temporary directory)")
    args = parser.parse_args(argv)
    plots = args.plots or Path(tempfile.mkdtemp(prefix="mltune-plots-"))
    section = run(plots, smoke=args.smoke)
    print(section.body)
    print(f"\nheadline: {section.headline}; plots in {plots}", flush=True)
