"""Search quality at an equal wall-clock budget: mltune against KerasTuner on the same search space.

    python -m benchmarks.search [--budget 40] [--seeds 3] [--smoke]

Methods: mltune's default (TPE with Hyperband pruning), mltune with Optuna's GP sampler and with random search
(both keep the Hyperband pruner, as a user who switches ``sampler`` gets), and KerasTuner's ``Hyperband``,
``BayesianOptimization`` and ``RandomSearch``. Datasets: digits classification (``recipes/digits_mlp.yaml``) and
diabetes regression (``recipes/diabetes_regression.yaml`` with one validation split instead of its 5 folds, and
Hyperband as the pruner, so that every method sees the same rows and the same protocol).

What is shared, per dataset and seed: the recipe (its seed set to the run's seed), hence the same train, validation
and test rows; the search space, which KerasTuner samples through mltune's own :class:`SearchSpace` (its
``suggest_*`` calls become ``hp.Float``/``hp.Int``/``hp.Choice``); the model builder and compile step
(:func:`mltune.model.training.compiled_model`) and input pipeline (:func:`mltune.model.training.fit_rows`); the
epoch budget of a
full trial. Every method gets the same wall-clock budget for its search and starts no new trial after it (a trial
running at the deadline finishes, in both tools). Each study runs in a fresh Python process, so none inherits
another's TensorFlow state; start-up is outside the budget.

Scores: the model each tool hands its user at the end (mltune: the best trial's logged MLflow model; KerasTuner:
``get_best_models(1)[0]``, its best epoch's checkpoint) is evaluated on the validation rows and on the held-out
test rows with the same scoring code (:meth:`mltune.tracking.pyfunc.KerasTabularModel.score`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Section, count, mean_sd, positive, scratch, table

ROOT = Path(__file__).resolve().parents[1]
DATASETS: dict[str, tuple[str, list[str]]] = {
    "digits": ("recipes/digits_mlp.yaml", []),
    "diabetes": ("recipes/diabetes_regression.yaml",
                 ["split={validation: 0.2, test: 0.2}",
                  "pruner={name: hyperband, min_resource: 2, reduction_factor: 3}"]),
}
# mltune's methods and the sampler each sets (None: the recipe's own, TPE).
MLTUNE: dict[str, str | None] = {"mltune TPE + Hyperband (default)": None, "mltune GP + Hyperband": "gp",
                                 "mltune random + Hyperband": "random"}
KERAS_TUNER = {"KerasTuner Hyperband": "Hyperband", "KerasTuner BayesianOptimization": "BayesianOptimization",
               "KerasTuner RandomSearch": "RandomSearch"}
METHODS = [*MLTUNE, *KERAS_TUNER]
DEFAULT_METHOD = next(iter(MLTUNE))


@dataclass
class Outcome:
    """One study's result.

    Attributes:
        trials: trials started (mltune: complete + pruned; KerasTuner: every trial it trained, whatever its
            Hyperband epochs).
        complete: trials that trained their full epochs (mltune COMPLETE; KerasTuner: all of them).
        epochs: epochs trained over all trials.
        curve: ``(seconds since the search began, best validation score so far)`` after each trial.
        trial_log: ``(seconds, epochs trained, value or None)`` per trial, in the order they ended.
    """

    method: str
    dataset: str
    seed: int
    seconds: float
    trials: int
    complete: int
    epochs: int
    val: float
    test: float
    curve: list[tuple[float, float]] = field(default_factory=list)
    trial_log: list[tuple[float, int, float | None]] = field(default_factory=list)


def recipe_for(dataset: str, seed: int, extra: Sequence[str] = ()) -> Any:
    from mltune.config.recipe import load_recipe

    path, overrides = DATASETS[dataset]
    return load_recipe(ROOT / path, [*overrides, f"seed={seed}", *extra])


def run_mltune(dataset: str, seed: int, *, sampler: str | None, budget: float | None, n_trials: int | None = None,
               extra: Sequence[str] = (), method: str = "") -> Outcome:
    """One mltune study, run as a user runs it (``tune``), against a throw-away tracking store.

    ``sampler`` replaces the recipe's (None keeps it); ``extra`` are more ``--set`` overrides.
    """
    import mlflow
    import optuna

    from mltune.data import load_table, make_splits
    from mltune.flows.tune import tune
    from mltune.tracking.runs import model_uri

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recipe = recipe_for(dataset, seed, [*([f"sampler={{name: {sampler}}}"] if sampler else []), *extra])
    table = load_table(recipe)
    splits = make_splits(recipe, table)
    log: list[tuple[float, int, float | None]] = []
    with scratch() as tmp:
        mlflow.MlflowClient().search_experiments()  # creates the tracking store's tables: a user's server has them
        started = time.perf_counter()

        def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            done = trial.state == optuna.trial.TrialState.COMPLETE
            log.append((time.perf_counter() - started, len(trial.intermediate_values), trial.value if done else None))

        result = tune(recipe, n_trials=n_trials or 100_000, timeout=budget, storage=f"journal:{tmp / 'j.log'}",
                      on_trial=on_trial, table=table)
        model = mlflow.pyfunc.load_model(model_uri(_best_run(result)))
        val, test = _scores(model.unwrap_python_model(), recipe, table, splits)
    return Outcome(method or sampler or "tpe", dataset, seed, seconds=log[-1][0], trials=len(log),
                   complete=sum(v is not None for _, _, v in log), epochs=sum(e for _, e, _ in log), val=val,
                   test=test, curve=_curve(log, recipe.direction), trial_log=log)


def _best_run(result: Any) -> str:
    from mlflow import MlflowClient

    from mltune.names import BEST_RUN_ID

    return str(MlflowClient().get_run(result.parent_run_id).data.tags[BEST_RUN_ID])


def _curve(log: list[tuple[float, int, float | None]], direction: str) -> list[tuple[float, float]]:
    from mltune.tasks.metrics import is_better

    best, curve = None, []
    for seconds, _, value in log:
        if value is not None and (best is None or is_better(value, best, direction=direction)):
            best = value
        if best is not None:
            curve.append((seconds, best))
    return curve


def _scores(model: Any, recipe: Any, table: Any, splits: Any) -> tuple[float, float]:
    frame = table.frame
    scores = []
    for rows in (splits.folds[0].validation, splits.test):
        part = frame.iloc[rows]
        y = part[table.target].to_numpy() if table.target else None
        scores.append(model.score(part, y, recipe.metric))
    return scores[0], scores[1]


class _Hp:
    """Lets mltune's :class:`SearchSpace` sample through KerasTuner: an Optuna-like trial over ``hp``."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return float(self.hp.Float(name, low, high, step=None if log else step,
                                   sampling="log" if log else "linear"))

    def suggest_int(self, name: str, low: int, high: int, *, step: int | None = 1, log: bool = False) -> int:
        return int(self.hp.Int(name, low, high, step=None if log or step in (None, 1) else step,
                               sampling="log" if log else "linear"))

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self.hp.Choice(name, choices)


