"""Search quality at an equal wall-clock budget: mltune's default against an Optuna loop, KerasTuner and HGB.

mltune's default, a hand-written Optuna TPE loop, KerasTuner and HistGradientBoosting on seven tables:

    python -m benchmarks.search [--budget 60] [--seeds 3] [--jobs 2] [--tables digits,wage] [--methods ...]
        [--set KEY=VALUE ...] [--variant NAME:KEY=VALUE,KEY=VALUE ...] [--out docs/benchmarks.md]

Tables (:mod:`benchmarks.search_tables`): scikit-learn's digits, breast_cancer and diabetes, penguins, wage and
corrupted diamonds, and diabetes made messy; each written to a CSV file as a user has it.

Methods (``--methods``, comma-separated keys; the default run is the first five):

- ``mltune`` (mltune default): what ``mltune tune --data FILE --target COL`` does: the inferred recipe
  (:func:`mltune.flows.autorecipe.infer_recipe`, with ``--set`` overrides) with the budget as its timeout, run
  through :func:`mltune.flows.tune.tune`; the best trial's logged MLflow model is scored.
- ``optuna`` (Optuna TPE loop), ``kt-bayes`` and ``kt-hyperband`` (KerasTuner): one ``build_model(hp)`` space and
  one scikit-learn preprocessing, written as a practitioner writes them (:mod:`benchmarks.rivals`).
- ``hgb``: ``HistGradientBoosting`` with its defaults on the development rows (seconds, no search).
- also available: ``mltune-gp``, ``mltune-random`` (the inferred recipe with Optuna's GP sampler or random search)
  and ``kt-random`` (KerasTuner's RandomSearch); every ``--variant NAME:SETS`` adds a method "mltune NAME": the
  inferred recipe with those overrides on top of ``--set`` (an ablation of the default space with this harness).

What is shared, per table and seed: the rows, and mltune's split of them (its inferred recipe's split with the
run's seed), so every method trains on the same train rows, stops early on the same validation rows (HGB trains
on both) and is scored on the same held-out test rows with the same code: accuracy for classification, RMSE and
MAE for regression. Every search gets the same wall-clock budget and starts no trial after it (a trial running at
the deadline finishes, in every tool); each study runs in a fresh Python process, start-up outside the budget.
``--jobs 2`` runs two studies at once, each with one TensorFlow thread (and one OpenMP thread); the methods of a
table and seed are queued in a rotation that changes with the seed, so that no method always runs beside the same
neighbour. Every outcome is appended to a JSON-lines file as it finishes (``--outcomes``), so a run cut short keeps
its results, and ``--redraw FILE`` writes the report from such a file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Section, count, machine, mean_sd, positive, scratch, table

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    """One study's result.

    Attributes:
        dataset: the table's name.
        seconds: from the search's start to the end of its last trial.
        trials: trials started (mltune: complete + pruned; KerasTuner: every trial it trained, whatever its
            Hyperband epochs; HistGradientBoosting: 1).
        complete: trials that trained to the end (mltune COMPLETE; the others: all of them).
        epochs: epochs trained over all trials.
        val: the returned model's score on the validation rows (NaN for HistGradientBoosting, which trains on them).
        test: its score on the held-out test rows: accuracy (classification) or RMSE (regression).
        mae: its MAE on the test rows (regression only).
        curve: ``(seconds since the search began, best validation score so far)`` after each trial.
        trial_log: ``(seconds, epochs trained, value or None)`` per trial, in the order they ended.
        error: why the study failed (then the scores are NaN).
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
    mae: float | None = None
    task: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Method:
    """A method of the comparison: its key for ``--methods``, its name in the report, what runs it.

    Attributes:
        kind: ``mltune``, ``optuna``, ``keras_tuner`` or ``hgb``.
        settings: mltune: recipe overrides on top of ``--set``; keras_tuner: the tuner's class name.
    """

    key: str
    name: str
    kind: str
    settings: tuple[str, ...] = ()


