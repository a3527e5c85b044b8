"""The commands as Python functions: ``mltune.tune(recipe, ...)`` and ``mltune.promote(...)``.

Thin: each takes what its command takes (a recipe path or a parsed :class:`~mltune.config.recipe.Recipe`,
``overrides`` for ``--set``) and calls the flow the command calls, returning its result object instead of
printing it. Errors are the same :class:`~mltune.errors.MltuneError` subclasses the commands report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mltune.config.recipe import Recipe
    from mltune.flows.promote import PromotionResult
    from mltune.flows.tune import StudyResult
    from mltune.views.progress import ProgressMode


def tune(recipe: str | Path | Recipe, *, overrides: Sequence[str] = (), n_trials: int | None = None,
         timeout: float | None = None, study_name: str | None = None, storage: str | None = None,
         experiment_name: str | None = None, tracking_uri: str | None = None, workers: int | None = None,
         progress: ProgressMode = "quiet") -> StudyResult:
    """Runs (or resumes) a recipe's study, as ``mltune tune RECIPE`` does.

    Args:
        recipe: a recipe file, or a recipe already loaded (:func:`mltune.config.recipe.load_recipe`).
        overrides: ``KEY=VALUE`` strings, as ``--set`` takes them (a path only).
        n_trials: the study's total (a rerun resumes it and runs only the missing trials).
        timeout: seconds after which no new trial starts.
        study_name: defaults to the recipe's name.
        storage: ``journal:PATH`` or a database URL (default ``journal:optuna-journal.log``).
        experiment_name: the MLflow experiment.
        tracking_uri: the MLflow tracking URI (default: MLflow's own choice).
        workers: run the trials in this many supervised processes.
        progress: ``auto``, ``bar``, ``lines`` or ``quiet`` (the default here).

    Returns:
        The study's result: its parent run, best value, trial and parameters, and counts by state.

    Raises:
        ConfigError: the recipe, an override, the data or an option breaks a rule (nothing is written).
    """
    from mltune.flows.tune import tune as run_study

    parsed = _recipe(recipe, overrides)
    return run_study(parsed, n_trials=n_trials, timeout=timeout, study_name=study_name, storage=storage,
                     experiment_name=experiment_name, tracking_uri=tracking_uri, workers=workers,
                     progress=progress, source=str(recipe) if isinstance(recipe, (str, Path)) else "recipe")


def promote(*, study_name: str | None = None, storage: str | None = None, run_id: str | None = None,
            tracking_uri: str | None = None) -> PromotionResult:
    """Promotes a study's best model behind the champion/challenger gate, as ``mltune promote`` does.

    Give the study by name (with its storage) or by its parent run id.

    Raises:
        NoCompleteTrial: the study has no completed trial.
        ConfigError: no such study or run.
    """
    from mltune.flows.promote import promote as run_promotion

    return run_promotion(study_name=study_name, storage=storage, run_id=run_id, tracking_uri=tracking_uri)


def _recipe(recipe: str | Path | Recipe, overrides: Sequence[str]) -> Recipe:
    from mltune.config.recipe import Recipe, load_recipe
    from mltune.errors import ConfigError

    if isinstance(recipe, Recipe):
        if overrides:
            raise ConfigError("overrides: apply them when loading the recipe (load_recipe(path, overrides)), "
                              f"but got a loaded recipe with overrides={list(overrides)}")
        return recipe
    return load_recipe(recipe, overrides)
