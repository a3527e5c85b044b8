"""Every name mltune writes where others read it: MLflow tags, registry aliases and tags, Optuna attributes.

They are part of the interface (pipelines, the UI's searches and earlier releases read them), so each is spelled
here and only here. Importing this module imports nothing.
"""

from __future__ import annotations

# ---------------------------------------------------------------- MLflow run tags

PARENT_RUN_ID = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
STUDY_NAME = "mltune.study_name"
ROLE = "mltune.role"
"""``study``, ``trial`` or ``train``."""
ROLE_DETAIL = "mltune.role_detail"
TRIAL_NUMBER = "mltune.trial_number"
TRIAL_STATE = "mltune.trial_state"
ERROR = "mltune.error"
"""A failed trial's run: its error, one line. A study's parent run that ended FAILED: why."""
TRACEBACK_ARTIFACT = "traceback.txt"
"""A failed trial's run: the artifact with the error's full traceback (the console shows one line)."""
PRUNED = "mltune.pruned"
ENQUEUED = "mltune.enqueued"
FROM_RUN = "mltune.from_run"
MODEL_FIT = "mltune.model_fit"
BEST_RUN_ID = "mltune.best_run_id"
BEST_TRIAL = "mltune.best_trial"
BEST_PARAM_PREFIX = "mltune.best."
STORAGE = "mltune.storage"
RECIPE = "mltune.recipe"
STUDY_PARENT_RUN_ID = "mltune.study_parent_run_id"
RUN_KEY = "mltune.run_key"
BASELINE_RUN_ID = "mltune.baseline_run_id"
"""Parent run: the tree baseline's run (``mltune.role=baseline``) beside the study."""
HYPERMODEL = "mltune.hypermodel"
"""Parent run of a :class:`~mltune.flows.tuner.Tuner` study: the ``build_model`` or HyperModel it tuned."""
OBJECTIVE = "mltune.objective"
"""Parent run of a Tuner study: the objective, ``name (direction)``."""
LOGGED_MODEL_VERSIONS = "mlflow.modelVersions"
"""MLflow 3 logged model tag: the registered versions made from it (JSON list of ``{"name", "version"}``), as
``mlflow.register_model`` writes it and the UI reads it."""
SOURCE = "mltune.source"
"""Dataset source tag of a bundled scikit-learn dataset."""

PROMOTION_DECISION = "mltune.promotion.decision"
PROMOTION_REASON = "mltune.promotion.reason"
PROMOTION_WARNING = "mltune.promotion.warning"
PROMOTION_MODEL = "mltune.promotion.model"
PROMOTION_CHAMPION_BEFORE = "mltune.promotion.champion_before"
PROMOTION_CHAMPION_AFTER = "mltune.promotion.champion_after"

# ---------------------------------------------------------------- registry: aliases and model-version tags

CHAMPION, CHALLENGER, PREVIOUS, ROLLED_BACK = "champion", "challenger", "previous", "rolled_back"

VERSION_RUN_ID = "mltune.run_id"
VERSION_PARENT_RUN_ID = "mltune.parent_run_id"
VERSION_METRIC = "mltune.metric"
DATA_FINGERPRINT = "mltune.data_fingerprint"
DECISION = "mltune.decision"
DECISION_REASON = "mltune.decision.reason"
DECISION_PARENT_RUN_ID = "mltune.decision.parent_run_id"
DECISION_CHALLENGER_SCORE = "mltune.decision.challenger_score"
DECISION_CHAMPION_SCORE = "mltune.decision.champion_score"
RESCORED_DATA_FINGERPRINT = "mltune.rescored_data_fingerprint"
CHALLENGED_BY = "mltune.challenged_by"
ROLLBACK_RESTORED = "mltune.rollback.restored"
ROLLBACK_REMOVED = "mltune.rollback.removed"


def score_tag(metric: str) -> str:
    """Model-version tag with the version's score on its study's test split."""
    return f"mltune.test_{metric}"


