"""A real study on digits: nested runs, per-epoch metrics, true states, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from mltune.config.recipe import Recipe, load_recipe
from mltune.data import load_table
from mltune.errors import ConfigError
from mltune.flows.tune import tune
from mltune.names import ENQUEUED_ATTR, PARENT_RUN_ID, RUN_ID_ATTR
from mltune.runtime.storage import open_storage
from mltune.tracking.runs import Tracker

from .conftest import TINY

pytestmark = pytest.mark.slow


def runs_of(parent_run_id: str) -> list[Any]:
    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    found = client.search_runs([parent.info.experiment_id], filter_string=f"tags.`{PARENT_RUN_ID}` = '{parent_run_id}'")
    return sorted(found, key=lambda r: int(r.data.tags["mltune.trial_number"]))


def test_three_trials_are_nested_runs_with_params_and_epoch_metrics(storage: str) -> None:
    recipe = load_recipe(TINY)
    result = tune(recipe, storage=storage, study_name="s")

    client = MlflowClient()
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert PARENT_RUN_ID not in parent.data.tags
    assert parent.data.params["sampler"] == "random" and parent.data.params["metric"] == "accuracy"
    assert parent.data.metrics["n_complete"] == 3
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"recipe.yaml", "trials.csv",
                                                                            "best_params.json"}
    fingerprint = load_table(recipe).fingerprint
    assert [d.dataset.digest for d in parent.inputs.dataset_inputs] == [fingerprint]
    children = runs_of(result.parent_run_id)
    assert [r.info.run_name for r in children] == ["trial-0", "trial-1", "trial-2"]
    study = optuna.load_study(study_name="s", storage=open_storage(storage))
    for run, trial in zip(children, study.trials, strict=True):
        assert run.info.status == "FINISHED"
        assert run.data.tags["mltune.trial_state"] == "COMPLETE"
        assert trial.user_attrs[RUN_ID_ATTR] == run.info.run_id
        assert run.data.tags["mltune.study_name"] == "s"
        for name, value in trial.params.items():
            assert run.data.params[name] == str(value)
        assert run.data.params["epochs"] == "2" and run.data.params["batch_size"] == "64"  # fixed values
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 2]
        assert run.data.metrics["objective"] == pytest.approx(trial.value)
        assert [d.dataset.digest for d in run.inputs.dataset_inputs] == [fingerprint]
        assert run.data.metrics["training_time_s"] > 0
    best = client.get_run(parent.data.tags["mltune.best_run_id"])
    assert best.data.tags["mltune.trial_number"] == str(study.best_trial.number)
    # The model is saved once, as the pyfunc model that is registered, with the Keras model inside it.
    assert [a.path for a in client.list_artifacts(best.info.run_id)] == ["model", "plots"]
    assert {"model/MLmodel", "model/summary.txt"} <= {a.path for a in client.list_artifacts(best.info.run_id, "model")}
    saved = {a.path for a in client.list_artifacts(best.info.run_id, "model/artifacts")}
    assert saved == {"model/artifacts/model.keras", "model/artifacts/encoding.json"}
    assert {a.path for a in client.list_artifacts(best.info.run_id, "plots")} == {
        "plots/learning_curve.png", "plots/confusion_matrix.png"}
    for other in (r for r in children if r.info.run_id != best.info.run_id):  # one model saved per study
        assert [a.path for a in client.list_artifacts(other.info.run_id)] == ["plots"]
        assert [a.path for a in client.list_artifacts(other.info.run_id, "plots")] == ["plots/learning_curve.png"]
    study_plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/optimization_history.png", "plots/study_plots.html"} <= study_plots

    # Same study name and storage: the study resumes under the same parent run and adds what is missing.
    again = tune(recipe, storage=storage, study_name="s", n_trials=4)
    assert again.parent_run_id == result.parent_run_id
    assert [r.info.run_name for r in runs_of(result.parent_run_id)] == [f"trial-{i}" for i in range(4)]
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"


def enqueue(storage: str, name: str, recipe: Recipe, rows: list[dict[str, Any]]) -> None:
    study = optuna.create_study(storage=open_storage(storage), study_name=name, direction=recipe.direction)
    for row in rows:
        study.enqueue_trial(row, user_attrs={ENQUEUED_ATTR: "test"})


def test_an_experiment_another_process_creates_meanwhile_is_reused(workdir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Two jobs started together both find no experiment, then both create it: the second gets
    # RESOURCE_ALREADY_EXISTS from the store and must use the first one's experiment instead of failing.
    tracker, other = Tracker(), MlflowClient()
    lookup = tracker.client.get_experiment_by_name

    def lookup_then_lose_the_race(name: str) -> Any:
        found = lookup(name)
        monkeypatch.setattr(tracker.client, "get_experiment_by_name", lookup)
        other.create_experiment(name)
        return found

    monkeypatch.setattr(tracker.client, "get_experiment_by_name", lookup_then_lose_the_race)
    assert tracker.experiment_id("raced") == other.get_experiment_by_name("raced").experiment_id


def test_diverging_trial_is_failed_and_the_study_goes_on(storage: str) -> None:
    recipe = load_recipe(TINY, ["search.optimizer=sgd", "search.momentum=0.99", "search.n_layers=1",
                                "search.learning_rate={type: categorical, choices: [0.005, 10.0]}"])
    enqueue(storage, "nan", recipe, [{"learning_rate": 0.005}, {"learning_rate": 10.0}, {"learning_rate": 0.005}])
    result = tune(recipe, storage=storage, study_name="nan")

    assert result.counts == {"COMPLETE": 2, "FAIL": 1}
    runs = runs_of(result.parent_run_id)
    assert [r.info.status for r in runs] == ["FINISHED", "FAILED", "FINISHED"]
    assert runs[1].data.tags["mltune.trial_state"] == "FAIL"
    assert "loss became nan" in runs[1].data.tags["mltune.error"]
    assert runs[1].data.tags["mltune.enqueued"] == "test"


def test_pruned_trial_is_killed(storage: str) -> None:
    recipe = load_recipe(TINY, ["search.epochs=3", "search.optimizer=adam", "search.n_layers=1",
                                "pruner={name: median, n_startup_trials: 1, n_warmup_steps: 0}",
                                "search.learning_rate={type: categorical, choices: [0.01, 0.000001]}"])
    enqueue(storage, "prune", recipe, [{"learning_rate": 0.01}, {"learning_rate": 0.000001}])
    result = tune(recipe, storage=storage, study_name="prune", n_trials=2)

    runs = runs_of(result.parent_run_id)
    assert [r.info.status for r in runs] == ["FINISHED", "KILLED"]
    assert runs[1].data.tags["mltune.trial_state"] == "PRUNED"
    assert runs[1].data.tags["mltune.pruned"].startswith("pruned at epoch 1")
    assert [m.step for m in MlflowClient().get_metric_history(runs[1].info.run_id, "val_accuracy")] == [1]


def test_cross_validation_logs_every_fold(storage: str) -> None:
    recipe = load_recipe(Path(TINY).parent.parent.parent / "recipes" / "diabetes_regression.yaml",
                         ["split.folds=3", "search.epochs=2", "budget.n_trials=1"])
    result = tune(recipe, storage=storage, study_name="cv")

    (run,) = runs_of(result.parent_run_id)
    client = MlflowClient()
    for k in range(3):
        assert [m.step for m in client.get_metric_history(run.info.run_id, f"fold_{k}/val_rmse")] == [1, 2]
    folds = client.get_metric_history(run.info.run_id, "fold_val_rmse")
    assert [m.step for m in folds] == [0, 1, 2]
    assert run.data.metrics["objective"] == pytest.approx(sum(m.value for m in folds) / 3)
    assert run.data.metrics["cv_std_val_rmse"] >= 0


def test_each_fold_is_encoded_once_for_all_trials(storage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mltune.model.training as training

    encoded: list[int] = []
    encoding_for = training.encoding_for
    monkeypatch.setattr(training, "encoding_for", lambda r, t, fold: encoded.append(len(fold.train))
                        or encoding_for(r, t, fold))
    described: list[int] = []
    numeric_statistics = training.numeric_statistics
    monkeypatch.setattr(training, "numeric_statistics", lambda x: described.append(len(x)) or numeric_statistics(x))
    recipe = load_recipe(Path(TINY).parent.parent.parent / "recipes" / "diabetes_regression.yaml",
                         ["split.folds=2", "search.epochs=1", "pruner=none"])
    result = tune(recipe, storage=storage, study_name="cv", n_trials=3)

    assert result.counts == {"COMPLETE": 3}
    assert len(encoded) == 2  # one per fold; the second and third trials train on the first's arrays
    assert described == encoded  # and build their models on its numeric statistics


def test_a_tie_keeps_the_earlier_trials_model() -> None:
    from mltune.search.objective import beats_best

    study = optuna.create_study(direction="maximize")
    assert beats_best(study, 0.5, "maximize")  # nothing complete yet
    study.add_trial(optuna.trial.create_trial(value=0.9, params={}, distributions={}))
    study.add_trial(optuna.trial.create_trial(value=0.9, params={}, distributions={}))
    assert study.best_trial.number == 0  # the model kept must be trial 0's
    assert not beats_best(study, 0.9, "maximize")
    assert beats_best(study, 0.91, "maximize")
    assert beats_best(study, 0.2, "minimize") and not beats_best(study, 0.9, "minimize")


def test_training_leaves_no_traced_step_behind() -> None:
    """TensorFlow registers a gradient function per traced training step, holding its graph, for good
    (tensorflow/tensorflow#27492): ~8 MB a trial before `fit_fold` dropped them."""
    from tensorflow.python.framework import ops

    from mltune.data import make_splits
    from mltune.model.training import fit_fold
    from mltune.search.space import SearchSpace

    recipe = load_recipe(TINY)
    table = load_table(recipe)
    fold = make_splits(recipe, table).folds[0]
    space, study = SearchSpace.from_recipe(recipe), optuna.create_study()
    sizes = []
    for seed in range(3):
        fit_fold(recipe=recipe, params=space.sample(study.ask()), table=table, fold=fold, seed=seed)
        sizes.append(len(ops.gradient_registry._registry))
    assert sizes[0] == sizes[1] == sizes[2], sizes


def test_batches_cover_every_row_once_per_epoch_in_a_new_order_without_autotuning() -> None:
    """`fit` gets this pipeline, not Keras' own: the autotuner thread of that one idled a third of a trial."""
    import numpy as np

    from mltune.model.training import batches

    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.float32)
    dataset = batches(x, y, 4, shuffle_seed=7)
    assert dataset.options().autotune.enabled is False
    epochs = [[(bx.numpy(), by.numpy()) for bx, by in dataset] for _ in range(2)]
    for epoch in epochs:
        assert [len(by) for _, by in epoch] == [4, 4, 2]
        order = np.concatenate([by for _, by in epoch])
        assert sorted(order) == list(range(10))
        assert all((bx[:, 0] == 2 * by).all() for bx, by in epoch)  # features stay with their target
    first, second = (np.concatenate([by for _, by in epoch]) for epoch in epochs)
    assert list(first) != list(second)
    again = np.concatenate([by for _, by in batches(x, y, 4, shuffle_seed=7)])
    assert list(again) == list(first)  # the same seed, the same order
    assert list(np.concatenate([by for _, by in batches(x, y, 4)])) == list(range(10))  # validation: in order