def run_keras_tuner(dataset: str, seed: int, *, tuner: str, budget: float, extra: Sequence[str] = (),
                    method: str = "") -> Outcome:
    """One KerasTuner search over the recipe's space, stopped at the budget."""
    import keras
    import keras_tuner as kt

    from mltune.data import load_table, make_splits
    from mltune.model.training import compiled_model, encoding_for, fit_rows, model_input, targets
    from mltune.search.space import SearchSpace
    from mltune.tracking.pyfunc import KerasTabularModel

    recipe = recipe_for(dataset, seed, extra)
    table = load_table(recipe)
    splits = make_splits(recipe, table)
    fold = splits.folds[0]
    encoding = encoding_for(recipe, table, fold)
    x, xv = model_input(encoding, table, fold.train), model_input(encoding, table, fold.validation)
    y, yv = targets(encoding, table, fold.train), targets(encoding, table, fold.validation)
    space = SearchSpace.from_recipe(recipe)
    epochs = int(space.sample(_Fixed())["epochs"])  # type: ignore[arg-type]

    class HyperModel(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> keras.Model:
            self.params = space.sample(_Hp(hp))  # type: ignore[arg-type]
            return compiled_model(recipe, self.params, x, encoding)

        def fit(self, hp: Any, model: keras.Model, x: Any, y: Any, *, validation_data: Any, **kwargs: Any) -> Any:
            return fit_rows(model, x, y, validation_data, batch_size=int(self.params["batch_size"]), seed=seed,
                            **kwargs)

    class OutOfTime(kt.errors.FatalError):  # type: ignore[misc]
        pass

    log: list[tuple[float, int, float | None]] = []
    started = time.perf_counter()

    class Timed(getattr(kt, tuner)):  # type: ignore[misc]
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            if time.perf_counter() - started > budget:
                raise OutOfTime("budget spent")
            return super().run_trial(trial, *args, **kwargs)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            trained = trial.hyperparameters.values.get("tuner/epochs", epochs) - \
                trial.hyperparameters.values.get("tuner/initial_epoch", 0)
            log.append((time.perf_counter() - started, int(trained), trial.score))

    options: dict[str, Any] = {"max_epochs": epochs, "factor": 3} if tuner == "Hyperband" else {"max_trials": 100_000}
    direction = "max" if recipe.direction == "maximize" else "min"
    with scratch() as tmp:
        search = Timed(HyperModel(), objective=kt.Objective(f"val_{recipe.metric}", direction=direction),
                       seed=seed, directory=str(tmp), project_name="kt", overwrite=True, **options)
        with contextlib.suppress(OutOfTime):
            search.search(x, y, validation_data=(xv, yv), epochs=epochs, verbose=0)
        wrapper = KerasTabularModel()
        wrapper.model, wrapper.encoding = search.get_best_models(1)[0], encoding
        val, test = _scores(wrapper, recipe, table, splits)
    return Outcome(method or tuner, dataset, seed, seconds=log[-1][0], trials=len(log), complete=len(log),
                   epochs=sum(e for _, e, _ in log), val=val, test=test,
                   curve=_curve(log, recipe.direction), trial_log=log)


class _Fixed:
    """A trial that takes every range's low end: enough to read the space's fixed values."""

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return low

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return low

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return choices[0]


def run_one(method: str, dataset: str, seed: int, budget: float, extra: Sequence[str] = ()) -> Outcome:
    if method in MLTUNE:
        return run_mltune(dataset, seed, sampler=MLTUNE[method], budget=budget, extra=extra, method=method)
    return run_keras_tuner(dataset, seed, tuner=KERAS_TUNER[method], budget=budget, extra=extra, method=method)


def in_subprocess(function: str, **kwargs: Any) -> Outcome:
    """Calls ``benchmarks.search.<function>(**kwargs)`` in a fresh Python process and returns its Outcome."""
    script = (f"import json, sys; from dataclasses import asdict; import benchmarks.search as s; "
              f"print('\\nOUTCOME ' + json.dumps(asdict(s.{function}(**json.loads(sys.argv[1])))))")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(kwargs)], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    line = next((x for x in reversed(done.stdout.splitlines()) if x.startswith("OUTCOME ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"{function}({kwargs}) failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    return Outcome(**json.loads(line.removeprefix("OUTCOME ")))


def run(plots: Path, *, smoke: bool, budget: float = 40.0, seeds: int = 3) -> Section:
    if smoke:
        budget, seeds = 1.0, 1
    outcomes: list[Outcome] = []
    for dataset in (["digits"] if smoke else list(DATASETS)):
        for seed in range(seeds):
            for method in METHODS:
                kwargs: dict[str, Any] = {"method": method, "dataset": dataset, "seed": seed, "budget": budget,
                                          "extra": ["search.epochs=3"] if smoke else []}
                outcome = run_one(**kwargs) if smoke else in_subprocess("run_one", **kwargs)
                print(f"  {dataset} seed {seed} {method}: val {outcome.val:.4f} test {outcome.test:.4f} "
                      f"({outcome.trials} trials)", file=sys.stderr)
                outcomes.append(outcome)
    plots.mkdir(parents=True, exist_ok=True)
    saved = {"budget": budget, "seeds": seeds, "outcomes": [asdict(o) for o in outcomes]}
    (plots / "search_outcomes.json").write_text(json.dumps(saved))
    return summarize(outcomes, plots, budget=budget, seeds=seeds)


def summarize(outcomes: list[Outcome], plots: Path, *, budget: float, seeds: int) -> Section:
    metric = {"digits": "accuracy (higher is better)", "diabetes": "RMSE (lower is better)"}
    body = [f"Each method searched for **{budget:g} s of wall-clock time** per study, over {seeds} seed(s) per "
            "dataset (the seed sets the data split and every sampler's seed). Scores are mean ± sd over seeds of "
            "the model each tool returns, scored on the validation rows and on the held-out test rows.", ""]
    headline: dict[str, str] = {}
    for dataset in dict.fromkeys(o.dataset for o in outcomes):
        rows, ours = [], [o for o in outcomes if o.dataset == dataset]
        maximize = recipe_for(dataset, 0).direction == "maximize"
        for method in dict.fromkeys(o.method for o in ours):
            mine = [o for o in ours if o.method == method]
            rows.append([method, mean_sd([o.val for o in mine], 4), mean_sd([o.test for o in mine], 4),
                         f"{statistics.fmean(o.trials for o in mine):.1f}",
                         f"{statistics.fmean(o.complete for o in mine):.1f}",
                         f"{statistics.fmean(o.epochs for o in mine):.0f}"])
        body += [f"### {dataset}: {metric.get(dataset, '')}", "",
                 table(["method", "validation", "test", "trials", "full-length trials", "epochs trained"], rows),
                 ""]
        body.append(f"![best validation score over time, {dataset}](benchmarks/search_{dataset}.png)")
        body.append("")
        _plot(ours, plots / f"search_{dataset}.png", dataset=dataset, budget=budget)
        headline[f"search quality, {dataset} (test {'accuracy' if maximize else 'RMSE'}, mean ± sd)"] = \
            _verdict(ours, maximize=maximize)
    return Section("Search quality at equal wall-clock budget", "\n".join(body), headline)


def _verdict(outcomes: list[Outcome], *, maximize: bool) -> str:
    """mltune's default against KerasTuner's best method on mean test score, and whether the gap is noise."""
    def tests(method: str) -> list[float]:
        return [o.test for o in outcomes if o.method == method]

    ours = tests(DEFAULT_METHOD)
    rivals = [m for m in KERAS_TUNER if tests(m)]
    best = (max if maximize else min)(rivals, key=lambda m: statistics.fmean(tests(m)))
    gap = statistics.fmean(ours) - statistics.fmean(tests(best))
    as_good = gap >= 0 if maximize else gap <= 0
    sd = max(statistics.stdev(v) if len(v) > 1 else 0.0 for v in (ours, tests(best)))
    noise = "" if as_good else (" (within one sd)" if abs(gap) <= sd else " (more than one sd)")
    sign = ("≥" if maximize else "≤") if as_good else ("<" if maximize else ">")
    return f"mltune default {mean_sd(ours, 4)} {sign} {best} {mean_sd(tests(best), 4)}{noise}"


def _plot(outcomes: list[Outcome], path: Path, *, dataset: str, budget: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0, budget * 1.15, 200)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for method in dict.fromkeys(o.method for o in outcomes):
        curves = []
        for o in (o for o in outcomes if o.method == method and o.curve):
            times, values = zip(*o.curve, strict=True)
            index = np.searchsorted(times, grid, side="right") - 1
            curves.append(np.where(index >= 0, np.asarray(values)[np.maximum(index, 0)], np.nan))
        if curves:
            style = "-" if method in MLTUNE else "--"
            ax.plot(grid, np.vstack(curves).mean(axis=0), style, label=method)  # from when every seed has one
    ax.set_xlabel("seconds of search")
    ax.set_ylabel("best validation score so far (mean over seeds)")
    ax.set_title(dataset)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=positive, default=40.0, help="seconds of search per study")
    parser.add_argument("--seeds", type=count, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--plots", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--redraw", type=Path, help="summarize a saved search_outcomes.json instead of running")
    args = parser.parse_args(argv)
    if args.redraw:
        saved = json.loads(args.redraw.read_text())
        section = summarize([Outcome(**o) for o in saved["outcomes"]], args.plots, budget=saved["budget"],
                            seeds=saved["seeds"])
    else:
        section = run(args.plots, smoke=args.smoke, budget=args.budget, seeds=args.seeds)
    print(section.body)
    print(json.dumps(section.headline, indent=2))


if __name__ == "__main__":
    main()