REFERENCE = "mltune default"
METHODS: dict[str, Method] = {m.key: m for m in [
    Method("mltune", REFERENCE, "mltune"),
    Method("optuna", "Optuna TPE loop", "optuna"),
    Method("kt-bayes", "KerasTuner BayesianOptimization", "keras_tuner", ("BayesianOptimization",)),
    Method("kt-hyperband", "KerasTuner Hyperband", "keras_tuner", ("Hyperband",)),
    Method("hgb", "HistGradientBoosting", "hgb"),
    Method("mltune-gp", "mltune GP", "mltune", ("sampler={name: gp}",)),
    Method("mltune-random", "mltune random", "mltune", ("sampler={name: random}",)),
    Method("kt-random", "KerasTuner RandomSearch", "keras_tuner", ("RandomSearch",)),
]}
DEFAULT_METHODS = ["mltune", "optuna", "kt-bayes", "kt-hyperband", "hgb"]
SMOKE_EPOCHS = 3


def run_study(*, method: dict[str, Any], table: str, seed: int, budget: float, folder: str,
              epochs: int | None = None, overrides: Sequence[str] = ()) -> Outcome:
    """One method on one table and seed (the table's CSV already in ``folder``), scored on the shared split.

    ``epochs`` caps every method's epochs (mltune: ``search.epochs``); ``overrides`` are mltune's ``--set``.
    """
    from benchmarks import rivals
    from benchmarks.search_tables import held_out_scores, problem

    threads = os.environ.get("MLTUNE_THREADS")
    if threads:
        from mltune.runtime.workers import configure_threads

        configure_threads(int(threads))
    spec = Method(**{**method, "settings": tuple(method.get("settings", ()))})
    rows = problem(table, seed, Path(folder))
    if spec.kind == "mltune":
        sets = [*([f"search.epochs={epochs}"] if epochs else []), *overrides, *spec.settings]
        found = _mltune_search(rows, budget=budget, overrides=sets)
    elif spec.kind == "hgb":
        found = rivals.hist_gradient_boosting(rows)
    else:
        prepared = rivals.prepare(rows)
        limits: dict[str, Any] = {"seed": seed, "budget": budget, "epochs": epochs or rivals.EPOCHS}
        found = (rivals.optuna_loop(prepared, **limits) if spec.kind == "optuna"
                 else rivals.keras_tuner(prepared, tuner=spec.settings[0], **limits))
    direction = found.direction or ("maximize" if rows.task == "classification" else "minimize")
    test, mae = held_out_scores(rows.task, rows.y(rows.test), found.predict("test"))
    val = (float("nan") if spec.kind == "hgb"
           else held_out_scores(rows.task, rows.y(rows.validation), found.predict("validation"))[0])
    log = found.log
    return Outcome(spec.name, table, seed, seconds=log[-1][0] if log else 0.0, trials=len(log),
                   complete=len(log) if spec.kind != "mltune" else sum(v is not None for _, _, v in log),
                   epochs=sum(e for _, e, _ in log), val=val, test=test, mae=mae, task=rows.task,
                   curve=_curve(log, direction), trial_log=log)


