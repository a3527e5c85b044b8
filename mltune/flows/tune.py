"""Study orchestration: open or resume the Optuna study and its parent run, run trials, summarize."""

from __future__ import annotations

import gc
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import mlflow
import optuna

from mltune import names
from mltune.config.recipe import Recipe
from mltune.config.redaction import redact
from mltune.data import Table, load_table, make_splits
from mltune.errors import ConfigError
from mltune.names import (
    DATA_FINGERPRINT_ATTR,
    DATA_SOURCE_ATTR,
    ENQUEUED_ATTR,
    EXPERIMENT_ATTR,
    PARENT_RUN_ATTR,
    RECIPE_ATTR,
    RECIPE_YAML_ATTR,
    RUN_ID_ATTR,
    SCHEMA_ATTR,
)
from mltune.runtime.storage import StorageLock, local_file, open_storage
from mltune.runtime.workers import (
    RetryLostTrial,
    close_runs_of_finished_trials,
    fail_dead_local_trials,
    run_trials,
    run_workers,
    signals_interrupt,
    trials_counted,
    worker_seed,
)
from mltune.search.context import StudyContext, check_bound_data, data_schema
from mltune.search.objective import Objective, close_trial_run
from mltune.search.space import SearchSpace
from mltune.search.strategies import build_pruner, build_sampler
from mltune.tracking.reachability import check_reachable
from mltune.tracking.runs import Tracker, log_dataset
from mltune.views.plots import draw_or_warn
from mltune.views.progress import ProgressMode, StudyProgress

TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


class TuneOptions(TypedDict, total=False):
    """How to run a study, as :func:`tune` takes it (and :func:`~mltune.flows.retune.retune` passes it on)."""

    n_trials: int | None
    timeout: float | None
    study_name: str | None
    storage: str | None
    experiment_name: str | None
    tracking_uri: str | None
    source: str
    on_trial: TrialCallback | None
    workers: int | None
    progress: ProgressMode


@dataclass(frozen=True)
class StudyResult:
    """What a finished :func:`tune` call reports."""

    study_name: str
    parent_run_id: str
    experiment_id: str
    metric: str
    direction: str
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    context: StudyContext | None = field(default=None, repr=False, compare=False)
    """The study's context, for a promotion in the same process (rows loaded and split once)."""
    best_model: Any = field(default=None, repr=False, compare=False)
    """The best trial's model in memory, when this process trained it (promotion scores it without a reload)."""
    notes: tuple[str, ...] = ()
    """What the user should know about how the study was set up (e.g. a new study for a second file)."""


def tune(
    recipe: Recipe,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    study_name: str | None = None,
    storage: str | None = None,
    experiment_name: str | None = None,
    tracking_uri: str | None = None,
    source: str = "recipe",
    on_trial: TrialCallback | None = None,
    enqueue: Sequence[tuple[dict[str, Any], str]] = (),
    table: Table | None = None,
    workers: int | None = None,
    progress: ProgressMode = "quiet",
) -> StudyResult:
    """Runs (or resumes) the recipe's study and logs every trial as a nested MLflow run.

    ``n_trials`` is the study's total: a rerun with the same study name and storage resumes it and runs only the
    trials still missing. Everything that can be wrong with the recipe or the data raises :class:`ConfigError`
    before a run is created or a trial trains.

    Args:
        enqueue: ``(params, why)`` pairs to try first when the study is new (a warm start); ``why`` becomes the
            trial runs' ``mltune.enqueued`` tag.
        table: the recipe's rows, when the caller has loaded them already.
        workers: run the trials in this many ``mltune worker`` processes (supervised, TensorFlow's threads
            split between them) instead of in this process.
        progress: how to show the study's progress on stderr: a bar, plain lines, "auto" (a bar on a
            terminal, lines elsewhere) or "quiet".
    """
    started = time.perf_counter()
    n_trials, timeout = _budget(recipe, n_trials, timeout, workers)
    table = table or load_table(recipe, source=source)
    make_splits(recipe, table, source=source)  # every config error before anything is written
    check_reachable(tracking_uri or mlflow.get_tracking_uri())  # an unreachable tracking URI writes nothing either
    optuna_storage = open_storage(storage, on_lost_trial=RetryLostTrial(tracking_uri=tracking_uri))
    recipe, notes = bind_to_file(recipe, table, optuna_storage, study_name=study_name)
    context = StudyContext.load(recipe, study_name=study_name, storage=storage, tracking_uri=tracking_uri,
                                source=source, table=table)
    study, context = _open_study(context, optuna_storage, experiment_name, enqueue)
    fail_dead_local_trials(study, RetryLostTrial(reason="its process ended before the trial did",
                                                 tracking_uri=tracking_uri))
    display = _progress(study, context.recipe, n_trials=n_trials, timeout=timeout, mode=progress)
    status, best_model, failure = "FAILED", None, None
    try:
        with display:
            if workers:
                run_workers(study=study, storage=storage, workers=workers, n_trials=n_trials, timeout=timeout,
                            tracking_uri=context.tracker.tracking_uri, on_poll=display.poll)
            else:
                best_model = _run_here(study, context, n_trials=n_trials, timeout=timeout, on_trial=on_trial,
                                       progress=display)
        status = "FINISHED"
    except BaseException as error:  # SIGTERM/SIGINT kill the study; anything else fails it, with the reason
        status, failure = ("KILLED", None) if isinstance(error, KeyboardInterrupt) else ("FAILED", error)
        raise
    finally:
        result = _end_study(study, context, status, failure)
    return replace(result, seconds=time.perf_counter() - started, best_model=best_model, notes=notes)


