"""The ``mltune`` command line. Heavy imports (MLflow, TensorFlow) happen inside the commands."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from mltune.errors import ConfigError, MltuneError, NoCompleteTrial


class _Group(click.Group):
    """Prints an :class:`MltuneError` as one message and exits with its code (2 for configuration errors).

    Every error text passes :func:`redact` here, whichever library wrote it, and so does the traceback of an
    unexpected error (exit code 1).
    """

    def invoke(self, ctx: click.Context) -> Any:
        from mltune.config.redaction import redact

        try:
            with _redacted_output():
                return super().invoke(ctx)
        except MltuneError as error:
            click.echo(redact(f"mltune: error: {error}"), err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt as stop:  # SIGTERM/SIGINT: the running trials were recorded as failed
            click.echo(f"mltune: {stop or 'interrupted'}; the running trial was recorded FAIL", err=True)
            ctx.exit(128 + getattr(stop, "signum", 2))
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception:
            import traceback

            click.echo(redact(traceback.format_exc()).rstrip(), err=True)
            ctx.exit(1)


class _Redacting:
    """A text stream that hides URL secrets in what it is given to write (MLflow prints "View run ... at: URL",
    its URL being the tracking URI with any password in it)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from mltune.config.redaction import redact

        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _redacted_output() -> Iterator[None]:
    """Every library's writes to stdout and stderr pass :func:`redact` while a command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Redacting(sys.stdout), _Redacting(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _blank_is_none(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """MLproject parameters default to empty strings: treat them as not given."""
    if value == "" or value == ():
        return None
    if isinstance(value, str) and param.type is not click.STRING:
        try:
            return param.type.convert(value, param, ctx)  # type: ignore[union-attr]
        except click.BadParameter as error:
            raise ConfigError(f"--{param.name.replace('_', '-')}: {error.message}") from None  # type: ignore[union-attr]
    return value


def _quiet_libraries() -> None:
    from mltune.model.notices import quiet_tensorflow

    quiet_tensorflow()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=".*input example was not provided.*")

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    # MLflow's database store logs every database error with its traceback before raising it: mltune reports it.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    from mltune.views.progress import quiet_trial_failures

    quiet_trial_failures()


CONSOLE_FINDINGS = 5
"""The data report on the console shows at most this many columns per check (the logged report has them all)."""

recipe_argument = click.argument("recipe", type=click.Path(dir_okay=False))
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a recipe value by dot path, e.g. --set data.target=quality. Repeatable.")
study_options = [
    click.option("--n-trials", type=str, default=None, callback=_blank_is_none,
                 help="Total trials the study should have (resuming runs only the missing ones)."),
    click.option("--timeout", type=str, default=None, callback=_blank_is_none,
                 help="Stop starting new trials after this many seconds."),
    click.option("--study-name", default=None, callback=_blank_is_none, help="Defaults to the recipe's name."),
    click.option("--storage", default=None, callback=_blank_is_none,
                 help="Optuna storage: journal:PATH (default journal:optuna-journal.log) or a database URL."),
    click.option("--experiment-name", default=None, callback=_blank_is_none,
                 help="MLflow experiment; defaults to the one `mlflow run` set, else the recipe's name."),
    click.option("--quiet", "-q", is_flag=True,
                 help="No progress on stderr (a bar on a terminal, a line per trial elsewhere)."),
]


def _apply(options: Sequence[Any]) -> Any:
    def decorate(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _number(text: str | None, flag: str, kind: type) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{flag}: must be a{'n integer' if kind is int else ' number'}, but got {text!r}") from None


def _check_names(study_name: str | None, experiment_name: str | None) -> None:
    """The names given on the command line, held to the recipe's rules before a study or run is made."""
    from mltune.config.recipe import check_name

    broken = {"--study-name": None if study_name is None else check_name("study", study_name),
              "--experiment-name": None if experiment_name is None else check_name("experiment", experiment_name)}
    for flag, why in broken.items():
        if why:
            raise ConfigError(f"{flag}: {why}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))


output_option = click.option("--output", type=click.Choice(["text", "json"]), default="text",
                             callback=lambda ctx, param, value: value or "text",
                             help="json: print one JSON object on stdout (errors too) and progress on stderr.")


@contextlib.contextmanager
def _reporting(output: str) -> Iterator[Callable[[dict[str, Any], str], None]]:
    """Yields ``emit(payload, text)``, which prints the command's result as JSON or as text.

    With ``--output json`` stdout holds exactly one JSON object: anything else written to stdout meanwhile (MLflow
    prints "View run ... at: URL" lines for a tracking server) goes to stderr, and an error becomes one JSON object
    with its exit code.
    """
    stdout = sys.stdout

    def emit(payload: dict[str, Any], text: str) -> None:
        click.echo(json.dumps(payload, default=str) if output == "json" else text, file=stdout)

    if output != "json":
        yield emit
        return
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield emit
    except MltuneError as error:
        from mltune.config.redaction import redact

        click.echo(json.dumps({"status": "error", "error": error.kind, "message": redact(str(error)),
                               "exit_code": error.exit_code}), file=stdout)
        raise click.exceptions.Exit(error.exit_code) from None


@click.group(cls=_Group)
@click.version_option(package_name="mltune")
@click.option("--verbose", is_flag=True,
              help="Show TensorFlow's start-up notices (oneDNN, CUDA), which are hidden otherwise.")
def main(verbose: bool) -> None:
    """Tune Keras models with Optuna; every trial is a nested MLflow run."""
    if verbose:
        from mltune.model.notices import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"  # the worker processes a study starts inherit it


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--data", default=None, callback=_blank_is_none, metavar="FILE",
              help="A CSV or Parquet table: without RECIPE, the task, metric and search space are inferred from "
                   "it (the recipe is printed and logged); with RECIPE, it sets data.path.")