def _mltune_search(rows: Any, *, budget: float, overrides: Sequence[str]) -> Any:
    """``mltune tune --data FILE --target COL`` with the budget as its timeout; the best trial's logged model."""
    import mlflow
    import optuna

    from benchmarks.rivals import Found
    from mltune.data import load_table, make_splits
    from mltune.flows.autorecipe import infer_recipe
    from mltune.flows.tune import tune
    from mltune.tracking.runs import model_uri

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recipe, _ = infer_recipe(str(rows.path), rows.target, [f"seed={rows.seed}", "budget.n_trials=100000",
                                                           f"budget.timeout={budget}", "promotion.baseline=false",
                                                           *overrides])  # the trees are a method of their own here
    loaded = load_table(recipe)
    splits = make_splits(recipe, loaded)
    cross_validated = len(splits.folds) > 1  # the rivals' validation rows are then one fold's, in mltune's CV
    if list(splits.test) != list(rows.test) or (
            not cross_validated and list(splits.folds[0].validation) != list(rows.validation)):
        raise RuntimeError(f"the overrides {list(overrides)} change mltune's split: the methods would not be "
                           "scored on the same rows")
    import mltune.model.inputs
    import mltune.model.training
    import mltune.tracking.pyfunc  # noqa: F401  (TensorFlow's import is start-up, outside the budget, as for the others)

    found = Found(lambda part: None, direction=recipe.direction)  # type: ignore[arg-type,return-value]
    with scratch() as tmp:
        mlflow.MlflowClient().search_experiments()  # creates the tracking store's tables: a user's server has them
        started: list[float] = []  # the first trial's start: the search's, as Optuna's timeout counts it

        def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            done = trial.state == optuna.trial.TrialState.COMPLETE
            if not started:
                started.append(trial.datetime_start.timestamp() if trial.datetime_start else time.time())
            found.log.append((time.time() - started[0], trial.last_step or 0,
                              trial.value if done else None))

        result = tune(recipe, n_trials=100_000, timeout=budget, storage=f"journal:{tmp / 'j.log'}",
                      on_trial=on_trial, table=loaded)
        if cross_validated:  # no trial keeps a model: promotion refits the best configuration on the development rows
            from mltune.flows.promote import promote

            promoted = promote(run_id=result.parent_run_id, context=result.context)
            uri = f"models:/{promoted.model_name}/{promoted.version}"
        else:
            uri = model_uri(_best_run(result))
        model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    parts = {"validation": rows.validation, "test": rows.test}
    found.predict = lambda part: model.predict(None, rows.features.iloc[parts[part]])
    return found


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


# ------------------------------------------------------------- studies from recipe files (the pruning section's)

DATASETS: dict[str, tuple[str, list[str]]] = {
    "digits": ("recipes/digits_mlp.yaml", []),
    "diabetes": ("recipes/diabetes_regression.yaml",
                 ["split={validation: 0.2, test: 0.2}",
                  "pruner={name: hyperband, min_resource: 2, reduction_factor: 3}"]),
}


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
            log.append((time.perf_counter() - started, trial.last_step or 0, trial.value if done else None))

        result = tune(recipe, n_trials=n_trials or 100_000, timeout=budget, storage=f"journal:{tmp / 'j.log'}",
                      on_trial=on_trial, table=table)
        model = mlflow.pyfunc.load_model(model_uri(_best_run(result)))
        val, test = _scores(model.unwrap_python_model(), recipe, table, splits)
    return Outcome(method or sampler or "tpe", dataset, seed, seconds=log[-1][0], trials=len(log),
                   complete=sum(v is not None for _, _, v in log), epochs=sum(e for _, e, _ in log), val=val,
                   test=test, curve=_curve(log, recipe.direction), trial_log=log)


def _scores(model: Any, recipe: Any, table: Any, splits: Any) -> tuple[float, float]:
    frame = table.frame
    scores = []
    for rows in (splits.folds[0].validation, splits.test):
        part = frame.iloc[rows]
        y = part[table.target].to_numpy() if table.target else None
        scores.append(model.score(part, y, recipe.metric))
    return scores[0], scores[1]


# ------------------------------------------------------------------------------------------ the comparison


