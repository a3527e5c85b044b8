"""A probe of malformed input through the real command line: recipe fields, data files and options.

Each case runs ``python -m mltune ...`` in a fresh temporary directory and records its exit code, whether it
printed a traceback, whether its message names the field (or flag) and the bad value, whether it wrote anything
in the directory (``mlflow.db``, ``mlruns/``, a journal, lock files), and whether a password from a URL reached
the output. Nothing should train: a case that gets past validation trains one trial of one epoch on a tiny table.

    python -m tests.probe.bad_inputs              # every case, a Markdown table on stdout
    python -m tests.probe.bad_inputs --fast       # the fast subset the test suite runs
    python -m tests.probe.bad_inputs --only NAME  # some cases, by name (comma-separated)

Cases that another item of issue 16 fixes carry that item in ``lane``.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pr0be-s3cret-pw"
"""A fake password put in every URL a case gives; it must never be printed."""
TRACEBACK = "Traceback (most recent call last)"
INPUTS = frozenset({"recipe.yaml", "data.csv", "data.parquet", "classes.csv", "images.npz", "data.txt"})


def _table(n: int = 60) -> str:
    rows = ["a,b,colour,y"]
    rows += [f"{i * 0.5},{i % 7},{'red' if i % 3 else 'blue'},{(i * 37) % 101 / 4}" for i in range(n)]
    return "\n".join(rows) + "\n"


def _classes(n_classes: int, rows_each: int) -> str:
    rows = ["a,b,y"]
    rows += [f"{i * 0.5},{i % 7},c{i // rows_each}" for i in range(n_classes * rows_each)]
    return "\n".join(rows) + "\n"


BASE: dict[str, Any] = {
    "name": "probe",
    "task": "regression",
    "data": {"path": "data.csv", "target": "y"},
    "search": {"epochs": 1, "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
               "batch_size": 16, "n_layers": {"type": "int", "low": 1, "high": 2},
               "units": {"type": "int", "low": 4, "high": 8, "per_layer": "n_layers"},
               "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
               "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}},
    "sampler": "random",
    "pruner": "none",
    "budget": {"n_trials": 1},
    "promotion": {"model_name": "probe", "baseline": False},
}


@dataclass(frozen=True)
class Case:
    """One malformed input.

    Attributes:
        name: a short id.
        args: the command line after ``mltune``.
        names: what the message must name (a field path or a flag).
        value: the bad value the message must show (None: nothing to show, e.g. a missing field).
        files: files to make in the directory first (text or bytes).
        code: the exit code the README documents for it.
        lane: the item of issue 16 that fixes it, when another engineer's.
        env: environment variables to set.
        fast: part of the subset the test suite runs.
    """

    name: str
    args: tuple[str, ...]
    names: str
    value: str | None
    files: dict[str, str | bytes] = field(default_factory=dict)
    code: int = 2
    lane: str = ""
    env: dict[str, str] = field(default_factory=dict)
    fast: bool = False


def recipe(change: Callable[[dict[str, Any]], Any] | None = None, *, data: str | None = None) -> dict[str, str | bytes]:
    """The base recipe (changed) and its table, as files."""
    raw = copy.deepcopy(BASE)
    if change is not None:
        raw = change(raw) or raw
    return {"recipe.yaml": yaml.safe_dump(raw, sort_keys=False), "data.csv": _table() if data is None else data}


def put(dotted: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(raw: dict[str, Any]) -> None:
        *sections, last = dotted.split(".")
        node = raw
        for part in sections:
            node = node.setdefault(part, {})
        node[last] = value

    return change


def drop(dotted: str) -> Callable[[dict[str, Any]], Any]:
    def change(raw: dict[str, Any]) -> None:
        *sections, last = dotted.split(".")
        node = raw
        for part in sections:
            node = node[part]
        del node[last]

    return change


def both(*changes: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    def change(raw: dict[str, Any]) -> None:
        for one in changes:
            one(raw)

    return change


def classification(raw: dict[str, Any]) -> None:
    raw["task"] = "classification"
    raw["data"] = {"path": "classes.csv", "target": "y"}


LR = "search.learning_rate"
PG = f"postgresql://probe:{PASSWORD}@127.0.0.1:1/probe"
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
TUNE = ("tune", "recipe.yaml", "--quiet")


def _recipe_cases() -> list[Case]:
    def bad(name: str, change: Callable[[dict[str, Any]], Any], names: str, value: str | None, *,
            fast: bool = False, extra_files: dict[str, str | bytes] | None = None) -> Case:
        return Case(name, TUNE, names, value, {**recipe(change), **(extra_files or {})}, fast=fast)

    return [
        bad("unknown-top-level-key", put("colour", "red"), "colour", "unknown field", fast=True),
        bad("unknown-nested-key", put("split.fold", 3), "split.fold", "unknown field"),
        bad("seed-not-an-int", put("seed", "abc"), "seed", "'abc'", fast=True),
        bad("seed-a-float", put("seed", 1.5), "seed", "1.5"),
        bad("unknown-task", put("task", "ranking"), "task", "'ranking'"),
        bad("no-data-section", drop("data"), "data", "missing"),
        bad("dataset-and-path", put("data.dataset", "digits"), "data", "dataset='digits'"),
        bad("path-not-a-table", put("data.path", "data.txt"), "data", "'data.txt'"),
        bad("unknown-dataset", lambda raw: raw.update(data={"dataset": "mnist"}), "data.dataset", "'mnist'"),
        bad("class-weights-unknown", put("data.class_weights", "heavy"), "data.class_weights", "'heavy'"),
        bad("column-kind-unknown", put("data.columns", {"colour": {"kind": "weird"}}), "data.columns.colour",
            "'weird'"),
        bad("ordinal-without-order", put("data.columns", {"colour": {"kind": "ordinal"}}), "data.columns.colour",
            "order"),
        bad("feature-not-a-column", put("data.features", ["a", "nope"]), "data.features", "'nope'"),
        bad("split-test-zero", put("split.test", 0), "split.test", "0"),
        bad("split-test-above-one", put("split.test", 1.5), "split.test", "1.5"),
        bad("split-validation-negative", put("split.validation", -0.1), "split.validation", "-0.1"),
        bad("split-one-fold", put("split.folds", 1), "split.folds", "1"),
        bad("split-no-training-rows", put("split", {"test": 0.9, "validation": 0.9}), "split",
            "validation=0.9", fast=True),
        bad("split-stratify-not-bool", put("split.stratify", "maybe"), "split.stratify", "'maybe'"),
        bad("unknown-family", put("model.family", "transformer"), "model.family", "'transformer'"),
        bad("family-cannot-do-task", put("model.family", "autoencoder"), "model.family", "'autoencoder'"),
        bad("unknown-metric", put("objective.metric", "auc"), "objective.metric", "'auc'"),
        bad("metric-wrong-task", put("objective.metric", "accuracy"), "objective.metric", "'accuracy'"),
        bad("direction-unknown", put("objective.direction", "max"), "objective.direction", "'max'"),
        bad("unknown-hyperparameter", put("search.colour_depth", 3), "search.colour_depth", "colour_depth"),
        bad("log-low-zero", put(f"{LR}.low", 0), LR, "low=0"),
        bad("low-above-high", put(f"{LR}.low", 0.5), LR, "low=0.5"),
        bad("param-type-unknown", put(f"{LR}.type", "double"), LR, "'double'"),
        bad("param-without-type", put(LR, {"low": 0.1, "high": 1}), LR, "type"),
        bad("no-choices", put("search.optimizer", {"type": "categorical", "choices": []}), "search.optimizer",
            "choices"),
        bad("epochs-zero", put("search.epochs", 0), "search.epochs", "value=0", fast=True),
        bad("epochs-text", put("search.epochs", "ten"), "search.epochs", "'ten'"),
        bad("when-before-declared", lambda raw: raw.update(search={"momentum": raw["search"].pop("momentum"),
                                                                    **raw["search"]}),
            "search.momentum.when", "'optimizer'"),
        bad("per-layer-wrong-count", put("search.units.per_layer", "layers"), "search.units.per_layer",
            "'layers'"),
        bad("int-step-zero", put("search.n_layers.step", 0), "search.n_layers", "step=0"),
        bad("unknown-sampler", put("sampler", "bayes"), "sampler", "'bayes'"),
        bad("unknown-pruner", put("pruner", "sometimes"), "pruner", "'sometimes'"),
        bad("sampler-negative-startup", put("sampler", {"name": "tpe", "n_startup_trials": -1}),
            "sampler.n_startup_trials", "-1"),
        bad("hyperband-factor-one", put("pruner", {"name": "hyperband", "reduction_factor": 1}),
            "pruner.reduction_factor", "1"),
        bad("grid-continuous-float", put("sampler", "grid"), LR, "grid"),
        bad("n-trials-zero", put("budget.n_trials", 0), "budget.n_trials", "0"),
        bad("no-budget", put("budget", {"n_trials": None}), "budget", None),
        bad("timeout-negative", put("budget.timeout", -1), "budget.timeout", "-1"),
        bad("margin-negative", put("promotion.margin", -1), "promotion.margin", "-1"),
        bad("model-name-slash", put("promotion.model_name", "team/model"), "promotion.model_name", "'team/model'",
            fast=True),
        bad("model-name-colon-from-name", both(drop("promotion.model_name"), put("name", "probe:v2")), "name",
            "'probe:v2'"),
        bad("name-over-mlflow-limit", put("name", "n" * 600), "name", "600"),
        bad("study-name-too-long", put("study_name", "s" * 300), "study_name", "300"),
        bad("warm-start-negative", put("retune.warm_start_best", -1), "retune.warm_start_best", "-1"),
        Case("duplicate-key", TUNE, "seed", "line 3",
             {"recipe.yaml": "name: probe\nseed: 5\nseed: 7\ndata: {path: data.csv, target: y}\ntask: regression\n",
              "data.csv": _table()}, fast=True),
        Case("yaml-syntax-error", TUNE, "recipe.yaml", "not valid YAML",
             {"recipe.yaml": "name: probe\nsearch: {epochs: 2\n", "data.csv": _table()}),
        Case("recipe-a-list", TUNE, "recipe.yaml", "list", {"recipe.yaml": "- 1\n- 2\n"}),
        Case("recipe-missing", ("tune", "nope.yaml"), "nope.yaml", "No such file", {}, fast=True),
        Case("recipe-a-directory", ("tune", "."), "RECIPE", "'.'", {}),
    ]


def _data_cases() -> list[Case]:
    def bad(name: str, files: dict[str, str | bytes], names: str, value: str | None, *,
            change: Callable[[dict[str, Any]], Any] | None = None, fast: bool = False) -> Case:
        return Case(name, TUNE, names, value, {**recipe(change), **files}, fast=fast)

    return [
        Case("data-file-missing", TUNE, "data.path", "missing.csv", {"recipe.yaml": recipe(
            put("data.path", "missing.csv"))["recipe.yaml"]}, fast=True),
        bad("data-file-empty", {"data.csv": ""}, "data.path", "data.csv"),
        bad("header-only", {"data.csv": "a,b,colour,y\n"}, "data.path", "no rows"),
        bad("target-column-missing", {}, "data.target", "'price'", change=put("data.target", "price")),
        bad("target-all-empty", {"data.csv": "a,b,y\n1,2,\n3,4,\n5,6,\n"}, "data.target", "'y'"),
        bad("one-class", {"classes.csv": _classes(1, 40)}, "data.target", "'c0'", change=classification),
        bad("regression-target-text", {}, "data.target", "'colour'", change=put("data.target", "colour")),
        bad("unreadable-parquet", {"data.parquet": b"PAR1 this is not parquet"}, "data.path", "data.parquet",
            change=put("data.path", "data.parquet")),
        bad("wrong-separator", {"data.csv": _table().replace(",", ";")}, "data.separator", "';'"),
        bad("duplicate-columns", {"data.csv": "a,a,y\n1,2,3\n4,5,6\n"}, "data.path", "['a']"),
        bad("target-infinite", {"data.csv": _table() + "1.0,1,red,inf\n"}, "data.target", "inf"),
        bad("classes-of-two-rows-stratified", {"classes.csv": _classes(400, 2)}, "split.stratify", "'y'",
            change=classification),
        bad("classes-of-two-rows-unstratified", {"classes.csv": _classes(400, 2)}, "data.target", "400",
            change=both(classification, put("split.stratify", False)), fast=True),
        bad("class-of-one-row", {"classes.csv": _classes(3, 20) + "9,9,lonely\n"}, "split.stratify", "'lonely'",
            change=classification),
        bad("too-few-rows", {"data.csv": _table(4)}, "split", "4"),
        bad("no-usable-feature", {"data.csv": "a,y\n" + "".join(f"1,{i}\n" for i in range(30))}, "data.features",
            "'a'"),
        bad("ordinal-value-outside-order", {}, "data.columns.colour.order", "'red'",
            change=put("data.columns", {"colour": {"kind": "ordinal", "order": ["blue"]}})),
        bad("numeric-kind-on-text", {}, "data.columns.colour", "'blue'",
            change=put("data.columns", {"colour": {"kind": "numeric"}})),
        bad("csv-not-utf8", {"data.csv": b"a,b,y\n\xff\xfe\x00,1,2\n" * 3}, "data.path", "data.csv"),
        bad("npz-without-y", {"images.npz": _npz()}, "data.path", "images.npz",
            change=both(classification, put("data.path", "images.npz"))),
        Case("infer-without-target", ("tune", "--data", "data.csv"), "--target", "None", {"data.csv": _table()}),
        Case("infer-target-missing", ("tune", "--data", "data.csv", "--target", "nope"), "--target", "'nope'",
             {"data.csv": _table()}),
    ]


def _npz() -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((4, 2, 2)))
    return buffer.getvalue()


def _command_cases() -> list[Case]:
    files = recipe()
    return [
        Case("tune-n-trials-text", (*TUNE, "--n-trials", "many"), "--n-trials", "'many'", files, fast=True),
        Case("tune-n-trials-zero", (*TUNE, "--n-trials", "0"), "--n-trials", "0", files),
        Case("tune-timeout-negative", (*TUNE, "--timeout", "-5"), "--timeout", "-5", files),
        Case("tune-workers-zero", (*TUNE, "--workers", "0"), "--workers", "0", files),
        Case("tune-storage-scheme", (*TUNE, "--storage", "ftp://host/x"), "--storage", "ftp://host/x", files,
             fast=True),
        Case("tune-storage-journal-no-dir", (*TUNE, "--storage", "journal:/nonexistent/dir/j.log"), "--storage",
             "/nonexistent/dir/j.log", files, lane="item 6"),
        Case("tune-storage-sqlite-proc", (*TUNE, "--storage", "sqlite:////proc/x/optuna.db"), "--storage",
             "/proc/x/optuna.db", files, lane="item 6"),
        Case("tune-storage-pg-unreachable", (*TUNE, "--storage", PG), "--storage", "127.0.0.1:1", files, code=4,
             lane="item 5"),
        Case("tune-tracking-unreachable", TUNE, "127.0.0.1:1", None, files, code=4, lane="item 5",
             env={"MLFLOW_TRACKING_URI": f"http://probe:{PASSWORD}@127.0.0.1:1", **NO_RETRIES}),
        Case("tune-output-unknown", (*TUNE, "--output", "xml"), "--output", "'xml'", files),
        Case("tune-unknown-flag", (*TUNE, "--n-trails", "3"), "--n-trails", None, files),
        Case("tune-set-without-equals", (*TUNE, "--set", "seed"), "--set", "'seed'", files),
        Case("tune-set-misspelt-field", (*TUNE, "--set", "data.targt=x"), "--set data.targt=x", "data.targt",
             files, fast=True),
        Case("tune-set-not-yaml", (*TUNE, "--set", "seed=[1"), "--set", "seed=[1", files),
        Case("tune-study-name-too-long", (*TUNE, "--study-name", "s" * 300), "--study-name", "300", files),
        Case("tune-experiment-name-too-long", (*TUNE, "--experiment-name", "e" * 600), "--experiment-name", "600",
             files),
        Case("tune-data-not-a-table", (*TUNE, "--data", "data.txt"), "--data", "data.txt", files),
        Case("worker-no-study-name", ("worker",), "--study-name", None, {}),
        Case("worker-no-such-study", ("worker", "--study-name", "nope"), "nope", None, {}, lane="item 15"),
        Case("worker-threads-text", ("worker", "--study-name", "x", "--threads", "many"), "--threads", "'many'",
             {}),
        Case("worker-n-trials-text", ("worker", "--study-name", "x", "--n-trials", "x"), "--n-trials", "'x'", {},
             fast=True),
        Case("worker-storage-pg-unreachable", ("worker", "--study-name", "x", "--storage", PG), "--storage",
             "127.0.0.1:1", {}, code=4, lane="item 5"),
        Case("promote-nothing-given", ("promote",), "--study-name", None, {}, fast=True),
        Case("promote-study-and-run", ("promote", "--study-name", "a", "--run-id", "b"), "--run-id", "'b'", {}),
        Case("promote-no-such-run", ("promote", "--run-id", "nonexistent"), "MLFLOW_TRACKING_URI", "mlflow.db", {},
             lane="items 10, 15"),  # no tracking database here: that is the answer, and none is created
        Case("promote-no-such-study", ("promote", "--study-name", "nope"), "nope", "optuna-journal.log", {},
             lane="item 15"),
        Case("promote-recipe-missing", ("promote", "--recipe", "missing.yaml"), "missing.yaml", "No such file",
             {}),
        Case("promote-tracking-password", ("promote", "--run-id", "nonexistent"), "MLFLOW_TRACKING_URI",
             "127.0.0.1:1", {}, code=4,
             lane="items 5, 10", env={"MLFLOW_TRACKING_URI": f"http://probe:{PASSWORD}@127.0.0.1:1", **NO_RETRIES}),
        Case("rollback-no-model-name", ("rollback",), "MODEL_NAME", None, {}),
        Case("rollback-no-such-model", ("rollback", "nope"), "MLFLOW_TRACKING_URI", "mlflow.db", {},
             lane="item 15"),  # no tracking database here, so no model either (exit 6 needs a registry)
        Case("rollback-output-unknown", ("rollback", "m", "--output", "xml"), "--output", "'xml'", {}),
        Case("rollback-tracking-unreachable", ("rollback", "m"), "127.0.0.1:1", None, {}, code=4,
             lane="item 9", env={"MLFLOW_TRACKING_URI": f"http://probe:{PASSWORD}@127.0.0.1:1", **NO_RETRIES}),
        Case("train-recipe-missing", ("train", "missing.yaml"), "missing.yaml", "No such file", {}),
        Case("train-from-unknown-run", ("train", "recipe.yaml", "--from-run", "deadbeef"), "MLFLOW_TRACKING_URI",
             "mlflow.db", files, lane="item 7"),  # no tracking database here, so no such run (and none is made)
        Case("train-set-misspelt", ("train", "recipe.yaml", "--set", "serach.epochs=1"), "--set serach.epochs=1",
             "serach", files),
        Case("train-sets-bad", ("train", "recipe.yaml", "--sets", "seed=abc"), "seed", "'abc'", files),
        Case("retune-skip-not-bool", ("retune", "recipe.yaml", "--skip-if-unchanged", "maybe"),
             "--skip-if-unchanged", "'maybe'", files),
        Case("retune-n-trials-text", ("retune", "recipe.yaml", "--n-trials", "x"), "--n-trials", "'x'", files),
        Case("retune-set-bad-seed", ("retune", "recipe.yaml", "--set", "seed=abc"), "--set seed=abc", "'abc'",
             files, fast=True),
        Case("retune-json-bad-recipe", ("retune", "recipe.yaml", "--output", "json", "--set", "colour=1"),
             "colour", "unknown field", files),
        Case("studies-storage-scheme", ("studies", "--storage", "ftp://x"), "--storage", "ftp://x", {}),
        Case("studies-storage-journal-no-dir", ("studies", "--storage", "journal:/nonexistent/j.log"),
             "--storage", "/nonexistent/j.log", {}, lane="item 6"),
        Case("studies-storage-pg-unreachable", ("studies", "--storage", PG), "--storage", "127.0.0.1:1", {},
             code=4, lane="item 5"),
        Case("report-no-study-name", ("report",), "--study-name", None, {}),
        Case("report-top-negative", ("report", "--study-name", "x", "--top", "-1"), "--top", "-1", {}),
        Case("report-no-such-study", ("report", "--study-name", "nope"), "--storage", "optuna-journal.log", {},
             lane="item 15"),
        Case("unknown-command", ("tunee",), "tunee", None, {}),
    ]


CASES: list[Case] = [*_recipe_cases(), *_data_cases(), *_command_cases()]


@dataclass(frozen=True)
class Outcome:
    case: Case
    code: int | None
    traceback: bool
    names_field: bool
    names_value: bool
    written: tuple[str, ...]
    password: bool
    seconds: float
    message: str

    @property
    def clean(self) -> bool:
        return (self.code == self.case.code and not self.traceback and self.names_field and self.names_value
                and not self.written and not self.password)


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file() or p.is_dir()}


def run_case(case: Case, *, timeout: float = 180) -> Outcome:
    """Runs one case in a fresh directory through ``python -m mltune``."""
    with tempfile.TemporaryDirectory(prefix="mltune-probe-") as name:
        directory = Path(name)
        for file, content in case.files.items():
            (directory / file).write_bytes(content if isinstance(content, bytes) else content.encode())
        before = _files(directory)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTUNE_"))}
        env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
                   **case.env)
        started = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "mltune", *case.args], cwd=directory, env=env,
                                  capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            code: int | None = done.returncode
            output = done.stdout + done.stderr
        except subprocess.TimeoutExpired as expired:
            code = None
            output = f"{_text(expired.stdout)}{_text(expired.stderr)}\n(timed out after {timeout:.0f}s)"
        seconds = time.perf_counter() - started
        after = _files(directory)
        written = tuple(sorted(p for p, stamp in after.items() if before.get(p) != stamp and p not in INPUTS))
    return Outcome(case=case, code=code, traceback=TRACEBACK in output, names_field=case.names in output,
                   names_value=case.value is None or case.value in output, written=written,
                   password=PASSWORD in output, seconds=seconds, message=_message(output))


def _text(data: Any) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _message(output: str) -> str:
    """The line that explains the refusal (mltune's or click's), shortened for a table."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith(("mltune: error", "Error:"))), lines[-1] if lines
                  else "")
    chosen = chosen.replace("|", "\\|")
    return chosen if len(chosen) <= 160 else chosen[:157] + "..."