@click.option("--target", default=None, callback=_blank_is_none, metavar="COLUMN",
              help="The column to predict (sets data.target).")
@_apply(study_options)
@set_option
@output_option
@click.option("--promote/--no-promote", "then_promote", default=False, help="Promote the best model afterwards.")
@click.option("--workers", type=str, default=None, callback=_blank_is_none,
              help="Run the trials in this many supervised worker processes on this machine.")
@click.option("--print-recipe", is_flag=True,
              help="Print the recipe (inferred from --data and --target, or RECIPE's, with --set applied) on stdout "
                   "and exit, training nothing: save it, edit it, and run `mltune tune RECIPE`.")
def tune(recipe: str | None, data: str | None, target: str | None, n_trials: str | None, timeout: str | None,
         study_name: str | None, storage: str | None, experiment_name: str | None, quiet: bool,
         overrides: tuple[str, ...], output: str, then_promote: bool, workers: str | None,
         print_recipe: bool) -> None:
    """Run (or resume) the study a RECIPE describes, or one inferred from --data FILE --target COLUMN."""
    if print_recipe:
        with _reporting("text"):
            budget = [f"budget.{key}={value}" for key, value in (("n_trials", _number(n_trials, "--n-trials", int)),
                                                                  ("timeout", _number(timeout, "--timeout", float)))
                      if value is not None]  # the recipe to save runs what this command would have
            parsed, source, text = _tune_recipe(recipe, data, target, (*overrides, *budget), show=False)
            click.echo(text + _column_comments(parsed, source), nl=False)
        return
    with _reporting(output) as emit:
        parsed, source, _ = _tune_recipe(recipe, data, target, overrides)
        _check_names(study_name, experiment_name)
        trials = _number(n_trials, "--n-trials", int)
        seconds = _number(timeout, "--timeout", float)
        processes = _number(workers, "--workers", int)
        _quiet_libraries()
        from mltune.data import load_table
        from mltune.flows.tune import tune as run_study

        table = load_table(parsed, source=source)
        for line in table.report.lines(per_check=CONSOLE_FINDINGS):
            click.echo(line, err=True)
        with tracking_errors():
            result = run_study(parsed, n_trials=trials, timeout=seconds, study_name=study_name, storage=storage,
                               experiment_name=experiment_name, source=source, workers=processes, table=table,
                               progress="quiet" if quiet else "auto")
        emit(*_tune_result(result, storage=storage, promote=then_promote))