def _end_study(study: optuna.Study, context: StudyContext, status: str,
               failure: BaseException | None) -> StudyResult:
    """Summarizes the study on its parent run and closes the run. A study, or a summary, that failed (a full
    disk, a store refusing writes) closes it FAILED with the reason in ``mltune.error``, never leaves it RUNNING."""
    try:
        return _summarize(study, context, final=True)
    except Exception as error:
        status, failure = "FAILED", failure or error
        raise
    finally:
        context.tracker.finish(context.parent_run_id, status, error=failure)


def bind_to_file(recipe: Recipe, table: Table, storage: optuna.storages.BaseStorage, *,
                 study_name: str | None) -> tuple[Recipe, tuple[str, ...]]:
    """The recipe with a study and model of its own when its default study was made on another file.

    A template (``csv_regression.yaml``) run on a second file would otherwise resume the first file's study; a
    study name given with ``--study-name`` or ``study_name`` is kept (and checked against its data when opened).
    Returns the recipe (renamed or not) and what to tell the user.
    """
    if study_name or recipe.study_name or recipe.data.path is None:
        return recipe, ()
    name = recipe.name
    if name not in optuna.get_all_study_names(storage):
        return recipe, ()
    earlier = optuna.load_study(study_name=name, storage=storage).user_attrs.get(DATA_SOURCE_ATTR)
    if earlier is None or earlier == table.source:
        return recipe, ()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", recipe.data.path.stem).strip("-") or "data"
    study, model = f"{name}-{stem}", f"{recipe.model_name}-{stem}"
    renamed = recipe.model_copy(update={
        "study_name": study, "promotion": recipe.promotion.model_copy(update={"model_name": model})})
    note = (f"study {name!r} was made on {earlier}; {table.source} gets study {study!r} and model {model!r} "
            "(set study_name and promotion.model_name to choose)")
    return renamed, (note,)


def _budget(recipe: Recipe, n_trials: int | None, timeout: float | None,
            workers: int | None) -> tuple[int | None, float | None]:
    """The study's budget: the options given, else the recipe's; checked."""
    n_trials = n_trials if n_trials is not None else recipe.budget.n_trials
    timeout = timeout if timeout is not None else recipe.budget.timeout
    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"--n-trials: must be >= 1, but got {n_trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout: must be > 0 seconds, but got {timeout}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, but got {workers}")
    return n_trials, timeout


def _open_study(context: StudyContext, storage: optuna.storages.BaseStorage, experiment_name: str | None,
                enqueue: Sequence[tuple[dict[str, Any], str]]) -> tuple[optuna.Study, StudyContext]:
    """Creates or loads the study, stores its recipe and opens its parent run, one set-up at a time: the same
    ``tune`` started on several machines makes one parent run, and a worker that joins meanwhile waits for it."""
    recipe, name = context.recipe, context.study_name
    with setup_lock(context.storage, name):
        study = optuna.create_study(storage=storage, sampler=build_sampler(recipe), pruner=build_pruner(recipe),
                                    study_name=name, direction=recipe.direction, load_if_exists=True)
        if study.direction.name.lower() != recipe.direction:
            raise ConfigError(f"--study-name: study {name!r} exists and is to {study.direction.name.lower()}, "
                              f"but the recipe asks to {recipe.direction}; choose another study name")
        check_bound_data(study, context.table)
        if not study.get_trials(deepcopy=False):
            for params, why in [*enqueue, *_defaults_first(recipe, context.space)]:
                study.enqueue_trial(params, user_attrs={ENQUEUED_ATTR: why}, skip_if_exists=True)
        study.set_user_attr(RECIPE_YAML_ATTR, recipe.to_yaml())  # the source of truth for workers and promotion
        study.set_user_attr(SCHEMA_ATTR, data_schema(context.table))
        study.set_user_attr(DATA_SOURCE_ATTR, context.table.source)
        study.set_user_attr(DATA_FINGERPRINT_ATTR, context.table.fingerprint)
        parent_run_id, experiment_id = _open_parent_run(study, context, experiment_name)
    return study, context.with_run(parent_run_id, experiment_id)


def _defaults_first(recipe: Recipe, space: SearchSpace) -> list[tuple[dict[str, Any], str]]:
    """The search space's ``default`` values as a new study's first trial (not in a grid, which has its own)."""
    first = space.first_trial()
    return [(first, "the search space's defaults")] if first and recipe.sampler.name != "grid" else []


def work(*, study_name: str, storage: str | None, n_trials: int | None = None, timeout: float | None = None,
         tracking_uri: str | None = None, on_trial: TrialCallback | None = None,
         progress: ProgressMode = "quiet", wait: float = 0.0, on_wait: Callable[[str], Any] | None = None,
         ) -> StudyResult:
    """Joins an existing study as one more worker: runs its trials until the study holds ``n_trials``.

    The recipe, the parent run and the experiment come from the study (``mltune tune`` stored them), so a
    worker on another machine needs only the storage URL, the tracking URI and the same data path. A worker
    started together with ``mltune tune`` waits up to ``wait`` seconds for the study to appear (telling
    ``on_wait`` once), and then for its set-up to finish.
    """
    study = _await_study(study_name, storage, wait=wait, on_wait=on_wait,
                         on_lost_trial=RetryLostTrial(tracking_uri=tracking_uri))
    with setup_lock(storage, study_name):  # `mltune tune` may be setting the study up right now
        context = StudyContext.of_study(study, storage=storage, tracking_uri=tracking_uri)
    study.sampler = build_sampler(context.recipe, seed=worker_seed(context.recipe))
    study.pruner = build_pruner(context.recipe)
    display = _progress(study, context.recipe, n_trials=n_trials, timeout=timeout, mode=progress)
    try:
        with display:
            _run_here(study, context, n_trials=n_trials, timeout=timeout, on_trial=on_trial, progress=display)
    finally:
        result = _summarize(study, context)
    return result


def _await_study(study_name: str, storage: str | None, *, wait: float, on_wait: Callable[[str], Any] | None,
                 on_lost_trial: RetryLostTrial) -> optuna.Study:
    """The study to join, once it exists; creates nothing while it waits (no journal, no SQLite file)."""
    deadline, optuna_storage, told = time.monotonic() + wait, None, False
    where = redact(storage or "the default storage")
    while True:
        path = local_file(storage)
        if optuna_storage is None and (path is None or os.path.exists(path)):
            optuna_storage = open_storage(storage, on_lost_trial=on_lost_trial)
        if optuna_storage is not None and study_name in optuna.get_all_study_names(optuna_storage):
            return optuna.load_study(study_name=study_name, storage=optuna_storage)
        if time.monotonic() >= deadline:
            waited = f" (waited {wait:g}s)" if wait > 0 else ""
            raise ConfigError(f"--study-name: no such study in {where}, but got {study_name!r}; create it with "
                              f"`mltune tune`{waited}")
        if not told and on_wait is not None:
            on_wait(f"waiting up to {wait:g}s for study {study_name!r} in {where} (`mltune tune` creates it)")
            told = True
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _run_here(study: optuna.Study, context: StudyContext, *, n_trials: int | None, timeout: float | None,
              on_trial: TrialCallback | None, progress: StudyProgress | None = None) -> Any:
    """Runs trials in this process until the study's budget is spent; SIGTERM fails the running trial.

    Returns the study's best model in memory when this process trained it, else None."""
    objective = Objective(context)
    callbacks = [close_trial_run(context.tracker), *([progress] if progress else []),
                 *([on_trial] if on_trial else [])]
    lock = StorageLock(context.storage, f"mltune-trials:{study.study_name}")
    # TensorFlow, Keras and MLflow leave hundreds of thousands of long-lived objects; frozen, they are no longer
    # walked by every full garbage collection (one cost about 0.8 s, a third of a trial, in the overhead benchmark).
    import mltune.model.training  # noqa: F401

    gc.collect()
    gc.freeze()
    try:
        with signals_interrupt():
            run_trials(study, objective, n_trials=n_trials, timeout=timeout, callbacks=callbacks, lock=lock,
                       on_lost=RetryLostTrial(tracking_uri=context.tracker.tracking_uri))
    finally:
        lock.close()
        objective.finish(study)
    return objective.best_model


def setup_lock(storage: str | None, study_name: str) -> StorageLock:
    """Held while a study and its parent run are created or reopened, and while a worker reads them."""
    return StorageLock(storage, f"mltune-setup:{study_name}")


def _progress(study: optuna.Study, recipe: Recipe, *, n_trials: int | None, timeout: float | None,
              mode: ProgressMode) -> StudyProgress:
    return StudyProgress(total=n_trials, done=trials_counted(study), metric=recipe.metric,
                         direction=recipe.direction, timeout=timeout, mode=mode)


def _open_parent_run(study: optuna.Study, context: StudyContext, experiment_name: str | None) -> tuple[str, str]:
    """The study's parent run: the one it already has (resume), or a new one."""
    recipe, tracker = context.recipe, context.tracker
    project_run = os.environ.get("MLFLOW_RUN_ID")  # set by `mlflow run` for the entry point's process
    known = study.user_attrs.get(PARENT_RUN_ATTR)
    if known and tracker.run_exists(known):
        tracker.reopen(known)
        # Runs an earlier process could not close (the tracking store refused writes) are closed now.
        close_runs_of_finished_trials(study, tracker, parent_run_id=known,
                                      experiment_id=str(study.user_attrs[EXPERIMENT_ATTR]))
        if project_run and project_run != known:
            tracker.set_tags(project_run, {names.STUDY_PARENT_RUN_ID: known, names.STUDY_NAME: study.study_name})
        tracker.log_text(known, recipe.to_yaml(), "recipe.yaml")
        return known, str(study.user_attrs[EXPERIMENT_ATTR])

    experiment_id = _experiment_id(tracker, recipe, experiment_name, project_run)
    adopt = project_run if project_run and _run_experiment(tracker, project_run) == experiment_id else None
    parent = tracker.start_study_run(
        experiment_id=experiment_id, study_name=study.study_name, adopt_run_id=adopt,
        tags={names.STORAGE: redact(context.storage or "default journal file"), names.RECIPE: recipe.name},
    )
    tracker.log_params(parent, {
        "recipe_name": recipe.name, "task": recipe.task, "family": recipe.model.family, "metric": recipe.metric,
        "direction": recipe.direction, "sampler": recipe.sampler.name, "pruner": recipe.pruner.name,
        "seed": recipe.seed, "folds": recipe.split.folds or 1, "data": str(recipe.data.dataset or recipe.data.path),
    })
    tracker.log_text(parent, recipe.to_yaml(), "recipe.yaml")  # for people; Optuna's copy is the one read back
    _log_data_report(tracker, parent, context.table)
    log_dataset(tracker.client, parent, context.dataset)
    study.set_user_attr(PARENT_RUN_ATTR, parent)
    study.set_user_attr(EXPERIMENT_ATTR, experiment_id)
    study.set_user_attr(RECIPE_ATTR, recipe.name)
    return parent, experiment_id


def _log_data_report(tracker: Tracker, run_id: str, table: Table) -> None:
    """The data report on the parent run: a table, its console lines, and the column kinds."""
    import json

    report = table.report
    tracker.log_table(run_id, report.frame(), "data_report.csv")
    tracker.log_text(run_id, "\n".join(report.lines()) + "\n", "data_report.txt")
    tracker.log_text(run_id, json.dumps([c.as_dict() for c in table.columns], indent=2), "columns.json")
    counts = Counter(f.check for f in report.findings)
    tracker.log_metrics(run_id, {f"data_{k.replace(' ', '_')}": v for k, v in counts.items() if k != "kind"})