def rescored_tag(metric: str) -> str:
    """Model-version tag with a champion's score re-measured on a challenger's test split."""
    return f"mltune.rescored_test_{metric}"


MODEL_COLUMNS_METADATA = "mltune_columns"
"""MLmodel metadata of a table model: each column's name, kind, reason, order, raw type and whether it had empty
cells in training."""


# ---------------------------------------------------------------- Python entry points

FAMILIES_ENTRY_POINT_GROUP = "mltune.families"
"""Installed packages register model families under this group (``[project.entry-points."mltune.families"]``)."""

# ---------------------------------------------------------------- Optuna study and trial user attributes
# The contract between the process that makes a study and the workers, retunes and reports that read it.

PARENT_RUN_ATTR = "mlflow_parent_run_id"
"""Study: the MLflow parent run every trial run nests under."""
EXPERIMENT_ATTR = "mlflow_experiment_id"
"""Study: the MLflow experiment of its runs."""
RECIPE_ATTR = "mltune_recipe"
"""Study: the recipe's name, so that a retune finds the earlier studies of its recipe."""
RECIPE_YAML_ATTR = "mltune_recipe_yaml"
"""Study: the resolved recipe, the source of truth for workers, promotion and retunes."""
RETUNE_RESULT_ATTR = "mltune_retune_result"
"""Study: a retune's result, returned again for a repeated run key."""
REFIT_ATTR = "mltune_refit"
"""Study: the run of its best configuration refitted on all development rows (``promotion.refit``)."""
ENSEMBLE_ATTR = "mltune_ensemble"
"""Study: the run of its best configuration's ensemble (``promotion.ensemble``): trial, size and run."""
BASELINE_ATTR = "mltune_baseline"
"""Study: the tree baseline's test score, estimator and run."""
RUN_ID_ATTR = "mlflow_run_id"
"""Trial: its MLflow run."""
ENQUEUED_ATTR = "mltune_enqueued"
"""Trial (given to ``study.enqueue_trial``): why it was queued, e.g. a warm start."""
BEST_EPOCH_ATTR = "mltune_best_epoch"
"""Trial whose steps are folds (``wilcoxon``): its folds' best epochs, averaged (a refit trains that many)."""
WORKER_ATTR = "mltune_worker"
"""Trial: ``host:pid`` of the process running it."""
HP_VALUES_ATTR = "mltune_hp_values"
"""Trial of a Tuner study: every active ``hp`` value, ``Fixed`` ones included (JSON), for ``build_model(hp)``."""
TRIAL_ID_ATTR = "mltune_trial_id"
"""Trial of a Tuner study: its KerasTuner id (``"03"``), fixed when it starts, as KerasTuner's is (padded to the
digits of ``max_trials`` then, whatever a resumed search's ``max_trials`` is)."""
BUILD_CONFIG_ATTR = "mltune_build_config"
"""Trial of a Tuner study: the input shapes ``fit`` built its model with (Keras' ``get_build_config``, JSON), to
rebuild a model that declares no ``Input`` (KerasTuner's ``Sequential([Flatten(), ...])``) before loading weights."""
OBJECTIVE_ATTR = "mltune_objective"
"""Study made by a Tuner: its objective's name (its direction is the study's)."""
SCHEMA_ATTR = "mltune_feature_schema"
"""Study: its data's feature columns and their kinds (``{"target": ..., "features": {name: kind}}``), the schema
every resume, worker and promotion must find again."""
DATA_FINGERPRINT_ATTR = "mltune_data_fingerprint"
"""Study: the fingerprint of the rows it was made on."""
DATA_SOURCE_ATTR = "mltune_data_source"
"""Study: the file (or bundled dataset) it was made on; a template run on another file gets its own study."""
TEST_SCORE_ATTR = "mltune_test_score"
"""Study: its last promotion's test score (JSON: metric, value, validation value, model, version, decision)."""