def _tune_recipe(recipe: str | None, data: str | None, target: str | None, overrides: tuple[str, ...], *,
                 show: bool = True) -> tuple[Any, str, str]:
    """The recipe to tune, where it came from (a file, with --data/--target as overrides, or inferred) and its
    YAML; an inferred one is shown on stderr (unless not ``show``)."""
    if recipe is not None:
        from mltune.config.recipe import load_recipe

        given = {**({f"data.path={json.dumps(data)}": f"--data {data}"} if data else {}),
                 **({f"data.target={json.dumps(target)}": f"--target {target}"} if target else {})}
        parsed = load_recipe(recipe, [*given, *overrides], labels=given)
        return parsed, recipe, parsed.to_yaml()
    if not data or not target:
        raise ConfigError("tune: give a RECIPE file, or --data FILE and --target COLUMN to infer one, but got "
                          f"data={data!r}, target={target!r}")
    from mltune.flows.autorecipe import infer_recipe

    parsed, text = infer_recipe(data, target, overrides)
    if show:
        click.echo(text, err=True)
    return parsed, data, text


def _column_comments(recipe: Any, source: str) -> str:
    """How the table's columns are read, as YAML comments to print after the recipe: what each becomes and why,
    and how to pin a kind."""
    from mltune.config.recipe import KINDS
    from mltune.data import load_table

    if recipe.data.dataset is not None or not recipe.data.path or str(recipe.data.path).endswith(".npz"):
        return ""
    table = load_table(recipe, source=source)
    lines = [f"#   {c.name}: {c.kind} ({c.reason})" for c in table.columns]
    return "\n".join(["", "# the feature columns as read (pin a kind with data.columns: {NAME: {kind: KIND}}, "
                          f"KIND one of {', '.join(KINDS)}):", *lines, ""])


def _tune_result(result: Any, *, storage: str | None, promote: bool) -> tuple[dict[str, Any], str]:
    """The JSON payload and the text lines of a finished ``tune`` (with its promotion, if asked)."""
    from mltune.tracking.runs import Tracker
    from mltune.views.report import tracking_ui_hint

    lines = [*(f"note: {note}" for note in result.notes),
             f"study {result.study_name!r}: {_counts(result.counts)} in {result.seconds:.1f}s"]
    if result.best_trial is None:
        raise NoCompleteTrial(f"no trial of study {result.study_name!r} completed: nothing to promote")
    lines.append(f"best: trial {result.best_trial}, {result.metric}={result.best_value:.6g}, {result.best_params}")
    lines.extend(tracking_ui_hint(Tracker(), result.experiment_id, result.parent_run_id))
    payload: dict[str, Any] = {"status": "ok", "study_name": result.study_name, "parent_run_id": result.parent_run_id,
                               "metric": result.metric, "best_value": result.best_value,
                               "best_trial": result.best_trial, "best_params": result.best_params,
                               "counts": result.counts, "notes": list(result.notes),
                               "seconds": round(result.seconds, 1)}
    if promote:
        promotion = _run_promotion(study_name=result.study_name, storage=storage, context=result.context,
                                   model=result.best_model)
        lines.extend(_promotion_lines(promotion))
        payload["promotion"] = promotion.as_dict()
        payload["test_score"] = promotion.test_score
    return payload, "\n".join(lines)


@main.command()
@click.option("--study-name", required=True, help="The study to join (made by `mltune tune`).")
@click.option("--storage", default=None, envvar="MLTUNE_STORAGE", callback=_blank_is_none,
              help="The study's Optuna storage, e.g. postgresql://... (or set MLTUNE_STORAGE, which keeps a "
                   "password off the command line).")
@click.option("--n-trials", type=str, default=None, callback=_blank_is_none,
              help="Stop when the study holds this many trials (a total shared with every worker).")
@click.option("--timeout", type=str, default=None, callback=_blank_is_none,
              help="Stop starting new trials after this many seconds.")
@click.option("--threads", type=int, default=None, envvar="MLTUNE_THREADS",
              help="TensorFlow threads per operation (default: TensorFlow's choice).")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@click.option("--wait", type=str, default="60", show_default=True,
              help="Seconds to wait for the study to appear, for a worker started together with `mltune tune`.")
def worker(study_name: str, storage: str | None, n_trials: str | None, timeout: str | None,
           threads: int | None, quiet: bool, wait: str) -> None:
    """Join an existing study as one more worker, from this or any machine that reaches its storage."""
    trials = _number(n_trials, "--n-trials", int)
    seconds = _number(timeout, "--timeout", float)
    patience = _number(wait, "--wait", float)
    if not patience >= 0:  # NaN too
        raise ConfigError(f"--wait: must be >= 0 seconds, but got {wait}")
    _quiet_libraries()
    from mltune.flows.tune import work
    from mltune.runtime.workers import configure_threads

    configure_threads(threads)
    with tracking_errors():
        result = work(study_name=study_name, storage=storage, n_trials=trials, timeout=seconds,
                      progress="quiet" if quiet else "auto", wait=patience,
                      on_wait=lambda line: click.echo(line, err=True))
    click.echo(f"worker done; study {study_name!r} now has {_counts(result.counts)}")