def _experiment_id(tracker: Tracker, recipe: Recipe, name: str | None, project_run: str | None) -> str:
    if name:
        return tracker.experiment_id(name)
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    if os.environ.get("MLFLOW_EXPERIMENT_NAME"):
        return tracker.experiment_id(os.environ["MLFLOW_EXPERIMENT_NAME"])
    if project_run:
        return _run_experiment(tracker, project_run)
    return tracker.experiment_id(recipe.experiment_name or recipe.name)


def _run_experiment(tracker: Tracker, run_id: str) -> str:
    return str(tracker.client.get_run(run_id).info.experiment_id)


def _summarize(study: optuna.Study, context: StudyContext, *, final: bool = False) -> StudyResult:
    """Writes the study's state to its parent run.

    ``final`` (the process that owns the parent run, at its end; not every worker) also draws the study's plots
    and every trial's learning curve from the metrics MLflow holds, whichever process ran the trial.
    """
    recipe, tracker, parent_run_id = context.recipe, context.tracker, context.parent_run_id
    if final:
        draw_or_warn(lambda: log_study_plots(study, tracker, parent_run_id))
        prefix = "fold_0/" if len(context.splits.folds) > 1 else ""
        log_learning_curves(study.get_trials(deepcopy=False), tracker, metric=recipe.metric, prefix=prefix)
    counts, best = record_study(study, tracker, parent_run_id)
    result = StudyResult(study.study_name, parent_run_id, context.experiment_id, recipe.metric, recipe.direction,
                         None, None, {}, counts, context=context)
    if best is None:
        return result
    return StudyResult(**{**result.__dict__, "best_value": best.value, "best_trial": best.number,
                          "best_params": dict(best.params)})


def record_study(study: optuna.Study, tracker: Tracker,
                 parent_run_id: str) -> tuple[dict[str, int], optuna.trial.FrozenTrial | None]:
    """Writes a study's state to its parent run: counts by state, the trials table, the best trial and its
    parameters. Returns the counts and the best trial (None before one completes)."""
    trials = study.get_trials(deepcopy=False)
    counts = dict(Counter(t.state.name for t in trials))
    tracker.log_metrics(parent_run_id, {f"n_{s.lower()}": counts.get(s, 0)
                                        for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")})
    if trials:
        tracker.log_table(parent_run_id, study.trials_dataframe(), "trials.csv")
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        return counts, None
    best = study.best_trial
    tracker.log_metrics(parent_run_id, {"best_value": float(best.value or 0.0), "best_trial": best.number})
    tracker.set_tags(parent_run_id, {names.BEST_RUN_ID: best.user_attrs.get(RUN_ID_ATTR, ""),
                                     names.BEST_TRIAL: best.number,
                                     **{f"{names.BEST_PARAM_PREFIX}{k}": v for k, v in best.params.items()}})
    tracker.log_text(parent_run_id, _json(best.params), "best_params.json")
    return counts, best


def log_learning_curves(trials: Sequence[optuna.trial.FrozenTrial], tracker: Tracker, *, metric: str,
                        prefix: str = "") -> None:
    """A learning curve per finished trial run, drawn from the per-epoch metrics it logged (``loss``,
    ``val_loss``, ``<metric>``, ``val_<metric>``, each after ``prefix``: the first fold's under CV)."""
    from mltune.tracking.runs import TrialRun
    from mltune.views.plots import write_learning_curve

    keys = [f"{prefix}{k}" for k in ("loss", "val_loss", metric, f"val_{metric}")]
    for trial in trials:
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if not run_id or not trial.state.is_finished():
            continue

        def draw(run_id: str = run_id) -> None:
            history = {k.removeprefix(prefix): v for k, v in tracker.metric_history(run_id, keys).items()}
            if history:
                TrialRun(tracker.client, run_id, {}).log_plot(
                    lambda path: write_learning_curve(history, metric=metric, path=path), "learning_curve.png")

        draw_or_warn(draw)


def log_study_plots(study: optuna.Study, tracker: Tracker, parent_run_id: str) -> None:
    import tempfile
    from pathlib import Path

    from mltune.views.plots import write_study_plots

    with tempfile.TemporaryDirectory() as tmp:
        if write_study_plots(study, Path(tmp)):
            tracker.log_artifacts(parent_run_id, tmp, "plots")


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True)
