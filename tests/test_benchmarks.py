"""The benchmark suite in its smoke mode, so that it cannot rot: every section runs and the report is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS
from benchmarks.pruning import cost_to_reach
from benchmarks.search import Outcome, _curve

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text()
    for title in ("Overhead", "Search quality at equal wall-clock budget", "Pruning", "Memory", "Start-up",
                  "Scaling with local workers", "GPU"):
        assert f"## {title}" in report
    assert "KerasTuner Hyperband" in report and "mltune TPE + Hyperband (default)" in report
    # The overhead's breakdown saw the trials' store calls (each trial makes them, so none can be 0).
    batch = re.search(r"\| MLflow: params, epoch metrics, tags \(one log_batch\) \| ([0-9.]+) \|", report)
    assert batch and float(batch.group(1)) > 0, report
    for image in ("search_digits.png", "memory.png"):
        assert (out.parent / "benchmarks" / image).stat().st_size > 1000


def test_unknown_section_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "overhead,speed", "--out",
                           str(tmp_path / "b.md")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert "--only: unknown section(s) speed" in done.stderr
    assert list(SECTIONS) == ["overhead", "search", "pruning", "memory", "startup", "scaling", "gpu"]


def test_best_so_far_curve_and_cost_to_reach_a_target() -> None:
    log = [(1.0, 2, None), (2.0, 20, 0.90), (3.0, 6, None), (4.5, 20, 0.95), (5.0, 20, 0.93)]
    assert _curve(log, "maximize") == [(2.0, 0.90), (3.0, 0.90), (4.5, 0.95), (5.0, 0.95)]
    assert _curve(log, "minimize")[-1] == (5.0, 0.90)
    outcome = Outcome("m", "digits", 0, seconds=5.0, trials=5, complete=3, epochs=68, val=0.95, test=0.94,
                      curve=_curve(log, "maximize"), trial_log=log)
    assert cost_to_reach(outcome, 0.95) == (48, 4.5)
    assert cost_to_reach(outcome, 0.99) is None


@pytest.mark.parametrize(("module", "args", "message"), [
    ("benchmarks.search", ["--budget", "0"], "argument --budget: must be above 0, but got 0"),
    ("benchmarks.search", ["--seeds", "two"], "argument --seeds: must be a whole number of at least 1, but got 'two'"),
    ("benchmarks.pruning", ["--trials", "-3"], "argument --trials: must be a whole number of at least 1, but got '-3'"),
    ("benchmarks.pruning", ["--pruner", "{name: bogus}"],
     "pruner: 'name' must be one of 'none', 'median', 'successive_halving', 'hyperband', 'wilcoxon', but got 'bogus'"),
    ("benchmarks.scaling", ["--rounds", "0"], "argument --rounds: must be a whole number of at least 1, but got '0'"),
    ("benchmarks.scaling", ["--recipe", "missing.yaml"],
     "--recipe: missing.yaml: cannot read the recipe (No such file or directory)"),
    ("benchmarks.overhead", ["--trials", "1"], "argument --trials: must be at least 2 (the first trial, which pays "
     "TensorFlow's start-up, is left out), but got 1"),
    ("benchmarks.overhead", ["--naive", "12"], "argument --naive: must be from 0 to --trials - 1 (11), but got 12"),
    ("benchmarks.overhead", ["--recipe", "missing.yaml"],
     "--recipe: missing.yaml: cannot read the recipe (No such file or directory)"),
])
def test_bad_benchmark_options_are_usage_errors(module: str, args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr
