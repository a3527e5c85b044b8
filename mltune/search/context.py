"""One study's shared context, built once per command: recipe, rows, splits, space, tracker and ids."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import optuna
import yaml

from mltune import names
from mltune.config.recipe import Recipe, parse_recipe
from mltune.data import Splits, Table, for_table, load_table, make_splits
from mltune.errors import ConfigError
from mltune.names import (
    DATA_SOURCE_ATTR,
    EXPERIMENT_ATTR,
    OBJECTIVE_ATTR,
    PARENT_RUN_ATTR,
    RECIPE_YAML_ATTR,
    SCHEMA_ATTR,
)
from mltune.search.space import SearchSpace
from mltune.tracking.runs import Tracker


@dataclass(frozen=True)
class StudyContext:
    """What ``tune``, ``worker``, ``promote``, ``retune`` and every trial of a study share.

    Attributes:
        recipe: the study's recipe (Optuna keeps it: the study's ``mltune_recipe_yaml`` attribute).
        table: its rows, loaded and checked once.
        splits: the test, development and trial splits of those rows.
        space: the search space.
        tracker: the MLflow tracking store the study logs to.
        study_name: the Optuna study.
        storage: the Optuna storage URL (None for the default journal file).
        source: where the recipe came from, for messages.
        parent_run_id: the study's MLflow parent run, once opened.
        experiment_id: its experiment.
        dataset: the rows as an MLflow dataset input, recorded on the parent run and every trial run.
    """

    recipe: Recipe
    table: Table
    splits: Splits
    space: SearchSpace
    tracker: Tracker
    study_name: str
    storage: str | None = None
    source: str = "recipe"
    parent_run_id: str = ""
    experiment_id: str = ""
    dataset: Any = None

    @classmethod
    def load(cls, recipe: Recipe, *, study_name: str | None = None, storage: str | None = None,
             tracking_uri: str | None = None, source: str = "recipe", table: Table | None = None,
             existing: bool = False) -> StudyContext:
        """Loads and splits the recipe's rows (unless given) and describes them for MLflow once; ``existing``: the
        tracking store must exist already (see :class:`Tracker`).

        Raises:
            ConfigError: the data does not fit the recipe, or ``existing`` and there is no tracking database.
        """
        table = table or load_table(recipe, source=source)
        recipe = for_table(recipe, table)
        tracker = Tracker(tracking_uri, existing=existing)
        return cls(recipe=recipe, table=table, splits=make_splits(recipe, table, source=source),
                   space=SearchSpace.from_recipe(recipe), tracker=tracker,
                   study_name=study_name or recipe.study_name or recipe.name, storage=storage, source=source,
                   dataset=tracker.dataset_input(table, name=recipe.name))

    @classmethod
    def of_study(cls, study: optuna.Study, *, storage: str | None, tracking_uri: str | None = None) -> StudyContext:
        """The context of a study ``mltune tune`` set up, read from Optuna: its recipe, parent run and experiment.

        Raises:
            ConfigError: the study has no recipe or parent run (not made by ``mltune tune``, or its set-up did not
                finish), or its data no longer loads.
        """
        attrs = study.user_attrs
        raw = attrs.get(RECIPE_YAML_ATTR)
        if not raw and OBJECTIVE_ATTR in attrs:
            raise ConfigError(f"--study-name: study {study.study_name!r} was made by mltune.Tuner, which has no "
                              "recipe; promote it in Python with tuner.promote(model_name, test_data=(x, y))")
        if not raw or PARENT_RUN_ATTR not in attrs:
            missing = "parent run" if raw else "recipe"
            raise ConfigError(f"--study-name: study {study.study_name!r} has no {missing}: it was not made by "
                              "`mltune tune`, or its set-up did not finish (run `mltune tune` on it again)")
        source = f"study {study.study_name}"
        recipe = recipe_of(study)
        table = load_table(recipe, source=source)
        check_bound_data(study, table)
        context = cls.load(recipe, study_name=study.study_name, storage=storage, tracking_uri=tracking_uri,
                           source=source, table=table)
        return replace(context, parent_run_id=str(attrs[PARENT_RUN_ATTR]),
                       experiment_id=str(attrs[EXPERIMENT_ATTR]))

    def with_run(self, parent_run_id: str, experiment_id: str) -> StudyContext:
        return replace(self, parent_run_id=parent_run_id, experiment_id=experiment_id)

    def log_model_run(self, trial_number: int, *, role: str, params: dict[str, Any], model_fit: str, model: Any,
                      encoding: Any) -> str:
        """Logs a model made from a trial's configuration (a refit, an ensemble) as a run of its own, with its
        pyfunc model, under the study's parent run; returns the run's id."""
        run = self.tracker.start_run(experiment_id=self.experiment_id, run_name=f"{role}-trial-{trial_number}",
                                     params=params, tags={
                                         names.PARENT_RUN_ID: self.parent_run_id, names.ROLE: role,
                                         names.STUDY_NAME: self.study_name, names.TRIAL_NUMBER: trial_number,
                                         names.MODEL_FIT: model_fit})
        run.flush()
        self.tracker.log_model(run.run_id, model, encoding, input_example=self.table.features_frame().head(5))
        self.tracker.finish(run.run_id, "FINISHED")
        return run.run_id


def data_schema(table: Table) -> str:
    """The study's data schema as stored in Optuna: the target and each used feature's kind (JSON)."""
    return json.dumps({"target": table.target, "features": table.schema}, sort_keys=False)


def check_bound_data(study: optuna.Study, table: Table) -> None:
    """Refuses a table whose columns or kinds differ from the ones the study was made on.

    Raises:
        ConfigError: naming the study and the difference (columns missing, new, or of another kind).
    """
    stored = study.user_attrs.get(SCHEMA_ATTR)
    if not stored:  # a study made before studies were bound to their data
        return
    before, now = json.loads(stored), json.loads(data_schema(table))
    old, new = before.get("features", {}), now["features"]
    differences = []
    if before.get("target") != now["target"]:
        differences.append(f"target {before.get('target')!r} -> {now['target']!r}")
    if [c for c in new if c not in old]:
        differences.append(f"new columns {[c for c in new if c not in old]}")
    if [c for c in old if c not in new]:
        differences.append(f"missing columns {[c for c in old if c not in new]}")
    changed = [f"{c}: {old[c]} -> {new[c]}" for c in new if c in old and old[c] != new[c]]
    if changed:
        differences.append(f"other kinds {changed}")
    if differences:
        source = study.user_attrs.get(DATA_SOURCE_ATTR, "its data")
        raise ConfigError(f"--study-name: study {study.study_name!r} is bound to the columns of {source}, but "
                          f"{table.source} differs: {'; '.join(differences)} (give another --study-name, or "
                          "point data.path at a table like the first)")


def recipe_of(study: optuna.Study) -> Recipe:
    """The recipe a study was made with, as Optuna keeps it."""
    return parse_recipe(yaml.safe_load(study.user_attrs[RECIPE_YAML_ATTR]), source=f"study {study.study_name}")
