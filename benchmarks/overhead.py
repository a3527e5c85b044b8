"""Tracking overhead: the same configurations trained bare (plain Keras ``fit``) and as mltune trials.

    python -m benchmarks.overhead [--recipe recipes/digits_mlp.yaml] [--trials 12] [--naive 3]

Samples ``--trials`` configurations with the recipe's sampler and runs them as an mltune study (enqueued, no
pruning) against a throw-away SQLite tracking store and journal file. Between two trials, inside the study's trial
callback, the same process trains configuration *i* bare (build, compile and ``fit`` with validation data, arrays
prepared beforehand and fed through the trial's own ``mltune.model.training.fit_rows``) once right after its trial
and once right before it, so bare and mltune passes interleave and see the same machine state. Trial 0, which pays
TensorFlow's one-time start-up, is left out.

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
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Section, check_recipe, count, machine, scratch, table


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
        from mltune.model.training import encoding_for, model_input, targets

        self.recipe, self.fit_clock = recipe, fit_clock
        self.model: Any = None
        self.encoding = encoding = encoding_for(recipe, table, fold)
        self.x, self.xv = model_input(encoding, table, fold.train), model_input(encoding, table, fold.validation)
        self.y, self.yv = targets(encoding, table, fold.train), targets(encoding, table, fold.validation)

    def __call__(self, params: dict[str, Any], *, seed: int, callbacks: Any = None) -> tuple[float, float]:
        """Seconds to build, compile and fit the configuration, and of those the seconds in ``fit``."""
        import keras

        from mltune.model.training import compiled_model, fit_rows

        keras.utils.set_random_seed(seed)
        self.fit_clock.take()
        start = time.perf_counter()
        self.model = compiled_model(self.recipe, params, self.x, self.encoding)
        fit_rows(self.model, self.x, self.y, (self.xv, self.yv), batch_size=int(params["batch_size"]), seed=seed,
                 epochs=params["epochs"], callbacks=callbacks)
        return time.perf_counter() - start, self.fit_clock.take()


def naive_trial(bare_fit: BareFit, params: dict[str, Any], *, seed: int) -> float:
    """Seconds for the way many users log a trial today: a hand-made nested run, per-epoch ``log_metrics`` calls
    and ``mlflow.keras.log_model`` with its defaults (which infers pip requirements in a subprocess)."""
    import keras
    import mlflow

    start = time.perf_counter()
    with mlflow.start_run(nested=True):
        mlflow.log_params(params)
        log_epoch = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: mlflow.log_metrics(
            {k: float(v) for k, v in (logs or {}).items()}, step=epoch))
        bare_fit(params, seed=seed, callbacks=[log_epoch])
        mlflow.keras.log_model(bare_fit.model, name="model")
    return time.perf_counter() - start


@dataclass
class Overhead:
    """What :func:`measure` found; times in seconds, one row per trial after the first."""

    rows: list[tuple[int, int, float, float, float]]  # trial, epochs, bare, mltune wall, outside training
    spread: float  # mean relative difference of the same bare fit before and after a trial
    counts: dict[str, int]
    naive: list[tuple[int, float, float]] = field(default_factory=list)  # trial, bare, naive
    breakdown: dict[str, float] = field(default_factory=dict)  # what a trial spends in each call, ms (median)

    @property
    def direct(self) -> float:
        return sum(r[3] for r in self.rows) / sum(r[2] for r in self.rows)

    @property
    def accounted(self) -> float:
        bare = sum(r[2] for r in self.rows)
        return (bare + sum(r[4] for r in self.rows)) / bare

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(r[4] for r in self.rows)

    @property
    def median_share(self) -> float:
        return statistics.median(r[4] for r in self.rows) / statistics.median(r[2] for r in self.rows)

    @property
    def naive_ratio(self) -> float:
        return sum(n for _, _, n in self.naive) / sum(b for _, b, _ in self.naive)


def _breakdown() -> dict[str, tuple[Any, str]]:
    """The calls a trial makes to MLflow's and Optuna's stores, by what they are for."""
    import optuna
    from mlflow import MlflowClient
    from optuna.storages.journal import JournalFileBackend

    from mltune.search.space import SearchSpace

    return {
        "MLflow: create the trial's run": (MlflowClient, "create_run"),
        "MLflow: its dataset input": (MlflowClient, "log_inputs"),
        "MLflow: params, epoch metrics, tags (one log_batch)": (MlflowClient, "log_batch"),
        "MLflow: close the run": (MlflowClient, "set_terminated"),
        "Optuna: sample the configuration": (SearchSpace, "sample"),
        "Optuna: reports (the pruner's epochs, then the best and the last)": (optuna.Trial, "report"),
        "Optuna: journal writes (locked, fsync'ed), all of the above included": (JournalFileBackend, "append_logs"),
    }


def measure(recipe_path: str, *, trials: int, naive: int = 0, overrides: tuple[str, ...] = ()) -> Overhead:
    """Runs the interleaved comparison; ``naive`` of the configurations are also run the naive way."""
    import keras
    import mlflow
    import optuna

    from mltune.config.recipe import load_recipe
    from mltune.data import load_table, make_splits
    from mltune.flows.tune import tune
    from mltune.names import ENQUEUED_ATTR
    from mltune.runtime.storage import open_storage
    from mltune.search.space import SearchSpace
    from mltune.search.strategies import build_sampler
    from mltune.tracking.runs import TrialRun

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fit_clock, hook_clock = Stopwatch(), Stopwatch()
    fit_clock.wrap(keras.Model, "fit")
    for owner, name in ((optuna.Trial, "report"), (optuna.Trial, "should_prune"), (TrialRun, "log_epoch")):
        hook_clock.wrap(owner, name)  # what mltune does inside `fit`, once per epoch
    ledger: dict[str, Stopwatch] = {}
    for label, (owner, name) in _breakdown().items():
        ledger[label] = Stopwatch()
        ledger[label].wrap(owner, name)

    recipe = load_recipe(recipe_path, ["pruner=none", *overrides])
    table = load_table(recipe)
    bare_fit = BareFit(recipe, table, make_splits(recipe, table).folds[0], fit_clock)
    sampler_study = optuna.create_study(sampler=build_sampler(recipe), direction=recipe.direction)
    space = SearchSpace.from_recipe(recipe)
    configs, trial_params = [], []
    for _ in range(trials):
        trial = sampler_study.ask()
        configs.append(space.sample(trial))
        trial_params.append(dict(trial.params))
        sampler_study.tell(trial, 0.0)

    def bare(i: int) -> tuple[float, float]:
        return bare_fit(configs[i], seed=recipe.seed + i)

    bare(0)  # warm-up: TensorFlow's one-time start-up costs
    before, after = [bare(0)], []
    walls: list[tuple[float, float, float]] = []  # wall, in fit, in hooks
    calls: list[dict[str, float]] = []  # seconds in each store call of the ledger
    fit_clock.take(), hook_clock.take()
    resumed = time.perf_counter()

    def between_trials(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal resumed
        walls.append((time.perf_counter() - resumed, fit_clock.take(), hook_clock.take()))
        calls.append({label: watch.take() for label, watch in ledger.items()})
        after.append(bare(trial.number))
        if trial.number + 1 < len(configs):
            before.append(bare(trial.number + 1))
        fit_clock.take(), hook_clock.take()
        resumed = time.perf_counter()

    with scratch() as tmp:
        storage = f"journal:{tmp / 'journal.log'}"
        study = optuna.create_study(storage=open_storage(storage), study_name="overhead",
                                    direction=recipe.direction)
        for params in trial_params:
            study.enqueue_trial(params, user_attrs={ENQUEUED_ATTR: "benchmark"})
        result = tune(recipe, storage=storage, study_name="overhead", n_trials=trials, on_trial=between_trials)
        naive_rows = []
        with mlflow.start_run(run_name="naive"):
            for i in range(1, min(naive, trials - 1) + 1):
                naive_rows.append((i, bare(i)[0], naive_trial(bare_fit, configs[i], seed=recipe.seed + i)))

    rows = []
    for i in range(1, trials):
        (b_total, b_fit), (a_total, a_fit) = before[i], after[i]
        bare_total, bare_setup = (b_total + a_total) / 2, (b_total - b_fit + a_total - a_fit) / 2
        wall, in_fit, in_hooks = walls[i]
        rows.append((i, configs[i]["epochs"], bare_total, wall, wall - in_fit + in_hooks - bare_setup))
    spread = statistics.fmean(abs(b[0] - a[0]) / ((b[0] + a[0]) / 2) for b, a in zip(before, after, strict=False))
    breakdown = {label: 1000 * statistics.median(c[label] for c in calls[1:]) for label in ledger}
    return Overhead(rows, spread, result.counts, naive_rows, breakdown)


def run(plots: Path, *, smoke: bool, trials: int = 20, naive: int = 3) -> Section:
    overrides = ("search.epochs=2",) if smoke else ()
    found = measure("recipes/digits_mlp.yaml", trials=3 if smoke else trials, naive=1 if smoke else naive,
                    overrides=overrides)
    body = "\n".join([
        f"The default recipe (digits), {len(found.rows) + 1} configurations sampled by its TPE sampler, each trained "
        "bare (build, compile, `fit` with validation data, on the same `tf.data` pipeline as a trial) right before "
        "and right after it runs as an mltune trial "
        "(nested MLflow run, per-epoch metrics, pruning hooks, dataset input, best-so-far model kept), in one "
        "process; the first trial, which pays TensorFlow's start-up, is left out. *Accounted* adds mltune's time "
        "outside Keras' training loop (plus its per-epoch hooks inside it) to the bare time, so that the "
        f"training-speed noise (the same bare fit differs by {100 * found.spread:.0f}% between two calls) cancels "
        "out; *direct* divides wall times and carries that noise.", "",
        table(["figure", "value"], [
            ["accounted: mltune / bare", f"**{found.accounted:.3f}** (target < 1.02)"],
            ["median trial: time outside training", f"{found.median_ms:.0f} ms = {100 * found.median_share:.1f}%"],
            ["direct: mltune / bare (noisy)", f"{found.direct:.3f}"],
            ["naive logging / bare", f"**{found.naive_ratio:.2f}** ({len(found.naive)} configuration(s))"],
        ]), "",
        "The naive way is what many users write today: a hand-made nested run per trial, `mlflow.log_metrics` "
        "per epoch and `mlflow.keras.log_model(model, name=\"model\")` with its defaults, which infers the pip "
        "requirements in a subprocess on every call. optuna-integration's `MLflowCallback` is deprecated since "
        "Optuna 4.9 and makes no parent run for nested trials, so it is not timed here.", "",
        table(["trial", "epochs", "bare s", "mltune s", "outside training ms"],
              [[i, e, f"{b:.3f}", f"{w:.3f}", f"{1000 * o:.1f}"] for i, e, b, w, o in found.rows]), "",
        "Where a trial's time outside training goes: its calls to MLflow's store (SQLite here) and to Optuna's "
        "(the journal file), median ms per trial. The journal line holds every Optuna write, sampling's and the "
        "reports' included.", "",
        table(["call", "ms per trial"], [[label, f"{ms:.1f}"] for label, ms in found.breakdown.items()]),
    ])
    headline = {"overhead, mltune trial / bare Keras fit": f"{found.accounted:.3f}x accounted, median trial "
                f"+{100 * found.median_share:.1f}% (target < 1.02)",
                "naive MLflow logging / bare Keras fit": f"{found.naive_ratio:.2f}x"}
    return Section("Overhead", body, headline)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/digits_mlp.yaml")
    parser.add_argument("--trials", type=count, default=12, help="at least 2: the first trial is left out")
    parser.add_argument("--naive", type=int, default=0, help="also time this many configurations the naive way")
    args = parser.parse_args(argv)
    if args.trials < 2:
        parser.error(f"argument --trials: must be at least 2 (the first trial, which pays TensorFlow's start-up, "
                     f"is left out), but got {args.trials}")
    if not 0 <= args.naive < args.trials:
        parser.error(f"argument --naive: must be from 0 to --trials - 1 ({args.trials - 1}), but got {args.naive}")
    check_recipe(parser, "--recipe", args.recipe)

    found = measure(args.recipe, trials=args.trials, naive=args.naive)
    print(f"recipe {args.recipe}, {args.trials} configurations, {found.counts}")
    print(f"machine: {machine()}")
    print(f"{'trial':>5} {'epochs':>6} {'bare s':>8} {'mltune s':>9} {'overhead ms':>12}")
    for i, epochs, bare_total, wall, overhead in found.rows:
        print(f"{i:>5} {epochs:>6} {bare_total:>8.3f} {wall:>9.3f} {1000 * overhead:>12.1f}")
    print(f"the same bare fit before and after a trial differs by {100 * found.spread:.1f}% on average")
    print(f"direct:    mltune / bare = {found.direct:.3f}")
    print(f"accounted: mltune / bare = {found.accounted:.3f} "
          f"({1000 * sum(r[4] for r in found.rows) / len(found.rows):.0f} ms per trial outside training)")
    print(f"median trial: {found.median_ms:.0f} ms outside training = {100 * found.median_share:.1f}% of its bare "
          "time (a full garbage collection, 0.5-0.9 s, lands outside `fit` now and then and skews the mean)")
    print("where a trial's time outside training goes (median ms per trial):")
    for label, ms in found.breakdown.items():
        print(f"  {ms:6.1f}  {label}")
    if found.naive:
        print(f"naive logging (nested run, log_metrics per epoch, mlflow.keras.log_model defaults) / bare = "
              f"{found.naive_ratio:.2f}")


if __name__ == "__main__":
    main()