def table(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as a Markdown table, then a count."""
    yes = {True: "yes", False: "no"}
    rows = ["| # | case | command | exit (expected) | traceback | names field | names value | written | password "
            "| s | verdict | message |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, o in enumerate(outcomes, 1):
        command = " ".join(a if len(a) <= 30 else f"{a[:12]}…({len(a)})" for a in o.case.args)
        verdict = "ok" if o.clean else f"FAIL ({o.case.lane})" if o.case.lane else "FAIL"
        rows.append(f"| {i} | {o.case.name} | `{command}` | {o.code} ({o.case.code}) | {yes[o.traceback]} | "
                    f"{yes[o.names_field]} | {yes[o.names_value]} | {', '.join(o.written) or '-'} | "
                    f"{yes[o.password]} | {o.seconds:.1f} | {verdict} | {o.message} |")
    clean = sum(o.clean for o in outcomes)
    others = sum(not o.clean and bool(o.case.lane) for o in outcomes)
    rows.append("")
    rows.append(f"{clean} of {len(outcomes)} clean; {others} not clean and left to another item of issue 16; "
                f"{len(outcomes) - clean - others} not clean in no other item.")
    return "\n".join(rows)


FAST = [case for case in CASES if case.fast]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="only the subset the test suite runs")
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args(argv)
    cases = FAST if args.fast else CASES
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    outcomes = []
    for case in cases:
        outcomes.append(run_case(case))
        print(f"{case.name}: {outcomes[-1].code}", file=sys.stderr, flush=True)
    print(table(outcomes))
    return 0 if all(o.clean or o.case.lane for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