def test_a_new_study_starts_with_the_search_spaces_defaults(storage: str) -> None:
    recipe = load_recipe(TINY, ["search.epochs=1", "search.learning_rate.default=0.002",
                                "search.optimizer.default=adam", "budget.n_trials=2"])
    result = tune(recipe, storage=storage, study_name="defaults")

    first, second = optuna.load_study(study_name="defaults", storage=open_storage(storage)).trials
    assert first.params["learning_rate"] == 0.002 and first.params["optimizer"] == "adam"
    assert first.user_attrs[ENQUEUED_ATTR] == "the search space's defaults"
    assert ENQUEUED_ATTR not in second.user_attrs
    assert runs_of(result.parent_run_id)[0].data.tags["mltune.enqueued"] == "the search space's defaults"


def test_wilcoxon_stops_a_worse_configuration_between_folds(storage: str) -> None:
    recipe = load_recipe(Path(TINY).parent.parent.parent / "recipes" / "diabetes_regression.yaml", [
        "split.folds=3", "search.epochs=3", "search.batch_size=32", "search.optimizer=adam",
        "pruner={name: wilcoxon, p_threshold: 0.3, n_startup_steps: 0}",
        "search.learning_rate={type: categorical, choices: [0.01, 0.000001]}"])
    enqueue(storage, "wilcoxon", recipe, [{"learning_rate": 0.01}, {"learning_rate": 0.000001}])
    result = tune(recipe, storage=storage, study_name="wilcoxon", n_trials=2)

    good, bad = optuna.load_study(study_name="wilcoxon", storage=open_storage(storage)).trials
    assert good.state.name == "COMPLETE" and sorted(good.intermediate_values) == [0, 1, 2]
    assert bad.state.name == "PRUNED" and sorted(bad.intermediate_values) == [0, 1]  # its third fold never trained
    run = runs_of(result.parent_run_id)[1]
    assert run.data.tags["mltune.pruned"].startswith("pruned after fold 2 of 3")


def test_wilcoxon_needs_folds() -> None:
    with pytest.raises(ConfigError, match=r"pruner.name: .wilcoxon. compares trials fold by fold and needs "
                                          r"`split.folds` >= 2, but got folds=None"):
        load_recipe(TINY, ["pruner=wilcoxon"])