def in_subprocess(function: str, env: dict[str, str] | None = None, **kwargs: Any) -> Outcome:
    """Calls ``benchmarks.search.<function>(**kwargs)`` in a fresh Python process and returns its Outcome."""
    script = (f"import json, sys; from dataclasses import asdict; import benchmarks.search as s; "
              f"print('\\nOUTCOME ' + json.dumps(asdict(s.{function}(**json.loads(sys.argv[1])))))")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(kwargs)], cwd=ROOT, capture_output=True,
                          text=True, check=False, env=env)
    line = next((x for x in reversed(done.stdout.splitlines()) if x.startswith("OUTCOME ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"{function}({kwargs}) failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    return Outcome(**json.loads(line.removeprefix("OUTCOME ")))


def plan(tables: Sequence[str], seeds: int, methods: Sequence[Method]) -> list[tuple[str, int, Method]]:
    """Every study, table by table and seed by seed; each table and seed's methods in a rotation that moves by one
    from one seed (and table) to the next, so that with ``--jobs 2`` no method always shares the machine with the
    same neighbour or always runs first."""
    jobs = []
    for index, name in enumerate(tables):
        for seed in range(seeds):
            shift = (index + seed) % len(methods)
            jobs += [(name, seed, method) for method in [*methods[shift:], *methods[:shift]]]
    return jobs


class Recorder:
    """Appends each outcome to a JSON-lines file as it finishes (after one line describing the run)."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path, self.lock = path, threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"kind": "run", **header}) + "\n")

    def add(self, outcome: Outcome) -> None:
        with self.lock, self.path.open("a") as file:
            file.write(json.dumps({"kind": "outcome", **asdict(outcome)}) + "\n")


def read_outcomes(path: Path) -> tuple[dict[str, Any], list[Outcome]]:
    """The run's description and its outcomes from a file :class:`Recorder` wrote (complete or cut short)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    header = next(({k: v for k, v in x.items() if k != "kind"} for x in lines if x["kind"] == "run"), {})
    outcomes = [Outcome(**{k: v for k, v in x.items() if k != "kind"}) for x in lines if x["kind"] == "outcome"]
    return header, outcomes


def run_all(jobs: list[tuple[str, int, Method]], *, settings: dict[str, Any], parallel: int, in_process: bool,
            record: Recorder) -> list[Outcome]:
    """Runs the studies, ``parallel`` at a time (each in a fresh process unless ``in_process``); a study that fails
    is recorded with its error and the run goes on."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if parallel > 1:
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1", MLTUNE_THREADS="1")

    def one(job: tuple[str, int, Method]) -> Outcome:
        name, seed, method = job
        kwargs = {"method": asdict(method), "table": name, "seed": seed, **settings}
        if in_process:
            outcome = run_study(**kwargs)
        else:
            try:
                outcome = in_subprocess("run_study", env=env, **kwargs)
            except RuntimeError as error:
                nan = float("nan")
                outcome = Outcome(method.name, name, seed, 0.0, 0, 0, 0, nan, nan, error=str(error))
        record.add(outcome)
        scores = (f"FAILED: {outcome.error.splitlines()[-1] if outcome.error.strip() else ''}" if outcome.error
                  else f"test {outcome.test:.4f} ({outcome.trials} trials, {outcome.seconds:.0f} s)")
        print(f"  {name} seed {seed} {method.name}: {scores}", file=sys.stderr, flush=True)
        return outcome

    if in_process or parallel == 1:
        return [one(job) for job in jobs]
    with ThreadPoolExecutor(parallel) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        return [future.result() for future in as_completed(futures)]


def chosen_methods(keys: Sequence[str], variants: Sequence[tuple[str, list[str]]]) -> list[Method]:
    """The methods named by ``--methods`` keys, then one mltune method per ``--variant``."""
    return [*(METHODS[key] for key in keys),
            *(Method(name, f"mltune {name}", "mltune", tuple(sets)) for name, sets in variants)]


def run(plots: Path, *, smoke: bool, budget: float = 60.0, seeds: int = 3, tables: Sequence[str] = (),
        methods: Sequence[str] = (), jobs: int = 1, epochs: int | None = None, overrides: Sequence[str] = (),
        variants: Sequence[tuple[str, list[str]]] = (), outcomes: Path | None = None) -> Section:
    from benchmarks.search_tables import DEFAULT_TABLES, SMOKE_TABLE, TABLES, describe_csv, write_csv

    if smoke:
        budget, seeds, tables, epochs, jobs = 1.5, 1, [SMOKE_TABLE], SMOKE_EPOCHS, 1
    names = list(tables or DEFAULT_TABLES)
    chosen = chosen_methods(methods or DEFAULT_METHODS, variants)
    with tempfile.TemporaryDirectory(prefix="mltune-search-tables-") as tmp:
        folder = Path(tmp)
        about = {name: f"{TABLES[name].about}; {describe_csv(write_csv(name, folder), TABLES[name].target)}"
                 for name in names}
        header = {"budget": budget, "seeds": seeds, "jobs": jobs, "epochs": epochs, "overrides": list(overrides),
                  "methods": [m.name for m in chosen],
                  "variants": {name: sets for name, sets in variants}, "tables": about, "machine": machine()}
        record = Recorder(outcomes or plots / "search_outcomes.jsonl", header)
        settings = {"budget": budget, "folder": str(folder), "epochs": epochs, "overrides": list(overrides)}
        results = run_all(plan(names, seeds, chosen), settings=settings, parallel=jobs, in_process=smoke,
                          record=record)
    return summarize(results, plots, header)


# ---------------------------------------------------------------------------------------------- the report


def error_of(outcome: Outcome) -> float:
    """The test error the ratios compare: 1 - accuracy (classification) or RMSE (regression)."""
    return 1.0 - outcome.test if outcome.task == "classification" else outcome.test


def ratio(errors: Sequence[float], reference: Sequence[float]) -> float:
    """Mean error over seeds divided by the reference's: above 1, the reference (mltune) is better."""
    mine, ours = statistics.fmean(errors), statistics.fmean(reference)
    if ours == 0:
        return 1.0 if mine == 0 else float("inf")
    return mine / ours


def summarize(outcomes: list[Outcome], plots: Path, header: dict[str, Any]) -> Section:
    """The section: one table of methods per benchmark table, then the ratios to mltune's default on every table."""
    budget, seeds = header["budget"], header["seeds"]
    body = [_setup(header), ""]
    ratios: dict[str, dict[str, float]] = {}
    order = {name: i for i, name in enumerate([REFERENCE, *header.get("methods", [])])}
    outcomes = sorted(outcomes, key=lambda o: order.get(o.method, len(order)))  # stable: tables keep their order
    for name in dict.fromkeys([*header.get("tables", {}), *(o.dataset for o in outcomes)]):
        ours = [o for o in outcomes if o.dataset == name]
        if not ours:
            continue
        lines, ratios[name] = _table_section(name, ours, header.get("tables", {}).get(name, ""))
        body += [*lines, f"![best validation score over time, {name}](benchmarks/search_{name}.png)", ""]
        _plot(ours, plots / f"search_{name}.png", dataset=name, budget=budget)
    rivals = list(dict.fromkeys(m for row in ratios.values() for m in row))
    body += ["### Summary: test error of each method / mltune default's", "",
             f"Classification: error rate (1 - accuracy); regression: RMSE. Mean over {seeds} seed(s) at "
             f"{budget:g} s per study; above 1, mltune's default is better.", "",
             table(["table", *rivals], [[name, *(_fmt(row.get(m)) for m in rivals)] for name, row in ratios.items()]),
             ""]
    headline = {}
    for method in rivals:
        values = [row[method] for row in ratios.values() if method in row]
        ahead, level = sum(v > 1 for v in values), sum(v == 1 for v in values)
        body.append(f"- mltune default is ahead of **{method}** on {ahead} of {len(values)} tables"
                    + (f" (level on {level})" if level else "") + ".")
        headline[f"search: mltune default ahead of {method} (tables, {budget:g} s, test error)"] = \
            f"{ahead} of {len(values)}"
    failed = [o for o in outcomes if o.error]
    if failed:
        body += ["", f"**{len(failed)} stud(ies) failed** and are left out of the means:", ""]
        body += [f"- {o.dataset} seed {o.seed} {o.method}: `{_last_line(o.error)}`" for o in failed]
    return Section("Search quality at equal wall-clock budget", "\n".join(body), headline)


def _setup(header: dict[str, Any]) -> str:
    budget = header["budget"]
    extra = []
    if header.get("epochs"):
        extra.append(f"every method's epochs capped at {header['epochs']}")
    if header.get("overrides"):
        extra.append("mltune's recipe with " + ", ".join(f"`{s}`" for s in header["overrides"]))
    for name, sets in (header.get("variants") or {}).items():
        extra.append(f"mltune {name}: " + ", ".join(f"`{s}`" for s in sets))
    tables = "\n".join(f"- **{name}**: {about}" for name, about in header.get("tables", {}).items())
    return "\n".join([
        f"Each search ran for **{budget:g} s of wall-clock time** per study (no trial starts after it), "
        f"{header['seeds']} seed(s) per table (the seed sets the split and every sampler's seed), "
        f"{header.get('jobs', 1)} stud(ies) at a time" + (" (one TensorFlow thread each)" if header.get("jobs", 1) > 1
                                                          else "") + (f"; {'; '.join(extra)}" if extra else "")
        + ". Every method trains on mltune's train rows of the table's CSV, stops early on its validation rows "
        "(HistGradientBoosting trains on both) and is scored on its held-out test rows: accuracy for "
        "classification, RMSE and MAE for regression, mean ± sd over seeds. Ratios divide a method's mean test "
        "error (1 - accuracy, or RMSE; MAE where named) by mltune default's: above 1, mltune is better. "
        "The Keras searches use one preprocessing, one space and mltune's `tf.data` input pipeline "
        "([benchmarks/rivals.py](../benchmarks/rivals.py)).", "",
        f"Machine: {header.get('machine', '')}.", "", "Tables:", "", tables])


def _table_section(name: str, outcomes: list[Outcome], about: str) -> tuple[list[str], dict[str, float]]:
    good = [o for o in outcomes if not o.error]
    task = next((o.task for o in good), "")
    classify = task == "classification"
    reference = [o for o in good if o.method == REFERENCE]
    rows, ratios = [], {}
    for method in dict.fromkeys(o.method for o in outcomes):
        mine = [o for o in good if o.method == method]
        if not mine:
            rows.append([method, "failed", *([""] * (5 if classify else 7))])
            continue
        row = [method, mean_sd([o.test for o in mine], 4)]
        if reference and method != REFERENCE:
            ratios[method] = ratio([error_of(o) for o in mine], [error_of(o) for o in reference])
        row.append(_fmt(ratios.get(method)) if method != REFERENCE else "1")
        if not classify:
            maes = [o.mae for o in mine if o.mae is not None]
            row.append(mean_sd(maes, 4) if maes else "")
            ref_mae = [o.mae for o in reference if o.mae is not None]
            row.append("1" if method == REFERENCE else _fmt(ratio(maes, ref_mae) if maes and ref_mae else None))
        vals = [o.val for o in mine if o.val == o.val]  # NaN: no validation score
        row += [mean_sd(vals, 4) if vals else "–", f"{statistics.fmean(o.trials for o in mine):.1f}",
                f"{statistics.fmean(o.epochs for o in mine):.0f}", f"{statistics.fmean(o.seconds for o in mine):.0f}"]
        rows.append(row)
    metric = "accuracy" if classify else "RMSE"
    columns = ["method", f"test {metric}", "error-rate ratio" if classify else "RMSE ratio",
               *([] if classify else ["test MAE", "MAE ratio"]), f"validation {metric}", "trials", "epochs",
               "search s"]
    return [f"### {name} ({task or 'failed'})", "", about, "", table(columns, rows), ""], ratios


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


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
            style = "-" if method.startswith("mltune") else "--"
            ax.plot(grid, np.vstack(curves).mean(axis=0), style, label=method)  # from when every seed has one
    ax.set_xlabel("seconds of search")
    ax.set_ylabel("best validation score so far (mean over seeds)")
    ax.set_title(dataset)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ command line


def split_top(text: str) -> list[str]:
    """``KEY=VALUE,KEY=VALUE`` split at the commas outside brackets, so values may be YAML lists or mappings."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{("
        depth -= char in "]})"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


def _arguments(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    from benchmarks.search_tables import TABLES

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", type=positive, default=60.0, help="seconds of search per study")
    parser.add_argument("--seeds", type=count, default=3)
    parser.add_argument("--tables", help=f"comma-separated (default: all but the smoke table): {', '.join(TABLES)}")
    parser.add_argument("--methods", help=f"comma-separated keys (default: {','.join(DEFAULT_METHODS)}): "
                                          f"{', '.join(METHODS)}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="an override of mltune's inferred recipe, for every mltune method (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,KEY=VALUE",
                        help="one more mltune method, 'mltune NAME', with these overrides (repeatable)")
    parser.add_argument("--jobs", type=count, default=1, help="studies at once, one TensorFlow thread each if > 1")
    parser.add_argument("--epochs", type=count, help="caps every method's epochs (mltune: search.epochs)")
    parser.add_argument("--smoke", action="store_true", help="one tiny table, seconds per study: only checks it runs")
    parser.add_argument("--plots", type=Path, help="where the PNG files and the outcomes go (default: the report's "
                                                  "benchmarks/ folder with --out, else docs/benchmarks; smoke: a "
                                                  "temporary folder)")
    parser.add_argument("--outcomes", type=Path, help="the JSON-lines file of outcomes "
                                                     "(default: PLOTS/search_outcomes.jsonl)")
    parser.add_argument("--out", type=Path, help="also write the section into this report (docs/benchmarks.md)")
    parser.add_argument("--redraw", type=Path, help="summarize a saved outcomes file instead of running")
    return parser, parser.parse_args(argv)


def _checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The run's options, or a usage error (exit 2) naming the option and the value before anything runs."""
    from benchmarks.search_tables import TABLES

    def listed(option: str, text: str | None, known: Sequence[str]) -> list[str]:
        names = split_top(text or "")
        unknown = [n for n in names if n not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
        return names

    variants = []
    for text in args.variant:
        name, colon, sets = text.partition(":")
        if not colon or not name.strip() or not split_top(sets):
            parser.error(f"--variant: must be NAME:KEY=VALUE[,KEY=VALUE...], but got {text!r}")
        variants.append((name.strip(), split_top(sets)))
    _check_overrides(parser, "--set", args.overrides)
    for name, sets in variants:
        _check_overrides(parser, f"--variant {name}", [*args.overrides, *sets])
    return {"tables": listed("--tables", args.tables, list(TABLES)),
            "methods": listed("--methods", args.methods, list(METHODS)), "variants": variants}


def _check_overrides(parser: argparse.ArgumentParser, option: str, overrides: Sequence[str]) -> None:
    """Infers the recipe of the smoke table with these overrides: a bad key or value is a usage error."""
    if not overrides:
        return
    from benchmarks.search_tables import SMOKE_TABLE, TABLES, write_csv
    from mltune.errors import ConfigError
    from mltune.flows.autorecipe import infer_recipe

    bad = [item for item in overrides if "=" not in item]
    if bad:
        parser.error(f"{option}: must be KEY=VALUE, but got {bad[0]!r}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            infer_recipe(str(write_csv(SMOKE_TABLE, Path(tmp))), TABLES[SMOKE_TABLE].target, list(overrides))
        except ConfigError as error:
            parser.error(f"{option}: {error}")


def main(argv: list[str] | None = None) -> None:
    parser, args = _arguments(argv)
    started = time.perf_counter()
    plots = args.plots or (args.out.parent / "benchmarks" if args.out else
                           Path(tempfile.mkdtemp(prefix="mltune-plots-")) if args.smoke else Path("docs/benchmarks"))
    if args.redraw:
        header, outcomes = read_outcomes(args.redraw)
        section = summarize(outcomes, plots, header)
    else:
        options = _checked(parser, args)
        section = run(plots, smoke=args.smoke, budget=args.budget, seeds=args.seeds, jobs=args.jobs,
                      epochs=args.epochs, overrides=args.overrides, outcomes=args.outcomes, **options)
    print(section.body)
    print(json.dumps(section.headline, indent=2))
    print(f"plots and outcomes in {plots}", file=sys.stderr)
    if args.out:
        _save(section, args, seconds=time.perf_counter() - started, argv=argv)


def _save(section: Section, args: argparse.Namespace, *, seconds: float, argv: list[str] | None) -> None:
    """Saves the section beside the others' and rewrites the report, as ``python -m benchmarks --only search``."""
    import datetime

    from benchmarks.__main__ import write

    command = " ".join(["python -m benchmarks.search", *(sys.argv[1:] if argv is None else argv)])
    saved = {**asdict(section), "seconds": seconds, "command": command, "date": datetime.date.today().isoformat()}
    plots = args.out.parent / "benchmarks"
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "search.json").write_text(json.dumps(saved, indent=1))
    write(args.out, plots, smoke=args.smoke)


if __name__ == "__main__":
    main()