@main.command()
@click.option("--study-name", default=None, callback=_blank_is_none, help="The study to promote.")
@click.option("--storage", default=None, callback=_blank_is_none, help="The study's Optuna storage.")
@click.option("--run-id", default=None, callback=_blank_is_none, help="The study's parent run id.")
@click.option("--recipe", default=None, callback=_blank_is_none,
              help="Without --study-name: promote the study named by this recipe.")
def promote(study_name: str | None, storage: str | None, run_id: str | None, recipe: str | None) -> None:
    """Register a study's best model; move alias `champion` only if it beats the champion."""
    if recipe and not study_name and not run_id:
        from mltune.config.recipe import load_recipe

        parsed = load_recipe(recipe)
        study_name = parsed.study_name or parsed.name
    if bool(study_name) == bool(run_id):
        raise ConfigError("promote: give exactly one of --study-name NAME or --run-id PARENT_RUN_ID, "
                          f"but got study_name={study_name!r}, run_id={run_id!r}")
    _quiet_libraries()
    if study_name:  # a wrong name is answered before MLflow is imported and its store opened
        from mltune.runtime.storage import existing_study

        existing_study(study_name, storage)
    _promote(study_name=study_name, storage=storage, run_id=run_id)


def _promote(**kwargs: Any) -> None:
    for line in _promotion_lines(_run_promotion(**kwargs)):
        click.echo(line)


def _run_promotion(**kwargs: Any) -> Any:
    from mltune.flows.promote import promote as run_promotion

    with tracking_errors():
        return run_promotion(**kwargs)


def _promotion_lines(result: Any) -> list[str]:
    """The promotion's decision, the model, and its score on the held-out test split (with any call-out)."""
    validation = "" if result.validation_score is None else f" (best trial's validation {result.validation_score:.6g})"
    lines = [f"promotion: {result.decision} — {result.reason}",
             f"model {result.model_name} version {result.version}; champion is version {result.champion_after}",
             f"test {result.metric}={result.test_score:.6g} on the held-out test split{validation}"]
    if result.baseline:
        tree = result.baseline
        lines.append(f"baseline: {tree['estimator']} (scikit-learn defaults, same split) test "
                     f"{tree['metric']}={tree['score']:.6g} (run {tree['run_id']})")
    if result.warning:
        lines.append(f"warning: {result.warning}")
    return lines


@main.command()
@recipe_argument
@set_option
@click.option("--from-run", default=None, callback=_blank_is_none,
              help="Take the hyperparameters of this run (e.g. a trial's run) before applying --set.")
@click.option("--sets", default="", help="Overrides separated by spaces (for MLproject), e.g. 'a.b=1 c=2'.")
@click.option("--experiment-name", default=None, callback=_blank_is_none, help="MLflow experiment.")
@click.option("--storage", default=None, callback=_blank_is_none,
              help="With --from-run: the Optuna storage of the trial's study (default journal:optuna-journal.log).")
def train(recipe: str, overrides: tuple[str, ...], from_run: str | None, sets: str,
          experiment_name: str | None, storage: str | None) -> None:
    """Train and log one configuration of a RECIPE (every search value fixed, e.g. to reproduce a trial)."""
    from mltune.config.recipe import load_recipe

    parsed = load_recipe(recipe, [*sets.split(), *overrides])
    _quiet_libraries()
    from mltune.flows.train import train_configuration

    with tracking_errors():
        result = train_configuration(parsed, from_run=from_run, experiment_name=experiment_name, storage=storage,
                                     source=recipe)
    click.echo(f"run {result.run_id}: {result.metric}={result.value:.6g} after {result.epochs} epochs "
               f"({result.seconds:.1f}s); model at runs:/{result.run_id}/model")


@contextlib.contextmanager
def tracking_errors() -> Iterator[None]:
    """Turns MLflow's errors (server down, registry refusing) into :class:`TrackingError` (exit code 4)."""
    from mlflow.exceptions import MlflowException

    from mltune.errors import TrackingError, plain_message

    try:
        yield
    except MlflowException as error:
        raise TrackingError(f"MLflow: {plain_message(error.message)}") from error


