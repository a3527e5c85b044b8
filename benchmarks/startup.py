"""Start-up: how fast ``mltune --help`` answers, and how long ``mltune tune`` takes to start its first trial.

    python -m benchmarks.startup [--smoke] [--plots DIR]

Everything runs as a subprocess, the way a user runs it, and is timed from this process (wall clock):

* ``python -c pass`` (the interpreter's own floor), ``python -m mltune --help`` and the ``mltune`` console script
  with ``--help``, median of 5 runs each. ``mltune --help`` should answer in well under a second: the CLI imports
  MLflow, Optuna and TensorFlow only inside its commands. ``python -X importtime -m mltune --help`` tells which
  modules it did import.
* ``python -m mltune tune recipes/digits_mlp.yaml --n-trials 1`` in an empty directory with a new SQLite tracking
  store and a new journal file, then once more in the same directory with another ``--study-name`` (what a user
  sees on a second study, the store and journal already there), median of 3 runs each. The trial's start is the
  ``datetime_start`` Optuna recorded for it in the journal (local time, compared with ``datetime.datetime.now()``
  taken just before the process is launched); its end is ``datetime_complete``; what follows, until the process
  exits, is the study's wrap-up (summary, plots, the best trial's model).
* Where the start-up goes: the import time of the heavy libraries, each in a fresh interpreter (they overlap:
  Keras imports TensorFlow, ``mltune.flows.tune`` imports MLflow and Optuna), and the time MLflow takes to create a new
  SQLite tracking store (it runs its schema migrations), median of 3 runs each.

``--smoke`` runs everything once (and the tune command with ``--set search.epochs=1``), only to check that the
benchmark works; ``--plots`` is accepted for the suite's sake (this section draws nothing).
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Section, machine, scratch, section_main, table

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "digits_mlp.yaml"
HEAVY = ("tensorflow", "keras", "mlflow", "optuna", "sklearn", "pandas", "numpy")
IMPORT_ONE = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"
NEW_STORE = ("import sys, time, mlflow; t = time.perf_counter(); "
             "mlflow.MlflowClient(sys.argv[1]).search_experiments(); print(time.perf_counter() - t)")


def wall(command: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Seconds from launching ``command`` to its exit; it must succeed."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def printed(command: Sequence[str]) -> float:
    """The number a Python snippet prints (a time it measured itself)."""
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def console_script() -> str | None:
    """The ``mltune`` console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "mltune"
    return str(beside) if beside.exists() else shutil.which("mltune")


def median_range(values: Sequence[float], digits: int = 2) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def help_imports() -> tuple[float, list[tuple[str, float]], list[str]]:
    """What ``python -m mltune --help`` imports: ``mltune.cli``'s cumulative import seconds, its slowest direct
    imports (name, cumulative seconds), and which of :data:`HEAVY` were imported at all."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "mltune", "--help"], check=True,
                          capture_output=True, text=True)
    cli, children, pending, modules = 0.0, [], [], set()
    for line in done.stderr.splitlines():  # a module's own imports are listed before it, indented 2 more
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not found:
            continue
        seconds, depth, name = int(found[1]) / 1e6, len(found[2]), found[3]
        modules.add(name.split(".")[0])
        if depth == 3:
            pending.append((name, seconds))
        elif depth == 1:
            if name == "mltune.cli":
                cli, children = seconds, pending
            pending = []
    return cli, sorted(children, key=lambda item: -item[1])[:4], [m for m in HEAVY if m in modules]


def tune_twice(*, smoke: bool) -> list[tuple[float, float, float]]:
    """``mltune tune --n-trials 1`` in a new directory, then again there with another study name (the tracking
    store and journal now exist). For each: seconds from launch to the first trial's start, the trial's seconds,
    and the command's total seconds."""
    import optuna

    from mltune.runtime.storage import open_storage

    found = []
    with scratch() as tmp:
        journal = f"journal:{tmp / 'journal.log'}"
        for study in ("digits_mlp", "second"):
            command = [sys.executable, "-m", "mltune", "tune", str(RECIPE), "--n-trials", "1", "--storage", journal,
                       "--study-name", study, "--quiet", *(["--set", "search.epochs=1"] if smoke else [])]
            launched = datetime.datetime.now()
            total = wall(command, cwd=tmp, env=dict(os.environ))
            first = optuna.load_study(study_name=study, storage=open_storage(journal)).trials[0]
            assert first.datetime_start is not None and first.datetime_complete is not None, first
            found.append(((first.datetime_start - launched).total_seconds(),
                          (first.datetime_complete - first.datetime_start).total_seconds(), total))
    return found


