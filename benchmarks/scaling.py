"""Trials per minute with 1 and with N local worker processes on the same study recipe.

    python -m benchmarks.scaling [--recipe recipes/digits_mlp.yaml] [--trials 16] [--workers 2]

Runs the recipe (pruning off, so every trial trains all its epochs) as ``mltune tune --workers 1`` and as
``--workers N`` against throw-away tracking and journal storage, each with the same trial count, and prints trials
per minute and the speed-up. Both runs pay the same start-up (each worker process imports TensorFlow), so the
figure is what a user sees end to end.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def trials_per_minute(recipe_path: str, *, trials: int, workers: int,
                      overrides: tuple[str, ...] = ()) -> tuple[float, float, float]:
    """Runs one study with ``workers`` processes.

    Returns trials per minute end to end, the seconds that took, and trials per minute while the workers were
    busy (from the first trial's start to the last trial's end, as Optuna recorded them: start-up and the final
    summary left out).
    """
    import optuna

    from mltune.recipe import load_recipe
    from mltune.storage import open_storage
    from mltune.study import tune

    recipe = load_recipe(recipe_path, ["pruner=none", "sampler=random", *overrides])
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        try:
            started = time.perf_counter()
            storage = f"journal:{Path(tmp) / 'journal.log'}"
            result = tune(recipe, n_trials=trials, storage=storage, study_name=f"scaling-{workers}",
                          workers=workers)
            seconds = time.perf_counter() - started
            done = optuna.load_study(study_name=f"scaling-{workers}", storage=open_storage(storage)).trials
        finally:
            os.chdir(cwd)
    assert result.counts.get("COMPLETE") == trials, result.counts
    ends = [t.datetime_complete for t in done if t.datetime_complete]
    starts = [t.datetime_start for t in done if t.datetime_start]
    busy = (max(ends) - min(starts)).total_seconds()
    return 60 * trials / seconds, seconds, 60 * trials / busy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/digits_mlp.yaml")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    import keras
    import mlflow
    import optuna

    one, one_s, one_busy = trials_per_minute(args.recipe, trials=args.trials, workers=1)
    many, many_s, many_busy = trials_per_minute(args.recipe, trials=args.trials, workers=args.workers)
    print(f"recipe {args.recipe}, {args.trials} trials, pruning off")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"mlflow {mlflow.__version__}, optuna {optuna.__version__}, keras {keras.__version__}")
    print(f"{'':10} {'end to end':>22} {'while training':>16}")
    print(f"{'1 worker':10} {one:8.1f} trials/min ({one_s:5.1f}s) {one_busy:9.1f} trials/min")
    print(f"{f'{args.workers} workers':10} {many:8.1f} trials/min ({many_s:5.1f}s) {many_busy:9.1f} trials/min")
    print(f"speed-up: {many / one:.2f}x end to end, {many_busy / one_busy:.2f}x while training")


if __name__ == "__main__":
    main()