@main.command()
@recipe_argument
@_apply(study_options)
@set_option
@output_option
@click.option("--run-key", default=None, callback=_blank_is_none,
              help="Idempotency key (e.g. the schedule's date): a rerun with the same key reports the first "
                   "result instead of tuning again.")
@click.option("--skip-if-unchanged", type=click.BOOL, is_flag=False, flag_value=True, default=False,
              callback=lambda ctx, param, value: bool(value),
              help="Do nothing when the data's fingerprint equals the champion's.")
def retune(recipe: str, n_trials: str | None, timeout: str | None, study_name: str | None, storage: str | None,
           experiment_name: str | None, quiet: bool, overrides: tuple[str, ...], output: str, run_key: str | None,
           skip_if_unchanged: bool) -> None:
    """Retune a RECIPE on today's data: warm start, fair gate against the champion, one JSON result."""
    with _reporting(output) as emit:
        from mltune.config.recipe import load_recipe

        parsed = load_recipe(recipe, overrides)
        _check_names(study_name, experiment_name)
        trials = _number(n_trials, "--n-trials", int)
        seconds = _number(timeout, "--timeout", float)
        _quiet_libraries()
        from mltune.flows.retune import retune as run_retune

        with tracking_errors():
            result = run_retune(parsed, run_key=run_key, skip_if_unchanged=skip_if_unchanged, n_trials=trials,
                                timeout=seconds, study_name=study_name, storage=storage,
                                experiment_name=experiment_name, source=recipe,
                                progress="quiet" if quiet else "auto")
        repeated = " (reported by an earlier run with this key)" if result.repeated else ""
        test = "" if result.challenger_score is None else \
            f"\ntest {result.metric}={result.challenger_score:.6g} on the held-out test split"
        warning = f"\nwarning: {result.warning}" if result.warning else ""
        emit(result.as_dict(),
             f"retune: {result.decision}{repeated} — {result.reason}\n"
             f"model {result.model_name}: champion v{result.champion_before} -> v{result.champion_after}"
             f"{test}{warning}")


@main.command()
@click.argument("model_name")
@click.option("--reason", default="", help="Why; written on both versions with who and when.")
@click.option("--storage", default=None, callback=_blank_is_none,
              help="The Optuna storage whose promotion lock guards this model (as given to tune/retune).")
@output_option
def rollback(model_name: str, reason: str, storage: str | None, output: str) -> None:
    """Move alias `champion` of MODEL_NAME back to the version with alias `previous`."""
    with _reporting(output) as emit:
        _quiet_libraries()
        from mltune.flows.promote import rollback as run_rollback

        with tracking_errors():
            result = run_rollback(model_name=model_name, reason=reason, storage=storage)
        emit(result.as_dict(), f"rollback: {model_name} champion v{result.champion_before} -> v{result.champion_after}")


@main.command()
@click.option("--storage", default=None, callback=_blank_is_none,
              help="Optuna storage: journal:PATH (default journal:optuna-journal.log) or a database URL.")
@output_option
def studies(storage: str | None, output: str) -> None:
    """List the studies in a storage: trials by state, best value, MLflow parent run."""
    with _reporting(output) as emit:
        from mltune.config.redaction import redact
        from mltune.runtime.storage import DEFAULT_STORAGE
        from mltune.views.report import list_studies, studies_text

        rows = list_studies(storage)
        payload = {"status": "ok", "storage": redact(storage or DEFAULT_STORAGE),
                   "studies": [row.as_dict() for row in rows]}
        emit(payload, studies_text(rows))


@main.command()
@click.option("--study-name", required=True, help="The study to report on (see `mltune studies`).")
@click.option("--storage", default=None, callback=_blank_is_none,
              help="Optuna storage: journal:PATH (default journal:optuna-journal.log) or a database URL.")
@click.option("--top", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many of the best complete trials to show.")
@output_option
def report(study_name: str, storage: str | None, top: int, output: str) -> None:
    """Show a study: trials by state, and its best complete trials with their hyperparameters and MLflow runs."""
    with _reporting(output) as emit:
        from mltune.views.report import study_report

        result = study_report(study_name, storage, top=top)
        emit({"status": "ok", **result.as_dict()}, result.to_text())


if __name__ == "__main__":  # pragma: no cover
    main()