def run(plots: Path, *, smoke: bool) -> Section:
    """Times the commands and returns the section (``plots`` is not used: no figure)."""
    helps, tunes, parts = (1, 1, 1) if smoke else (5, 3, 3)
    python = sys.executable
    commands = {"`python -c pass`": [python, "-c", "pass"],
                "`python -m mltune --help`": [python, "-m", "mltune", "--help"]}
    script = console_script()
    if script:
        commands["`mltune --help` (console script)"] = [script, "--help"]
    help_times = {name: [wall(command) for _ in range(helps)] for name, command in commands.items()}
    cli_seconds, cli_children, heavy = help_imports()

    runs = [tune_twice(smoke=smoke) for _ in range(tunes)]
    new, again = [r[0] for r in runs], [r[1] for r in runs]

    import_times = {f"`import {m}`": [printed([python, "-c", IMPORT_ONE.format(m)]) for _ in range(parts)]
                    for m in ("mltune.cli", "optuna", "mlflow", "tensorflow", "keras", "mltune.flows.tune",
                              "mltune.model.training")}
    with tempfile.TemporaryDirectory() as tmp:
        import_times["MLflow: create a new SQLite tracking store"] = [
            printed([python, "-c", NEW_STORE, f"sqlite:///{Path(tmp) / f'mlflow-{i}.db'}"]) for i in range(parts)]

    def of(n: int) -> str:
        return f"seconds (median of {n}, min–max)" if n > 1 else "seconds"

    help_table = table(["command", of(helps)], [[name, median_range(v)] for name, v in help_times.items()])
    heavy_text = f"it imported {', '.join(heavy)}" if heavy else f"it imported none of {', '.join(HEAVY)}"
    children = ", ".join(f"`{name}` {seconds * 1000:.0f} ms" for name, seconds in cli_children)
    epochs = "1 epoch, `--set search.epochs=1`" if smoke else "20 epochs, the recipe's own"

    def column(found: list[tuple[float, float, float]], i: int) -> str:
        return median_range([f[i] for f in found], 1)

    def wrap_up(found: list[tuple[float, float, float]]) -> str:
        return median_range([total - start - trial for start, trial, total in found], 1)

    tune_table = table(["`mltune tune --n-trials 1`", "new tracking store and journal", "both exist already"], [
        ["launch to the first trial's start", column(new, 0), column(again, 0)],
        [f"the trial ({epochs})", column(new, 1), column(again, 1)],
        ["after the trial until exit (summary, plots, best model)", wrap_up(new), wrap_up(again)],
        ["total", column(new, 2), column(again, 2)],
    ])
    parts_table = table(["in a fresh interpreter", of(parts)],
                        [[name, median_range(v)] for name, v in import_times.items()])
    help_median = statistics.median(help_times.get("`mltune --help` (console script)",
                                                   help_times["`python -m mltune --help`"]))
    repeats = f", median of {tunes} (min–max)" if tunes > 1 else ""
    body = "\n\n".join([
        "Wall time of each command as a subprocess, from launch to exit.",
        help_table,
        f"`python -X importtime -m mltune --help`: {heavy_text}; `import mltune.cli` took {cli_seconds * 1000:.0f} "
        f"ms, its slowest imports {children}.",
        "`python -m mltune tune recipes/digits_mlp.yaml --n-trials 1 --storage journal:PATH --quiet` in an empty "
        "directory with a new SQLite tracking store (`MLFLOW_TRACKING_URI=sqlite:///...`), then once more in the "
        f"same directory with `--study-name second`; the trial's start and end as Optuna recorded them{repeats}.",
        tune_table,
        "Where the start-up goes: import times (they overlap: Keras imports TensorFlow, `mltune.flows.tune` imports "
        "MLflow and Optuna, `mltune.model.training` imports Keras) and MLflow's creation of a new tracking store (its "
        "schema migrations), which a user pays once per store.",
        parts_table,
        f"Machine: {machine()}.",
    ])
    return Section(title="Start-up", body=body, headline={
        "`mltune --help`": f"{help_median:.2f} s",
        "`mltune tune` to first trial": f"{statistics.median(r[0] for r in new):.1f} s",
    })


def main(argv: list[str] | None = None) -> None:
    section_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
