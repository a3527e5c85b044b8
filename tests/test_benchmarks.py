"""The benchmark suite in its smoke mode, so that it cannot rot: every section runs and the report is written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS, write
from benchmarks.pruning import cost_to_reach, on_tables
from benchmarks.search import METHODS, Outcome, Recorder, _curve, plan, ratio, read_outcomes, split_top, summarize

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
    for method in ("mltune default", "Optuna TPE loop", "KerasTuner BayesianOptimization", "KerasTuner Hyperband",
                   "HistGradientBoosting"):
        assert f"| {method} |" in report
    # The overhead's breakdown saw the trials' store calls (each trial makes them, so none can be 0).
    batch = re.search(r"\| MLflow: params, epoch metrics, tags \(one log_batch\) \| ([0-9.]+) \|", report)
    assert batch and float(batch.group(1)) > 0, report
    for image in ("search_digits_tiny.png", "memory.png"):
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


def test_search_methods_take_turns_and_compare_by_error_ratio(tmp_path: Path) -> None:
    methods = [METHODS[key] for key in ("mltune", "optuna", "hgb")]
    jobs = plan(["a", "b"], 2, methods)
    assert [(t, s, m.key) for t, s, m in jobs[:6]] == [
        ("a", 0, "mltune"), ("a", 0, "optuna"), ("a", 0, "hgb"),
        ("a", 1, "optuna"), ("a", 1, "hgb"), ("a", 1, "mltune")]
    assert sorted((t, s, m.key) for t, s, m in jobs) == sorted((t, s, m.key) for t in "ab" for s in range(2)
                                                            for m in methods)
    assert ratio([0.04, 0.06], [0.05, 0.05]) == pytest.approx(1.0) and ratio([3.0], [2.0]) == 1.5
    assert split_top("sampler={name: gp, n_startup_trials: 5},search.dropout=0.1") == [
        "sampler={name: gp, n_startup_trials: 5}", "search.dropout=0.1"]
    # Outcomes are kept line by line as they finish; the report reads them back, mltune's default first.
    record = Recorder(tmp_path / "o.jsonl", {"budget": 5, "seeds": 1, "methods": ["mltune default", "Optuna TPE loop"],
                                             "tables": {"t": "a table"}})
    for method, accuracy in (("Optuna TPE loop", 0.90), ("mltune default", 0.95)):
        record.add(Outcome(method, "t", 0, 5.0, 3, 3, 30, accuracy, accuracy, task="classification"))
    header, outcomes = read_outcomes(tmp_path / "o.jsonl")
    section = summarize(outcomes, tmp_path, header)
    assert "| mltune default | 0.9500 | 1 |" in section.body and "| Optuna TPE loop | 0.9000 | 2.00 |" in section.body
    assert "mltune default is ahead of **Optuna TPE loop** on 1 of 1 tables." in section.body


@pytest.mark.parametrize(("module", "args", "message"), [
    ("benchmarks.search", ["--budget", "0"], "argument --budget: must be above 0, but got 0"),
    ("benchmarks.search", ["--tables", "digits,iris"], "--tables: unknown iris; choose from digits, breast_cancer"),
    ("benchmarks.search", ["--methods", "mltune,sklearn"], "--methods: unknown sklearn; choose from mltune, optuna"),
    ("benchmarks.search", ["--variant", "small"], "--variant: must be NAME:KEY=VALUE[,KEY=VALUE...], but got 'small'"),
    ("benchmarks.search", ["--set", "search.dropout={type: float, low: 0.5, high: 0.1}"],
     "search.dropout: low must be < high, but got low=0.5, high=0.1"),
    ("benchmarks.search", ["--variant", "x:search.bogus=3"], "search.bogus: unknown hyperparameter for family 'mlp'"),
    ("benchmarks.search", ["--seeds", "two"], "argument --seeds: must be a whole number of at least 1, but got 'two'"),
    ("benchmarks.pruning", ["--trials", "-3"], "argument --trials: must be a whole number of at least 1, but got '-3'"),
    ("benchmarks.pruning", ["--pruner", "{name: bogus}"],
     "pruner: 'name' must be one of 'none', 'median', 'successive_halving', 'hyperband', 'wilcoxon', but got 'bogus'"),
    ("benchmarks.scaling", ["--rounds", "0"], "argument --rounds: must be a whole number of at least 1, but got '0'"),
    ("benchmarks.scaling", ["--recipe", "missing.yaml"],
     "--recipe: missing.yaml: cannot read the recipe (No such file or directory)"),
    ("benchmarks.pruning", ["--tables", "diabetes,wine"], "argument --tables: unknown table(s) wine; choose from "),
    ("benchmarks.pruning", ["--tables", "diabetes", "--budget", "0"], "argument --budget: "),
    ("benchmarks.pruning", ["--tables", "diabetes", "--pruner", "{name: wilcoxon}"],
     "--pruner: --set pruner={name: wilcoxon}: pruner.name: 'wilcoxon' compares trials fold by fold and needs "
     "`split.folds` >= 2, but got folds=None"),
    ("benchmarks.pruning", ["--pruner", "median", "--pruner", "none"],
     "argument --pruner: give it once without --tables"),
    ("benchmarks.holdout", ["--target", "quality"], "arguments --csv and --target are required (or --extract WHEEL)"),
    ("benchmarks.holdout", ["--csv", "missing.csv", "--target", "y"], "argument --csv: no such file: missing.csv"),
    ("benchmarks.holdout", ["--csv", "x.csv", "--target", "y", "--seeds", "0"], "argument --seeds: "),
    ("benchmarks.public_tables", ["--tables", "0"], "argument --tables: must be a whole number of at least 1"),
    ("benchmarks.public_tables", ["--timeout", "-1"], "argument --timeout: "),
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


def test_pruning_on_tables_times_the_pruned_study_to_the_unpruned_best() -> None:
    def outcome(method: str, table: str, task: str, curve: list[tuple[float, float]]) -> Outcome:
        return Outcome(method, table, 0, seconds=curve[-1][0], trials=len(curve), complete=len(curve) - 1,
                       epochs=10, val=curve[-1][1], test=0.0, curve=curve, task=task)

    rows, ratios = on_tables([
        outcome("mltune unpruned", "a", "classification", [(10.0, 0.90), (40.0, 0.95), (60.0, 0.95)]),
        outcome("mltune default", "a", "classification", [(8.0, 0.90), (20.0, 0.96)]),
        outcome("mltune unpruned", "b", "regression", [(10.0, 5.0), (50.0, 3.0)]),
        outcome("mltune default", "b", "regression", [(12.0, 4.0), (60.0, 3.5)]),
    ], "mltune default", "mltune unpruned")
    assert ratios == [0.5]  # a: the unpruned best (0.95) came at 40 s, the pruned study beat it at 20 s
    assert rows[0][-2:] == ["20 s", "0.50"]
    assert rows[1][-2:] == ["not reached (best 3.5000)", "-"]  # b: lower is better, 3.5 never reached 3.0


def test_rewriting_the_report_keeps_the_sections_written_by_hand(tmp_path: Path) -> None:
    plots, out = tmp_path / "benchmarks", tmp_path / "benchmarks.md"
    plots.mkdir()
    saved = {"title": "Overhead", "body": "new figures", "headline": {"overhead": "1.01x"}, "date": "today",
             "command": "python -m benchmarks", "seconds": 1.0}
    (plots / "overhead.json").write_text(json.dumps(saved))
    out.write_text("# Benchmarks\n\n## Summary\n\nold\n\n## Overhead\n\nold figures\n\n"
                   "## An ablation\n\nby hand\n")
    write(out, plots, smoke=False)
    report = out.read_text()
    assert "new figures" in report and "old figures" not in report
    assert report.count("## Overhead") == 1 and report.count("## Summary") == 1
    assert report.endswith("## An ablation\n\nby hand\n")
