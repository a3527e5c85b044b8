"""Tracking overhead: the same configurations trained bare (plain Keras ``fit``) and as mltune trials.

    python -m benchmarks.overhead [--recipe recipes/digits_mlp.yaml] [--trials 12]

Samples ``--trials`` configurations with the recipe's sampler and runs them as an mltune study (enqueued, no
pruning) against a throw-away SQLite tracking store and journal file. Between two trials, inside the study's
trial callback, the same process trains configuration *i* bare (build, compile and ``fit`` with validation data,
arrays prepared beforehand) once right after its trial and once right before it, so bare and mltune passes
interleave and see the same machine state. Trial 0, which pays TensorFlow's one-time start-up, is left out.

Two figures come out:

* **direct**: the sum of mltune trial wall times (from the end of one trial callback to the start of the next,
  so it holds everything: sampling, the nested run, per-epoch reports, the metric batch, the best-so-far model)
  over the sum of bare times. On a shared 2-core machine the same ``fit`` varies by 10-20% from one call to the
  next, so this ratio carries that noise.
* **accounted**: the time mltune spends outside Keras' training loop, measured inside the same trial (trial wall
  time minus the wall time of ``Model.fit``, plus the per-epoch hooks that run inside ``fit``, minus the bare
  run's own build and compile time), added to the bare time. Training-speed noise cancels out of it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class Stopwatch:
    """Sums the wall time spent in the functions it wraps, until read and reset."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, owner: Any, name: str) -> None:
        function = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(owner, name, timed)

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


class BareFit:
    """Plain Keras training of one configuration, with the arrays prepared once."""

    def __init__(self, recipe: Any, table: Any, fold: Any, fit_clock: Stopwatch) -> None:
        from mltune.training import _targets, encoding_for

        self.recipe, self.fit_clock = recipe, fit_clock
        encoding = encoding_for(recipe, table, fold)
        self.x, self.xv = table.x(fold.train), table.x(fold.validation)
        self.y, self.yv = _targets(encoding, table, fold.train), _targets(encoding, table, fold.validation)
        self.n_out = len(encoding.labels) if encoding.labels else 1

    def __call__(self, params: dict[str, Any], *, seed: int) -> tuple[float, float]:
        """Seconds to build, compile and fit the configuration, and of those the seconds in ``fit``."""
        import keras
        import numpy as np

        from mltune.families import FAMILIES, InputShape
        from mltune.metrics import keras_metrics
        from mltune.training import _optimizer

        recipe, x = self.recipe, self.x
        keras.utils.set_random_seed(seed)
        self.fit_clock.take()
        start = time.perf_counter()
        shape = InputShape(x.shape[1], self.n_out, recipe.task, x.mean(axis=0), x.var(axis=0))
        model = FAMILIES[recipe.model.family].build(params, shape)
        steps = int(np.ceil(len(x) / params["batch_size"])) * params["epochs"]
        model.compile(optimizer=_optimizer(params, steps),
                      loss="categorical_crossentropy" if recipe.task == "classification" else "mse",
                      metrics=keras_metrics(recipe.metric, task=recipe.task, n_classes=self.n_out))
        model.fit(x, self.y, batch_size=params["batch_size"], epochs=params["epochs"],
                  validation_data=(self.xv, self.yv), verbose=0)
        return time.perf_counter() - start, self.fit_clock.take()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/digits_mlp.yaml")
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args(argv)

    import keras
    import mlflow
    import optuna

    from mltune.data import load_table, make_splits
    from mltune.objective import ENQUEUED_ATTR
    from mltune.recipe import load_recipe
    from mltune.space import SearchSpace
    from mltune.storage import open_storage
    from mltune.strategies import build_sampler
    from mltune.study import tune
    from mltune.tracking import TrialRun

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fit_clock, hook_clock = Stopwatch(), Stopwatch()
    fit_clock.wrap(keras.Model, "fit")
    for owner, name in ((optuna.Trial, "report"), (optuna.Trial, "should_prune"), (TrialRun, "log_epoch")):
        hook_clock.wrap(owner, name)  # what mltune does inside `fit`, once per epoch

    recipe = load_recipe(args.recipe, ["pruner=none"])
    table = load_table(recipe)
    bare_fit = BareFit(recipe, table, make_splits(recipe, table).folds[0], fit_clock)
    sampler_study = optuna.create_study(sampler=build_sampler(recipe), direction=recipe.direction)
    space = SearchSpace.from_recipe(recipe)
    configs, trial_params = [], []
    for _ in range(args.trials):
        trial = sampler_study.ask()
        configs.append(space.sample(trial))
        trial_params.append(dict(trial.params))
        sampler_study.tell(trial, 0.0)

    def bare(i: int) -> tuple[float, float]:
        return bare_fit(configs[i], seed=recipe.seed + i)

    bare(0)  # warm-up: TensorFlow's one-time start-up costs
    before, after = [bare(0)], []
    trials: list[tuple[float, float, float]] = []  # wall, in fit, in hooks
    fit_clock.take(), hook_clock.take()
    resumed = time.perf_counter()

    def between_trials(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal resumed
        trials.append((time.perf_counter() - resumed, fit_clock.take(), hook_clock.take()))
        after.append(bare(trial.number))
        if trial.number + 1 < len(configs):
            before.append(bare(trial.number + 1))
        fit_clock.take(), hook_clock.take()
        resumed = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        storage = f"journal:{Path(tmp) / 'journal.log'}"
        study = optuna.create_study(storage=open_storage(storage), study_name="overhead",
                                    direction=recipe.direction)
        for params in trial_params:
            study.enqueue_trial(params, user_attrs={ENQUEUED_ATTR: "benchmark"})
        result = tune(recipe, storage=storage, study_name="overhead", n_trials=args.trials,
                      on_trial=between_trials)
        os.chdir(cwd)

    rows = []
    for i in range(1, args.trials):
        (b_total, b_fit), (a_total, a_fit) = before[i], after[i]
        bare_total, bare_setup = (b_total + a_total) / 2, (b_total - b_fit + a_total - a_fit) / 2
        wall, in_fit, in_hooks = trials[i]
        overhead = wall - in_fit + in_hooks - bare_setup
        rows.append((i, configs[i]["epochs"], bare_total, wall, overhead))
    bare_sum, wall_sum, overhead_sum = (sum(r[k] for r in rows) for k in (2, 3, 4))
    spread = statistics.fmean(abs(b[0] - a[0]) / ((b[0] + a[0]) / 2) for b, a in zip(before, after, strict=False))

    print(f"recipe {args.recipe}, {args.trials} configurations, {result.counts}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"mlflow {mlflow.__version__}, optuna {optuna.__version__}, keras {keras.__version__}")
    print(f"{'trial':>5} {'epochs':>6} {'bare s':>8} {'mltune s':>9} {'overhead ms':>12}")
    for i, epochs, bare_total, wall, overhead in rows:
        print(f"{i:>5} {epochs:>6} {bare_total:>8.3f} {wall:>9.3f} {1000 * overhead:>12.1f}")
    print(f"the same bare fit before and after a trial differs by {100 * spread:.1f}% on average")
    print(f"direct:    mltune / bare = {wall_sum / bare_sum:.3f}")
    print(f"accounted: mltune / bare = {(bare_sum + overhead_sum) / bare_sum:.3f} "
          f"({1000 * overhead_sum / len(rows):.0f} ms per trial outside training)")
    median = statistics.median(r[4] for r in rows)
    print(f"median trial: {1000 * median:.0f} ms outside training = "
          f"{100 * median / statistics.median(r[2] for r in rows):.1f}% of its bare time "
          "(a full garbage collection, 0.5-0.9 s, lands outside `fit` now and then and skews the mean)")


if __name__ == "__main__":
    main()
