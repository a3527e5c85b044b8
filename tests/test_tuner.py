"""``mltune.Tuner``: a KerasTuner build function, trials as nested runs, best models, promotion, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient

import mltune
from mltune.errors import ConfigError, NoCompleteTrial, SearchFailed
from mltune.search.oracles import hyperband_configurations

from .jobs import finish_all, with_stacks
from .servers import free_port

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "keras_tuner_migration" / "mltune_digits.py"


def _digits(n_train: int = 360, n_val: int = 120) -> tuple[Any, ...]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target
    return x[:n_train], y[:n_train], x[n_train:n_train + n_val], y[n_train:n_train + n_val], x[-200:], y[-200:]


def build_model(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 24, step=8),
                                                                     activation=hp.Choice("act", ["relu", "tanh"]))])
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 3e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _tuner(storage: str, build: Any = build_model, **options: Any) -> mltune.Tuner:
    return mltune.Tuner(build, **{"objective": "val_accuracy", "max_trials": 2, "study_name": "t", "storage": storage,
                                  "sampler": "random", "pruner": "none", "progress": "quiet", **options})


def _trial_runs(client: MlflowClient, parent: str) -> list[Any]:
    runs = client.search_runs([client.get_run(parent).info.experiment_id],
                              filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    return sorted(runs, key=lambda r: int(r.data.tags["mltune.trial_number"]))


def test_keras_tuner_script_runs_unchanged_but_for_the_import(workdir: Path) -> None:
    """The issue's "done when": 5 trials as nested runs with hp params and epoch metrics, a best model that scores
    on test rows, and a registered `champion` that predicts in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}
    done = subprocess.run([sys.executable, str(EXAMPLE)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Downloading artifacts" not in done.stderr  # MLflow's progress bar is for terminals, not scripts' logs
    accuracy = float(done.stdout.split("test accuracy of the best model: ")[1].split()[0])
    assert accuracy > 0.5
    assert "registered digits-cnn version 1: no version of 'digits-cnn' held alias 'champion'" in done.stdout
    assert "Search space summary" in done.stdout and "Trial 0 summary" in done.stdout  # max_trials=5: one digit

    client = MlflowClient()
    experiment = client.get_experiment_by_name("digits_cnn")
    parents = client.search_runs([experiment.experiment_id], filter_string="tags.`mltune.role` = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trials = _trial_runs(client, parents[0].info.run_id)
    assert len(trials) == 5
    for run in trials:
        assert run.info.status in ("FINISHED", "KILLED")
        assert {"conv_blocks", "filters_0", "activation", "units", "dropout", "lr"} <= set(run.data.params)
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1, 2][:len(history)] and history
    assert parents[0].data.tags["mltune.best_run_id"] in {r.info.run_id for r in trials}

    version = client.get_model_version_by_alias("digits-cnn", "champion")
    assert str(version.version) == "1"
    check = ("import mlflow, numpy as np, sklearn.datasets as d; digits = d.load_digits(); "
             "x = (digits.images / 16.0).astype('float32')[..., None]; "
             "model = mlflow.pyfunc.load_model('models:/digits-cnn@champion'); p = model.predict(x[-300:]); "
             "print(p.shape, float((p.argmax(1) == digits.target[-300:]).mean()), "
             "model.metadata.get_input_schema().inputs[0].shape)")
    fresh = subprocess.run([sys.executable, "-c", check], cwd=workdir, env=env, capture_output=True, text=True,
                           timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert fresh.stdout.strip().startswith("(300, 10) ")
    assert float(fresh.stdout.split()[2]) > 0.5 and fresh.stdout.strip().endswith("(-1, 8, 8, 1)")

    # `mlflow models serve` takes the images as the Keras model does, as tensor inputs.
    from sklearn.datasets import load_digits

    from .test_promotion import _post_when_up

    images = (load_digits().images[:3] / 16.0)[..., None].tolist()
    port = free_port()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    server = subprocess.Popen(["mlflow", "models", "serve", "-m", "models:/digits-cnn@champion", "--env-manager",
                               "local", "--host", "127.0.0.1", "--port", str(port)], cwd=workdir,
                              env={**env, "PATH": path}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = _post_when_up(f"http://127.0.0.1:{port}", {"inputs": images})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert np.asarray(answer["predictions"]).shape == (3, 10)


def test_trials_nest_with_params_epochs_states_and_the_best_model(workdir: Path, storage: str) -> None:
    x, y, xv, yv, xt, yt = _digits()
    tuner = _tuner(storage, max_trials=3)
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), batch_size=64, verbose=0)
    client = MlflowClient()
    trials = _trial_runs(client, tuner.parent_run_id)
    assert [r.info.status for r in trials] == ["FINISHED"] * 3
    assert all(set(r.data.params) == {"units", "act", "lr"} for r in trials)
    assert all(r.data.tags["mltune.trial_state"] == "COMPLETE" for r in trials)
    assert len(client.get_metric_history(trials[0].info.run_id, "val_loss")) == 2
    assert client.get_run(tuner.parent_run_id).info.status == "FINISHED"

    best_hp = tuner.get_best_hyperparameters(1)[0]
    study_best = tuner.study.best_trial
    assert best_hp.values == study_best.params
    models = tuner.get_best_models(2)
    assert all(m.optimizer is not None for m in models)
    accuracy = models[0].evaluate(xv, yv, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(study_best.value, abs=1e-6)  # the best epoch's weights
    rebuilt = build_model(best_hp)
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in models[0].get_weights()]

    # A fresh Tuner on the same study reads the best model back from MLflow.
    again = _tuner(storage, max_trials=3)
    reloaded = again.get_best_models(1)[0]
    np.testing.assert_allclose(reloaded.predict(xt, verbose=0), models[0].predict(xt, verbose=0), atol=1e-5)

    version = tuner.promote("tiny", test_data=(xt, yt))
    assert version == "1" and tuner.promotion is not None and tuner.promotion.decision == "first champion"
    assert tuner.promote("tiny", test_data=(xt, yt)) == "1"
    assert tuner.promotion.decision == "already champion"
    assert client.get_model_version_by_alias("tiny", "champion").tags["mltune.study_name"] == "t"
    with pytest.raises(ConfigError, match="study 't' was made by mltune.Tuner, which has no recipe; promote it"):
        mltune.promote(study_name="t", storage=storage)


def test_resume_runs_only_the_missing_trials_under_the_same_parent(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(200, 80)
    first = _tuner(storage, max_trials=1)
    first.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    second = _tuner(storage, max_trials=2)
    second.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert second.parent_run_id == first.parent_run_id
    assert len(second.study.trials) == 2
    assert len(_trial_runs(MlflowClient(), first.parent_run_id)) == 2
    first_lr, second_lr = (t.params["lr"] for t in second.study.trials)
    assert second_lr != first_lr  # the resumed run's sampler is seeded anew: not the first run's draw again
    # a trial keeps the id it started with (KerasTuner's, padded to max_trials then): its folder and weights too
    kept = {"directory": str(workdir / "kt"), "study_name": "ids"}
    _tuner(storage, max_trials=2, **kept).search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    third = _tuner(storage, max_trials=10, **kept)
    third.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert sorted(third.oracle.trials, key=int) == ["0", "1", *(f"{n:02d}" for n in range(2, 10))]
    assert len(third.get_best_models(10)) == 10
    assert third.load_model(third.oracle.get_trial("1")).count_params() > 0


LAYERS = """
import keras


@keras.saving.register_keras_serializable(package="mine")
class Doubled(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x
"""


def test_custom_layers_ship_with_the_registered_model(workdir: Path, storage: str, tmp_path_factory: Any) -> None:
    code = tmp_path_factory.mktemp("code")
    (code / "my_layers.py").write_text(LAYERS)
    sys.path.insert(0, str(code))
    try:
        import my_layers
    finally:
        sys.path.remove(str(code))

    def build(hp: Any) -> keras.Model:
        model = keras.Sequential([keras.Input((64,)), my_layers.Doubled(), keras.layers.Dense(10, "softmax")])
        model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-2, sampling="log")),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y, xv, yv, xt, yt = _digits(200, 80)
    tuner = _tuner(storage, build=build, max_trials=1, code_paths=[str(code / "my_layers.py")])
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert tuner.promote("custom", test_data=(xt, yt)) == "1"
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # my_layers.py is not importable from here
    check = ("import mlflow, numpy as np; m = mlflow.pyfunc.load_model('models:/custom@champion'); "
             "print(m.predict(np.zeros((2, 64), dtype='float32')).shape)")
    fresh = subprocess.run([sys.executable, "-c", check], cwd=elsewhere, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": ""})
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert fresh.stdout.strip().splitlines()[-1] == "(2, 10)"


def test_executions_per_trial_average_their_best_values(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(200, 80)
    tuner = _tuner(storage, max_trials=1, executions_per_trial=2)
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    client = MlflowClient()
    run = _trial_runs(client, tuner.parent_run_id)[0]
    first = max(m.value for m in client.get_metric_history(run.info.run_id, "val_accuracy"))
    second = max(m.value for m in client.get_metric_history(run.info.run_id, "execution_1/val_accuracy"))
    assert tuner.study.trials[0].value == pytest.approx((first + second) / 2)
    assert run.data.metrics["objective"] == pytest.approx((first + second) / 2)
    # KerasTuner's trial.metrics names the training's metrics once, not each execution's copy
    assert sorted(tuner.oracle.get_best_trials(1)[0].metrics.metrics) == ["accuracy", "loss", "val_accuracy",
                                                                           "val_loss"]


def test_pruned_trials_are_killed_runs(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(200, 80)
    tuner = _tuner(storage, max_trials=2, pruner=optuna.pruners.ThresholdPruner(lower=1.1))
    tuner.search(x, y, epochs=3, validation_data=(xv, yv), verbose=0)
    runs = _trial_runs(MlflowClient(), tuner.parent_run_id)
    assert [r.info.status for r in runs] == ["KILLED", "KILLED"]
    assert all(r.data.tags["mltune.pruned"].startswith("pruned at epoch 1 with val_accuracy=") for r in runs)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in tuner.study.trials)


class DenseHyperModel(mltune.HyperModel):
    """A HyperModel whose fit tunes the batch size too (KerasTuner's documented pattern)."""

    def build(self, hp: Any) -> keras.Model:
        return build_model(hp)

    def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)


SCRIPT = """
import sys
import keras, numpy as np, mltune
from sklearn.datasets import load_digits

def build_model(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 24, step=8)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 3e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target
tuner = mltune.Tuner(build_model, max_trials=4, study_name="shared", storage=sys.argv[1], sampler="random",
                     pruner="none", seed=int(sys.argv[2]), progress="quiet")
tuner.search(x[:200], y[:200], epochs=1, validation_data=(x[200:280], y[200:280]), verbose=0)
print(tuner.parent_run_id)
"""


def test_the_same_script_in_two_processes_shares_one_study_and_parent_run(workdir: Path, storage: str) -> None:
    MlflowClient().search_experiments()  # the tracking database exists before two processes open it
    (workdir / "job.py").write_text(SCRIPT)
    env = with_stacks({**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1"})
    jobs = [subprocess.Popen([sys.executable, "job.py", storage, str(seed)], cwd=workdir, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for seed in (0, 1)]
    outputs = finish_all(jobs)
    assert [code for code, _, _ in outputs] == [0, 0], [err[-2000:] for _, _, err in outputs]
    parents = {out.strip().splitlines()[-1] for _, out, _ in outputs}
    assert len(parents) == 1
    study = optuna.load_study(study_name="shared", storage=mltune_storage(storage))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4  # the budget is the study's, not each job's
    assert len(_trial_runs(MlflowClient(), parents.pop())) == 4


def test_sigterm_fails_the_running_trial_and_leaves_nothing_running(workdir: Path, storage: str) -> None:
    import signal
    import time

    MlflowClient().search_experiments()
    (workdir / "job.py").write_text(SCRIPT.replace("epochs=1,", "epochs=100000,"))
    job = subprocess.Popen([sys.executable, "job.py", storage, "0"], cwd=workdir, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        try:
            study = optuna.load_study(study_name="shared", storage=mltune_storage(storage))
            if study.trials and study.trials[0].user_attrs.get("mlflow_run_id"):
                break
        except KeyError:
            pass
        time.sleep(0.5)
    time.sleep(2.0)  # inside fit
    job.send_signal(signal.SIGTERM)
    job.communicate(timeout=60)
    assert job.returncode != 0
    trial = optuna.load_study(study_name="shared", storage=mltune_storage(storage)).trials[0]
    assert trial.state == optuna.trial.TrialState.FAIL
    run = MlflowClient().get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["mltune.error"] == "interrupted: stopped by SIGTERM"
    parent = MlflowClient().get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "KILLED"


def mltune_storage(url: str) -> Any:
    from mltune.runtime.storage import open_storage

    return open_storage(url)


class Batches(keras.utils.PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, size: int = 32) -> None:
        super().__init__()
        self.x, self.y, self.size = x, y, size

    def __len__(self) -> int:
        return -(-len(self.x) // self.size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        part = slice(index * self.size, (index + 1) * self.size)
        return self.x[part], self.y[part]


def _left_right(hp: Any) -> keras.Model:
    left, right = keras.Input((32,), name="left"), keras.Input((32,), name="right")
    hidden = keras.layers.Dense(hp.Int("units", 8, 16, step=8), activation="relu")(
        keras.layers.Concatenate()([left, right]))
    model = keras.Model({"left": left, "right": right}, keras.layers.Dense(10, activation="softmax")(hidden))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("kind", ["tf.data", "tf.data of named inputs", "PyDataset", "pandas",
                                  "keras_tuner.HyperModel"])
def test_hypermodel_class_with_its_own_fit_and_other_inputs(workdir: Path, storage: str, kind: str) -> None:
    import tensorflow as tf

    x, y, xv, yv, *_ = _digits(200, 80)
    if kind == "tf.data":
        tuner = _tuner(storage, build=build_model, max_trials=1, objective=mltune.Objective("val_loss", "min"))
        train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
        val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(32)
        tuner.search(train, epochs=1, validation_data=val, verbose=0)
    elif kind == "tf.data of named inputs":
        tuner = _tuner(storage, build=_left_right, max_trials=1)
        named = {"left": x[:, :32], "right": x[:, 32:]}
        tuner.search(tf.data.Dataset.from_tensor_slices((named, y)).batch(32), epochs=1, verbose=0,
                     validation_data=({"left": xv[:, :32], "right": xv[:, 32:]}, yv))
        run_id = tuner.study.trials[0].user_attrs["mlflow_run_id"]
        served = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")  # its signature names both inputs
        assert np.asarray(served.predict({"left": xv[:3, :32], "right": xv[:3, 32:]})).shape == (3, 10)
    elif kind == "PyDataset":
        tuner = _tuner(storage, max_trials=1)
        tuner.search(Batches(x, y), epochs=1, validation_data=Batches(xv, yv), verbose=0)
    elif kind == "keras_tuner.HyperModel":
        keras_tuner = pytest.importorskip("keras_tuner")

        class Theirs(keras_tuner.HyperModel):  # type: ignore[misc]
            def build(self, hp: Any) -> keras.Model:
                return build_model(hp)

        tuner = _tuner(storage, build=Theirs(), max_trials=1)
        tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    else:
        tuner = _tuner(storage, build=DenseHyperModel(), max_trials=1)
        tuner.search(pd.DataFrame(x), pd.Series(y), epochs=1, validation_data=(pd.DataFrame(xv), yv), verbose=0)
        assert "batch_size" in tuner.get_best_hyperparameters()[0].values
    trial = tuner.study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial
    assert MlflowClient().list_artifacts(trial.user_attrs["mlflow_run_id"], "model")


def _raises(hp: Any) -> Any:
    hp.Int("units", 2, 4)  # each build below declares a space of three, so that two trials fail in a row
    raise RuntimeError("no GPU here")


def _not_a_model(hp: Any) -> Any:
    hp.Int("units", 2, 4)
    return "a string"


def _uncompiled(hp: Any) -> Any:
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 2, 4))])


def _images(hp: Any) -> Any:
    dense = keras.layers.Dense(hp.Int("units", 2, 4))
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), dense])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize(("build", "options", "message"), [
    (_raises, {}, "trial 0: _raises(hp) raised RuntimeError: no GPU here"),
    (_not_a_model, {}, "trial 0: _not_a_model(hp) must return a keras.Model, but got builtins.str"),
    (_uncompiled, {}, "trial 0: _uncompiled(hp) must return a compiled model"),
    (build_model, {"objective": "val_auc"}, "trial 0: the objective 'val_auc' is not in the model's logs, which hold:"
                                            " accuracy, loss, val_accuracy, val_loss"),
    (_images, {}, "trial 0: fit failed: ValueError"),
])
def test_bad_input_fails_the_trial_with_a_clear_message(workdir: Path, storage: str, build: Any,
                                                        options: dict[str, Any], message: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, build=build, max_trials=3, max_consecutive_failed_trials=2, **options)
    with pytest.raises(SearchFailed) as raised:
        tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert "2 trials in a row failed" in str(raised.value)
    assert message.replace("trial 0", "trial 1") in str(raised.value)
    trials = tuner.study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 2
    runs = _trial_runs(MlflowClient(), tuner.parent_run_id)
    assert [r.info.status for r in runs] == ["FAILED", "FAILED"]
    assert message in runs[0].data.tags["mltune.error"]
    assert MlflowClient().get_run(tuner.parent_run_id).info.status == "FAILED"


def test_a_search_whose_every_configuration_failed_says_so_when_the_space_is_used_up(workdir: Path,
                                                                                      storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, build=_raises, max_trials=10, max_consecutive_failed_trials=5)
    with pytest.raises(SearchFailed, match=r"the space's 3 configurations were all tried and none "
                                           r"completed \(3 failed\); the last, trial 2: .*_raises\(hp\) raised "
                                           r"RuntimeError: no GPU here"):
        tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert sorted(t.params["units"] for t in tuner.study.trials) == [2, 3, 4]  # each once, as KerasTuner's
    assert MlflowClient().get_run(tuner.parent_run_id).info.status == "FAILED"


def test_bad_settings_are_config_errors_before_anything_is_written(workdir: Path, storage: str) -> None:
    with pytest.raises(ConfigError, match="max_trials: must be >= 1, but got 0"):
        _tuner(storage, max_trials=0)
    with pytest.raises(ConfigError, match="sampler: must be one of"):
        _tuner(storage, sampler="annealing")
    with pytest.raises(ConfigError, match="executions_per_trial: must be >= 1, but got 0"):
        _tuner(storage, executions_per_trial=0)
    with pytest.raises(ConfigError, match="hypermodel: must be a build_model"):
        mltune.Tuner(42)
    assert not (workdir / "optuna.log").exists() and not (workdir / "mlflow.db").exists()


def test_tune_and_promote_are_the_commands_in_python(workdir: Path, storage: str) -> None:
    from .conftest import TINY

    result = mltune.tune(TINY, overrides=["search.epochs=1"], n_trials=1, storage=storage, study_name="api")
    assert result.best_trial == 0 and result.counts == {"COMPLETE": 1}
    promoted = mltune.promote(study_name="api", storage=storage)
    assert promoted.decision == "first champion" and promoted.model_name == "tiny-digits"
    assert json.loads(json.dumps(promoted.as_dict()))["version"] == "1"


def _without_input(hp: Any) -> keras.Model:
    """KerasTuner's first example: a Sequential with no Input, built by its first fit."""
    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(hp.Int("units", 8, 16, step=8),
                                                                          activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_model_with_no_input_is_rebuilt_for_its_weights_in_this_and_a_later_process(workdir: Path,
                                                                                       storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.RandomSearch(_without_input, objective="val_accuracy", max_trials=2, directory=str(workdir),
                                project_name="first", pruner="none", progress="quiet")
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    models = tuner.get_best_models(2)
    later = mltune.RandomSearch(_without_input, objective="val_accuracy", max_trials=2, directory=str(workdir),
                                project_name="first", pruner="none", progress="quiet")  # nothing trained here
    for now, again in zip(models, later.get_best_models(2), strict=True):
        assert np.allclose(now.predict(xv, verbose=0), again.predict(xv, verbose=0), atol=1e-6)


class _OwnLoop(mltune.HyperModel):
    """KerasTuner's custom-training guide: build returns an uncompiled model, fit trains it and returns a number."""

    def build(self, hp: Any) -> keras.Model:
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                                 keras.layers.Dense(10, activation="softmax")])

    def fit(self, hp: Any, model: keras.Model, x: Any, y: Any, validation_data: Any, **kwargs: Any) -> float:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        return float(model.evaluate(*validation_data, verbose=0))


def test_a_hypermodel_that_trains_itself_needs_neither_compile_nor_an_objective(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.RandomSearch(_OwnLoop(), max_trials=2, storage=storage, pruner="none", progress="quiet")
    assert (tuner.objective.name, tuner.objective.direction) == ("default_objective", "min")
    tuner.search(x, y, validation_data=(xv, yv))
    values = [t.value for t in tuner.study.trials]
    assert [t.state for t in tuner.study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(0 < v < 10 for v in values)  # the validation cross-entropy fit returned
    assert tuner.oracle.get_best_trials()[0].metrics.get_last_value("default_objective") == pytest.approx(min(values))
    assert [t.best_step for t in tuner.oracle.trials.values()] == [0, 0]  # KerasTuner's, with no epoch reported


def test_hyperband_by_name_trains_up_to_max_epochs_and_stops_weaker_trials(workdir: Path, storage: str) -> None:
    assert [hyperband_configurations(e, f) for e, f in [(10, 3), (3, 3), (1, 3)]] == [22, 5, 1]  # KerasTuner's
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.Hyperband(build_model, objective="val_accuracy", max_epochs=3, factor=3, storage=storage,
                             progress="quiet")
    assert tuner.max_trials == 5 and isinstance(tuner.pruner, optuna.pruners.HyperbandPruner)
    tuner.search(x, y, epochs=50, validation_data=(xv, yv), verbose=0)  # KerasTuner's epochs: max_epochs wins
    trained = [len(MlflowClient().get_metric_history(r.info.run_id, "val_accuracy"))
               for r in _trial_runs(MlflowClient(), tuner.parent_run_id)]
    assert len(trained) == 5 and max(trained) == 3
    finished = [t for t, n in zip(tuner.study.trials, trained, strict=True) if n == 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in finished)  # never pruned at the last epoch
    # KerasTuner's Hyperband has no max_trials, so its oracle says None and its trial ids have 4 digits
    assert tuner.oracle.max_trials is None and tuner.oracle.remaining_trials() is None
    assert sorted(tuner.oracle.trials) == ["0000", "0001", "0002", "0003", "0004"]
    best = tuner.oracle.get_best_trials(1)[0]
    assert os.path.isfile(os.path.join(tuner.get_trial_dir(best.trial_id), "checkpoint.weights.h5"))


class _EpochsFromHyperparameters(mltune.Hyperband):
    """A GitHub repo's Hyperband subclass: the epochs come from KerasTuner's ``tuner/...`` values."""

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        hp = trial.hyperparameters
        kwargs["epochs"], kwargs["initial_epoch"] = hp["tuner/epochs"], hp.get("tuner/initial_epoch")
        returned = super().run_trial(trial, *args, **kwargs)
        self.oracle._save_trial(trial)
        return returned


def test_hyperbands_trials_carry_keras_tuners_epoch_values(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _EpochsFromHyperparameters(build_model, objective="val_accuracy", max_epochs=2, factor=3,
                                       storage=storage, progress="quiet")
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)
    best = tuner.get_best_hyperparameters()[0]
    assert (best.get("tuner/epochs"), best.values["tuner/initial_epoch"]) == (2, 0)
    assert tuner.hypermodel.build(best).count_params() > 0


def _two_choices(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [8, 16]),
                                                                     activation=hp.Choice("act", ["relu", "tanh"])),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_hypermodels_given_name_names_it() -> None:
    from mltune.model.hypermodel import HyperModel

    class Digits(mltune.HyperModel):
        def build(self, hp: Any) -> Any:
            return build_model(hp)

    assert HyperModel(Digits(name="digits-mlp")).name == "digits-mlp" and HyperModel(Digits()).name == "Digits"
    assert HyperModel(build_model).name == "build_model"


def test_grid_search_by_name_tries_every_combination_once_and_stops(workdir: Path, storage: str) -> None:
    from mltune.tuners import GridSearch  # KerasTuner's `from keras_tuner.tuners import GridSearch`

    assert GridSearch is mltune.GridSearch and mltune.tuners.RandomSearch is mltune.RandomSearch
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = GridSearch(_two_choices, objective="val_accuracy", storage=storage, progress="quiet")
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)  # no max_trials: until the grid is done
    combinations = [(t.params["units"], t.params["act"]) for t in tuner.study.trials]
    assert combinations == [(8, "relu"), (8, "tanh"), (16, "relu"), (16, "tanh")]  # KerasTuner's order
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in tuner.study.trials)
    assert len(_trial_runs(MlflowClient(), tuner.parent_run_id)) == 4
    again = mltune.GridSearch(_two_choices, objective="val_accuracy", storage=storage, progress="quiet")
    again.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)  # as a later process resuming the study
    assert len(again.study.trials) == 4  # nothing left to try


def test_keras_tuners_max_model_size_fails_an_oversized_trial(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    for bad in (0, -5, 1.5, "big"):
        with pytest.raises(ConfigError, match=rf"max_model_size: must be a whole number of parameters >= 1, but got "
                                              rf"{re.escape(repr(bad))}"):
            mltune.GridSearch(_two_choices, objective="val_accuracy", storage=storage, max_model_size=bad)
    tuner = mltune.GridSearch(_two_choices, objective="val_accuracy", storage=storage, progress="quiet",
                              max_model_size=64 * 8 + 8 + 8 * 10 + 10)  # 8 units fit; 16 do not
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert sorted((t.params["units"], t.state.name) for t in tuner.study.trials) == [
        (8, "COMPLETE"), (8, "COMPLETE"), (16, "FAIL"), (16, "FAIL")]
    failed = [r for r in _trial_runs(MlflowClient(), tuner.parent_run_id) if r.info.status == "FAILED"]
    assert failed and all("Oversized model: 1210 parameters (max_model_size=610). Skip model."
                          in r.data.tags["mltune.error"] for r in failed)


def test_keras_tuner_settings_mltune_does_not_use_are_warned_about_and_a_typo_is_refused(workdir: Path,
                                                                                         storage: str) -> None:
    with pytest.warns(UserWarning, match="mltune does not use KerasTuner's distribution_strategy, logger") as seen:
        tuner = mltune.RandomSearch(build_model, "val_accuracy", 3, storage=storage, logger=None,
                                    distribution_strategy=None)
    assert seen[0].filename == __file__  # the warning points at the user's line
    assert (tuner.distribution_strategy, tuner.logger, tuner.tuner_id) == (None, None, "tuner0")  # scripts read them
    assert tuner.max_trials == 3 and tuner.pruner_name == "none"  # KerasTuner's RandomSearch trains every trial
    with pytest.raises(TypeError, match="unexpected keyword argument.s.: max_trails"):
        mltune.RandomSearch(build_model, objective="val_accuracy", max_trails=3, storage=storage)
    tuner = mltune.BayesianOptimization(build_model, objective="val_accuracy", num_initial_points=2, storage=storage)
    assert tuner.sampler._n_startup_trials == 2  # type: ignore[attr-defined]
    oracle = tuner.oracle  # KerasTuner's oracle's settings, which scripts read
    assert (oracle.num_initial_points, oracle.alpha, oracle.beta, oracle.max_retries_per_trial,
            oracle.max_consecutive_failed_trials) == (2, 1e-4, 2.6, 0, 3)
    with pytest.raises(AttributeError, match="'Oracle' object has no attribute 'factor'"):
        oracle.factor  # noqa: B018
    with pytest.raises(ConfigError, match="hypermodel: missing; pass a build_model.hp. function or a HyperModel"):
        mltune.RandomSearch(objective="val_accuracy", storage=storage)
    with pytest.raises(ConfigError, match="trial_id: trial '3' is not running; call this from run_trial"):
        tuner.save_model("3", None)
    with pytest.raises(ConfigError, match="trial_id: trial '3' is not running; call this from run_trial"):
        tuner.oracle.update_trial("3", {"val_loss": 1.0})


class _TrainingKnobs(mltune.BayesianOptimization):
    """The widely copied way to tune fit's arguments (keras-team/keras-tuner#122)."""

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["batch_size"] = trial.hyperparameters.Choice("batch_size", [32, 64])
        kwargs["epochs"] = trial.hyperparameters.Int("epochs", 1, 2)
        return super().run_trial(trial, *args, **kwargs)


class _OlderKnobs(_TrainingKnobs):
    """KerasTuner < 1.1 let run_trial return nothing."""

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        super().run_trial(trial, *args, **kwargs)


@pytest.mark.parametrize("tuner_class", [_TrainingKnobs, _OlderKnobs])
def test_a_run_trial_that_sets_fit_arguments_tunes_them_as_trials_of_mltune(workdir: Path, storage: str,
                                                                            tuner_class: type) -> None:
    x, y, xv, yv, xt, yt = _digits(200, 80)
    tuner = tuner_class(build_model, objective="val_accuracy", max_trials=3, storage=storage, progress="quiet")
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)
    client = MlflowClient()
    trials = _trial_runs(client, tuner.parent_run_id)
    assert [r.info.status for r in trials] == ["FINISHED"] * 3
    for run, trial in zip(trials, tuner.study.trials, strict=True):
        assert set(run.data.params) == {"units", "act", "lr", "batch_size", "epochs"}
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert len(history) == trial.params["epochs"]  # fit ran with the trial's epochs, each logged
        assert trial.value == pytest.approx(max(m.value for m in history))  # the best epoch's
    best = tuner.get_best_models(1)[0]
    assert best.evaluate(xv, yv, verbose=0, return_dict=True)["accuracy"] == pytest.approx(tuner.study.best_value,
                                                                                           abs=1e-6)
    assert tuner.promote("knobs", test_data=(xt, yt)) == "1"


class _TuneAnything(mltune.RandomSearch):
    """KerasTuner's guide, "Tune anything": no hypermodel, no objective, nothing given to search()."""

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        x = trial.hyperparameters.Float("x", min_value=-1.0, max_value=1.0)
        return x * x + 1


def test_a_run_trial_with_no_hypermodel_tunes_anything_it_returns(workdir: Path, storage: str) -> None:
    tuner = _TuneAnything(max_trials=6, storage=storage, progress="quiet", project_name="tune_anything")
    assert (tuner.objective.name, tuner.objective.direction) == ("default_objective", "min")
    tuner.search()
    trials = tuner.study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6
    assert all(t.value == pytest.approx(t.params["x"] ** 2 + 1) for t in trials)
    best = tuner.get_best_hyperparameters()[0].get("x")
    assert best ** 2 + 1 == pytest.approx(min(t.value for t in trials))
    runs = _trial_runs(MlflowClient(), tuner.parent_run_id)
    assert [r.data.metrics["objective"] for r in runs] == pytest.approx([t.value for t in trials])
    metrics = tuner.oracle.get_best_trials()[0].metrics  # a number returned is the objective's, as in KerasTuner
    assert metrics.get_last_value("default_objective") == pytest.approx(tuner.study.best_value)
    with pytest.raises(NoCompleteTrial, match="has no model: _TuneAnything was given no hypermodel"):
        tuner.get_best_models(1)


class _OwnLoopTuner(mltune.RandomSearch):
    """A custom training loop in run_trial (KerasTuner's older guide): an uncompiled model, its own steps, the
    metrics returned, or given to ``oracle.update_trial`` as KerasTuner < 1.1 had it."""

    def run_trial(self, trial: Any, x: Any, y: Any, validation_data: Any) -> Any:
        hp = trial.hyperparameters
        model = self.hypermodel.build(hp)
        optimizer = keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-2, sampling="log"))
        loss = keras.losses.SparseCategoricalCrossentropy()
        import tensorflow as tf

        for _ in range(3):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True))
            optimizer.apply_gradients(zip(tape.gradient(value, model.trainable_variables), model.trainable_variables,
                                          strict=True))
        metrics = {"val_loss": loss(validation_data[1], model(validation_data[0])), "steps": 3}
        if hp.Boolean("old_way"):  # as at an epoch: logged at that step, shown to the pruner
            self.oracle.update_trial(trial.trial_id, {**metrics, "val_loss": 9.0}, step=0)
            self.oracle.update_trial(trial.trial_id, metrics, step=1)
            return None
        return metrics


def _uncompiled_dense(hp: Any) -> keras.Model:
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                             keras.layers.Dense(10, activation="softmax")])


def test_a_run_trial_with_its_own_training_loop_is_scored_by_what_it_returns(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _OwnLoopTuner(_uncompiled_dense, objective="val_loss", max_trials=4, storage=storage, progress="quiet")
    tuner.search(x, y, validation_data=(xv, yv))
    trials = tuner.study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert {t.params["old_way"] for t in trials} == {True, False}  # both ways of giving the value, seeded
    for view in tuner.oracle.trials.values():  # every metric given is the trial's, as KerasTuner records them
        assert view.metrics.get_history("steps")[0].value == [3.0]
        assert view.metrics.get_last_value("val_loss") == pytest.approx(view.score)
        if view.hyperparameters["old_way"]:
            assert [o.step for o in view.metrics.get_history("val_loss")] == [0, 1] and view.best_step == 1
    model = tuner.get_best_models(1)[0]  # the model run_trial built, as it left it
    loss = keras.losses.SparseCategoricalCrossentropy()
    assert float(loss(yv, model(xv))) == pytest.approx(tuner.study.best_value, rel=1e-5)


class _WrongReturn(mltune.RandomSearch):
    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        trial.hyperparameters.Int("n", 1, 3)
        return "done"


def test_a_run_trial_that_returns_no_value_fails_its_trials_saying_what_to_return(workdir: Path,
                                                                                storage: str) -> None:
    tuner = _WrongReturn(max_trials=2, storage=storage, progress="quiet", max_consecutive_failed_trials=2)
    with pytest.raises(SearchFailed, match="run_trial must return the objective 'default_objective' as a number, "
                                           "a dict of metrics, a History or a list of these, but returned str"):
        tuner.search()


QUIET_SCRIPT = """
import warnings
import keras, mltune
from sklearn.datasets import load_digits

def build_model(hp):
    warnings.warn("a note from the build function")  # Keras' own notes come so, once per process
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 24, step=8)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

digits = load_digits()
x, y = digits.data[:200] / 16.0, digits.target[:200]
tuner = mltune.RandomSearch(build_model, objective="val_accuracy", max_trials=3, pruner="none", progress="lines")
tuner.search(x[:150], y[:150], epochs=1, validation_data=(x[150:], y[150:]), verbose=0)
"""


def test_a_search_says_each_warning_once_and_leaves_optuna_and_mlflow_notes_out(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-c", QUIET_SCRIPT], cwd=workdir, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("a note from the build function") == 1, done.stderr[-3000:]
    assert done.stderr.count("trial 2 COMPLETE") == 1  # mltune's line; Optuna's "Trial 2 finished" is not shown
    for noise in ("Trial 2 finished with value", "unique value length", "Passing a Python object"):
        assert noise not in done.stderr, noise


class _Classes(mltune.HyperModel):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def build(self, hp: Any) -> keras.Model:
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                                  keras.layers.Dense(self.num_classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def test_the_tuners_hypermodel_is_the_users_and_each_trial_logs_to_its_own_tensorboard_folder(
        workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.RandomSearch(_Classes(10), objective="val_accuracy", max_trials=2, storage=storage,
                                pruner="none", progress="quiet")
    board = keras.callbacks.TensorBoard(log_dir=str(workdir / "logs"))
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0, callbacks=[board])
    assert sorted(p.name for p in (workdir / "logs").iterdir()) == ["0", "1"]  # KerasTuner's: the trial ids
    execution = workdir / "logs" / "0" / "execution0"  # KerasTuner's layout: a folder per execution
    assert sorted(p.name for p in execution.iterdir() if p.is_dir()) == ["train", "validation"]
    import tensorflow as tf

    [hparams] = [p for p in execution.iterdir() if p.is_file()]  # the trial's values for the HParams dashboard
    events = tf.compat.v1.train.summary_iterator(str(hparams))
    assert "hparams" in {v.metadata.plugin_data.plugin_name for e in events for v in e.summary.value}
    assert tuner.hypermodel.num_classes == 10  # KerasTuner's `tuner.hypermodel` is the user's object
    assert (tuner.project_name, tuner.executions_per_trial, tuner.directory) == (tuner.study_name, 1, None)
    best = tuner.get_best_hyperparameters()[0]
    model = tuner.hypermodel.build(best)
    history = tuner.hypermodel.fit(best, model, x, y, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def _two_inputs(hp: Any) -> keras.Model:
    pixels, extra = keras.Input((64,), name="pixels"), keras.Input((2,), name="extra")
    hidden = keras.layers.Dense(hp.Int("units", 8, 16, step=8), activation="relu")(pixels)
    joined = keras.layers.Concatenate()([hidden, extra])
    model = keras.Model([pixels, extra], keras.layers.Dense(10, activation="softmax")(joined))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_model_of_two_inputs_given_as_a_list_is_promoted_and_served(workdir: Path, storage: str) -> None:
    import mlflow

    x, y, xv, yv, xt, yt = _digits(100, 40)
    extra = np.random.default_rng(0).normal(size=(len(x) + len(xv) + len(xt), 2)).astype("float32")
    inputs, valid, test = [x, extra[:100]], [xv, extra[100:140]], [xt, extra[140:]]
    tuner = _tuner(storage, build=_two_inputs, max_trials=2)
    tuner.search(inputs, y, epochs=1, validation_data=(valid, yv), verbose=0)
    assert tuner.promote("two-inputs", test_data=(test, yt)) == "1"
    assert tuner.promote("two-inputs", test_data=(test, yt)) == "1"  # the champion scored on the list too
    served = mlflow.pyfunc.load_model("models:/two-inputs@champion").predict(test)
    assert served.shape == (len(yt), 10)


def _two_outputs(hp: Any) -> keras.Model:
    pixels = keras.Input((64,), name="pixels")
    hidden = keras.layers.Dense(hp.Int("units", 8, 16, step=8), activation="relu")(pixels)
    model = keras.Model(pixels, [keras.layers.Dense(10, activation="softmax", name="digit")(hidden),
                                 keras.layers.Dense(1, activation="sigmoid", name="odd")(hidden)])
    model.compile(optimizer="adam", loss={"digit": "sparse_categorical_crossentropy", "odd": "binary_crossentropy"},
                  metrics={"digit": ["accuracy"], "odd": ["accuracy"]})
    return model


def test_a_model_of_two_outputs_is_kept_promoted_and_served_with_both(workdir: Path, storage: str) -> None:
    import mlflow

    x, y, xv, yv, xt, yt = _digits(100, 40)
    targets = [{"digit": digits, "odd": (digits % 2).astype("float32")} for digits in (y, yv, yt)]
    tuner = _tuner(storage, build=_two_outputs, objective="val_digit_accuracy", max_trials=2)
    tuner.search(x, targets[0], epochs=1, validation_data=(xv, targets[1]), verbose=0)
    parent = MlflowClient().get_run(tuner.parent_run_id)
    assert parent.info.status == "FINISHED"  # saving the best model failed, and the parent run stayed RUNNING
    assert tuner.promote("two-outputs", test_data=(xt, targets[2])) == "1"
    assert tuner.promote("two-outputs", test_data=(xt, targets[2])) == "1"  # the champion scored on both too
    served = mlflow.pyfunc.load_model("models:/two-outputs@champion").predict(xt)
    assert {name: value.shape for name, value in served.items()} == {"digit": (len(yt), 10), "odd": (len(yt), 1)}


_REVIEWS = np.array(["a good film", "bad plot", "great actors, good film", "an awful film", "good", "bad"] * 10,
                    dtype=object)


def _reads_text(hp: Any) -> keras.Model:
    """KerasTuner's text guides: the words are read inside the model, which takes raw strings."""
    words = keras.layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    words.adapt(_REVIEWS)
    text = keras.Input((1,), dtype="string")
    hidden = keras.layers.Dense(hp.Choice("units", [4, 8]), activation="relu")(words(text))
    model = keras.Model(text, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_a_model_that_takes_raw_text_is_promoted_and_served_on_text(workdir: Path, storage: str) -> None:
    import mlflow

    positive = np.array([int("good" in text or "great" in text) for text in _REVIEWS])
    tuner = _tuner(storage, build=_reads_text, objective="val_accuracy", max_trials=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*could not be saved")  # it was: no float in 'a good film'
        tuner.search(_REVIEWS[:40], positive[:40], epochs=1, validation_data=(_REVIEWS[40:], positive[40:]), verbose=0)
    assert tuner.promote("reviews", test_data=(_REVIEWS[40:], positive[40:])) == "1"
    champion = mlflow.pyfunc.load_model("models:/reviews@champion")
    served = champion.predict(np.array(["good", "awful"], dtype=object))
    assert served.shape == (2, 1) and served.dtype == np.float32
    assert np.array_equal(champion.predict(np.array(["good", "awful"])), served)  # NumPy strings: Keras refuses them


def _unnamed_auc(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [4, 8, 12]), activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.AUC()])  # `auc`, then `auc_1`?
    return model


def test_an_unnamed_metric_is_the_objective_in_every_trial(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, build=_unnamed_auc, objective="val_auc", max_trials=3)
    tuner.search(x, y % 2, epochs=1, validation_data=(xv, yv % 2), verbose=0)  # Keras names each new AUC anew
    assert [t.state.name for t in tuner.study.trials] == ["COMPLETE"] * 3


def test_a_list_of_objectives_is_keras_tuners_multi_objective(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, objective=[mltune.Objective("val_loss", "min"), "val_accuracy"], max_trials=1)
    assert (tuner.objective.name, tuner.objective.direction) == ("multi_objective", "min")
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    trial = tuner.study.trials[0]
    history = {key: [m.value for m in MlflowClient().get_metric_history(trial.user_attrs["mlflow_run_id"], key)]
               for key in ("val_loss", "val_accuracy", "multi_objective")}
    combined = [loss - accuracy for loss, accuracy in zip(history["val_loss"], history["val_accuracy"], strict=True)]
    assert history["multi_objective"] == pytest.approx(combined) and trial.value == pytest.approx(min(combined))


def _odd_names(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("dense/units (layer 1)",
                                                                               np.arange(8, 17, 8))),
                              keras.layers.Dropout(hp.Float("drop-rate%", 0.0, 0.2)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_hyperparameters_named_with_any_characters_and_numpy_choices_are_tuned(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, build=_odd_names, max_trials=1)
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    [trial] = tuner.study.trials
    assert trial.state.name == "COMPLETE" and trial.params["dense/units (layer 1)"] in (8, 16)
    params = MlflowClient().get_run(trial.user_attrs["mlflow_run_id"]).data.params
    assert params["dense/units _layer 1_"] == str(trial.params["dense/units (layer 1)"]) and "drop-rate_" in params


def _layers(hp: Any) -> keras.Model:  # keras.io's getting-started loop
    model = keras.Sequential([keras.Input((64,))])
    for i in range(hp.Int("num_layers", 1, 2)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 8, 16, step=8), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_the_best_hyperparameters_hold_every_name_declared_as_keras_tuners_do(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    grid = optuna.samplers.GridSampler({"num_layers": [1, 2], "units_0": [8], "units_1": [16]}, seed=0)
    tuner = _tuner(storage, build=_layers, max_trials=2, sampler=grid)
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert sorted(len(t.params) for t in tuner.study.trials) == [2, 3]
    for hp in tuner.get_best_hyperparameters(2):  # blogs print units_0 .. units_N after the search
        assert [hp.get(f"units_{i}") for i in range(2)] == [8, 16]
        assert tuner.hypermodel.build(hp).count_params() > 0


def _three_units(hp: Any) -> keras.Model:  # the KerasTuner README's example
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [8, 16, 32])),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_random_search_tries_each_choice_before_any_twice_and_ends_when_all_are_tried(workdir: Path,
                                                                                       storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.RandomSearch(_three_units, objective="val_loss", max_trials=5, storage=storage, progress="quiet")
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert sorted(t.params["units"] for t in tuner.study.trials) == [8, 16, 32]  # as KerasTuner's: 3, not 5
    assert len(tuner.oracle.trials) == 3


def _diverging(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Choice("units", [4, 8])), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e8), loss="mse")  # KerasTuner's guides' learning rate too high
    return model


def test_diverging_trials_fail_without_stopping_the_search(workdir: Path, storage: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)) * 100, rng.normal(size=(64, 1)) * 100
    tuner = _tuner(storage, build=_diverging, objective="val_loss", max_trials=2, max_consecutive_failed_trials=1)
    tuner.search(x, y, epochs=2, validation_split=0.25, verbose=0)  # KerasTuner scores them inf and goes on
    assert [t.state.name for t in tuner.study.trials] == ["FAIL", "FAIL"]


def test_validation_every_other_epoch_is_enough(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, max_trials=1)
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), validation_freq=2, verbose=0)
    trial = tuner.study.trials[0]
    assert trial.state.name == "COMPLETE" and trial.user_attrs.get("mlflow_run_id")
    assert [m.step for m in MlflowClient().get_metric_history(trial.user_attrs["mlflow_run_id"], "val_accuracy")] == [2]


class SubclassedNet(keras.Model):  # no get_config, and **kwargs: Keras cannot save it
    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden, self.out = keras.layers.Dense(units, activation="relu"), keras.layers.Dense(10)

    def call(self, x: Any) -> Any:
        return self.out(self.hidden(x))


def _subclassed(hp: Any) -> keras.Model:
    model = SubclassedNet(hp.Choice("units", [8, 16]))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_a_model_keras_cannot_save_is_searched_and_kept_with_a_warning(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _tuner(storage, build=_subclassed)
    with pytest.warns(UserWarning, match="could not be saved as an MLflow model, so promote.. cannot register it"):
        tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert [t.state.name for t in tuner.study.trials] == ["COMPLETE"] * 2
    assert MlflowClient().get_run(tuner.parent_run_id).info.status == "FINISHED"
    assert [m.predict(xv, verbose=0).shape for m in tuner.get_best_models(2)] == [(len(yv), 10)] * 2


def _lr_and_units(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 24, step=8)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_preset_that_allows_no_new_entries_refuses_a_build_that_declares_one(workdir: Path,
                                                                                 storage: str) -> None:
    preset = mltune.HyperParameters()
    preset.Fixed("learning_rate", 1e-3)
    tuner = mltune.RandomSearch(_lr_and_units, objective="val_accuracy", max_trials=2, storage=storage,
                                hyperparameters=preset, allow_new_entries=False, progress="quiet")
    with pytest.raises(ConfigError, match="allow_new_entries=False: build_model declares 'units', which the "
                                          "hyperparameters= preset does not hold"):
        tuner.search(*_digits(20, 10)[:2], epochs=1)
    preset.Int("units", 8, 16, step=8)
    allowed = mltune.RandomSearch(_lr_and_units, objective="val_accuracy", max_trials=1, storage=storage,
                                  hyperparameters=preset, allow_new_entries=False, progress="quiet")
    x, y, xv, yv, *_ = _digits(20, 10)
    allowed.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert allowed.study.trials[0].state == optuna.trial.TrialState.COMPLETE


def test_keras_tuners_preset_fixes_values_and_can_keep_new_entries_at_their_defaults(
        workdir: Path, storage: str, capsys: pytest.CaptureFixture[str]) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    preset = mltune.HyperParameters()
    preset.Fixed("learning_rate", 1e-3)
    tuner = mltune.RandomSearch(_lr_and_units, objective="val_accuracy", max_trials=3, storage=storage,
                                hyperparameters=preset, progress="quiet")
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    values = [hp.values for hp in tuner.get_best_hyperparameters(3)]
    assert {v["learning_rate"] for v in values} == {1e-3} and len(values) == 3  # no pruner: all complete
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == tuner.study.best_value and best.hyperparameters.values == values[0]
    assert best.best_step == 0 and best.status == "COMPLETED"  # KerasTuner counts epochs from 0
    from mltune.engine.trial import Trial, TrialStatus  # a custom tuner's `keras_tuner.engine.trial` import

    assert isinstance(best, Trial) and best.status == TrialStatus.COMPLETED
    oracle = tuner.oracle  # what KerasTuner scripts read from it
    assert (oracle.objective.name, oracle.max_trials, tuner.remaining_trials) == ("val_accuracy", 3, 0)
    assert sorted(oracle.trials) == ["0", "1", "2"] and oracle.get_trial(best.trial_id).score == best.score
    assert (oracle.remaining_trials(), oracle.seed) == (0, tuner.seed)  # a method, as KerasTuner's
    assert [spec.name for spec in oracle.get_space().space] == ["learning_rate", "units"]
    best.summary()
    tuner.search_space_summary(extended=True)
    tuner.results_summary(2)
    printed = capsys.readouterr().out
    assert f"Trial {best.trial_id} summary" in printed and f"Score: {best.score}" in printed
    assert f"Results summary\nResults in {tuner.project_dir}\nShowing 2 best trials\n" in printed  # as KerasTuner's
    assert "Default search space size: 2" in printed

    kept = mltune.RandomSearch(_lr_and_units, objective="val_accuracy", max_trials=2, study_name="kept",
                               storage=storage, hyperparameters=preset, tune_new_entries=False, progress="quiet")
    kept.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    # nothing is left to search: one trial, as KerasTuner's random search ends when its space is exhausted
    assert [hp.values for hp in kept.get_best_hyperparameters(2)] == [{"learning_rate": 1e-3, "units": 8}]

    # keras.io "Tailor the search space": a preset redefines a hyperparameter of the build function, only it is tuned
    redefined = mltune.HyperParameters()
    redefined.Choice("units", [16, 24])
    only = mltune.RandomSearch(_lr_and_units, objective="val_accuracy", max_trials=3, study_name="redefined",
                               storage=storage, hyperparameters=redefined, tune_new_entries=False, progress="quiet")
    only.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    values = [t.params for t in only.study.trials]
    assert {v["units"] for v in values} <= {16, 24} and set().union(*values) == {"units"}
    capsys.readouterr()
    only.search_space_summary()  # the tailor guide: "you will see only one hyperparameter"
    printed = capsys.readouterr().out
    assert "Default search space size: 1" in printed and "units (Choice)" in printed and "learning_rate" not in printed


def test_keras_tuners_tailor_guide_tunes_hyper_xception_with_a_preset_and_its_own_loss(workdir: Path,
                                                                                    storage: str) -> None:
    """keras.io "Tailor the search space": only the preset's learning rate is tuned, the loss is overridden for
    integer labels."""
    x, y, xv, yv, *_ = _digits(120, 40)
    hypermodel = mltune.applications.HyperXception(input_shape=(8, 8, 1), classes=10)
    hp = mltune.HyperParameters()
    hp.Choice("learning_rate", values=[1e-2, 1e-3, 1e-4])
    tuner = mltune.RandomSearch(hypermodel, hyperparameters=hp, tune_new_entries=False,
                                loss="sparse_categorical_crossentropy", metrics=["accuracy"], objective="val_accuracy",
                                max_trials=2, storage=storage, progress="quiet")
    tuner.search(x.reshape(-1, 8, 8, 1), y, epochs=1, validation_data=(xv.reshape(-1, 8, 8, 1), yv), verbose=0)
    assert [set(t.params) for t in tuner.study.trials] == [{"learning_rate"}] * 2
    best = tuner.get_best_models(1)[0]
    assert best.name == "Xception" and best.predict(xv.reshape(-1, 8, 8, 1), verbose=0).shape == (40, 10)


def _two_kinds(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((4,))])
    if hp.Choice("kind", ["a", "b"]) == "a":
        with hp.conditional_scope("kind", "a"):
            model.add(keras.layers.Dense(hp.Int("a_units", 4, 8, step=4)))
    else:
        with hp.conditional_scope("kind", "b"):
            model.add(keras.layers.Dense(hp.Int("b_units", 16, 32, step=16), activation=hp.Choice("act", ["relu",
                                                                                                       "tanh"])))
    model.add(keras.layers.Dense(1))
    model.compile("adam", "mse")
    return model


def test_keras_tuners_random_search_tries_each_combination_once_then_ends(workdir: Path, storage: str) -> None:
    """6 combinations down two conditional branches: 6 distinct trials of the 9 allowed, then the search ends; the
    best hyperparameters hold no value of the branch a trial did not take; the caller's random generators are
    not reset to a trial's seed."""
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4)), rng.random(32)
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    tuner = mltune.RandomSearch(_two_kinds, objective="val_loss", max_trials=9, storage=storage, seed=3,
                                progress="quiet")
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    assert np.random.rand() == expected
    tried = [tuple(sorted(t.params.items())) for t in tuner.study.trials]
    assert len(tried) == 6 == len(set(tried))
    for hp in tuner.get_best_hyperparameters(6):
        assert set(hp.values) == ({"kind", "a_units"} if hp.values["kind"] == "a" else {"kind", "b_units", "act"})


def _uncompiled_softmax(hp: Any) -> keras.Model:
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                             keras.layers.Dense(10, activation="softmax")])


_SHARED: dict[str, Any] = {}


def _shared_base(hp: Any) -> keras.Model:
    """Transfer learning's pattern: a base built once, outside, that every trial's model trains."""
    base = _SHARED.setdefault("base", keras.layers.Dense(16, activation="relu"))
    model = keras.Sequential([keras.Input((64,)), base, keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 3e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_best_models_hold_their_trials_weights_though_later_trials_trained_a_shared_layer(workdir: Path,
                                                                                          storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    _SHARED.clear()
    tuner = _tuner(storage, build=_shared_base, objective="val_loss", max_trials=3)
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    for view in tuner.oracle.get_best_trials(3):  # each rebuilt and given its weights, as KerasTuner's
        model = tuner.load_model(view)
        logs = model.evaluate(xv, yv, verbose=0, return_dict=True)
        assert logs["loss"] == pytest.approx(view.score, rel=1e-4)
    assert int(model.optimizer.iterations) == 0  # a fresh optimizer, as KerasTuner's: trained on, it starts over
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == -(-len(x) // 32)


def test_keras_tuners_compile_arguments_override_the_models_own(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    optimizer = keras.optimizers.Adam(1e-2)
    tuner = mltune.RandomSearch(_uncompiled_softmax, objective="val_accuracy", max_trials=2, storage=storage,
                                optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                                progress="quiet")
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert [t.state.name for t in tuner.study.trials] == ["COMPLETE"] * 2
    best = tuner.get_best_models(1)[0]
    assert best.optimizer is not optimizer and float(best.optimizer.learning_rate) == pytest.approx(1e-2)
    recompiled = mltune.RandomSearch(_lr_and_units, objective="val_sparse_categorical_accuracy", max_trials=1,
                                     study_name="metric", storage=storage, metrics=["sparse_categorical_accuracy"],
                                     progress="quiet")
    recompiled.search(x, y, epochs=1, verbose=0, validation_data=(xv, yv))  # its loss and optimizer kept
    [run] = _trial_runs(MlflowClient(), recompiled.parent_run_id)
    assert "val_sparse_categorical_accuracy" in run.data.metrics and "val_accuracy" not in run.data.metrics
    assert isinstance(recompiled.get_best_models(1)[0].optimizer, keras.optimizers.Adam)


class _CrossValidated(mltune.engine.tuner.Tuner):  # type: ignore[name-defined,misc]
    """StackOverflow's k-fold CVTuner (KerasTuner 1.0): `kt.engine.tuner.Tuner`, `kt.oracles.BayesianOptimization`,
    `update_trial` and `save_model`."""

    def run_trial(self, trial: Any, x: Any, y: Any, batch_size: int = 32, epochs: int = 1) -> None:
        from sklearn.model_selection import KFold

        losses = []
        for train, test in KFold(3).split(x):
            model = self.hypermodel.build(trial.hyperparameters)
            model.fit(x[train], y[train], batch_size=batch_size, epochs=epochs, verbose=0)
            losses.append(model.evaluate(x[test], y[test], verbose=0)[0])
        self.oracle.update_trial(trial.trial_id, {"val_loss": float(np.mean(losses))})
        self.save_model(trial.trial_id, model)


def test_a_cross_validating_tuner_of_keras_tuner_1_0_runs_unchanged(workdir: Path, storage: str) -> None:
    x, y, *_ = _digits(90, 10)
    tuner = _CrossValidated(hypermodel=_lr_and_units, storage=storage, progress="quiet",
                            oracle=mltune.oracles.BayesianOptimization(objective="val_loss", max_trials=2))
    tuner.search(x, y, batch_size=32, epochs=1)
    assert [t.state.name for t in tuner.study.trials] == ["COMPLETE"] * 2
    assert all(2.0 < t.value < 2.5 for t in tuner.study.trials)  # three folds' cross-entropy after one epoch
    assert tuner.get_best_models(1)[0].count_params() > 0
    assert issubclass(mltune.errors.SearchFailed, RuntimeError)  # what KerasTuner raises after too many failures


class _OracleTuner(mltune.Tuner):
    """KerasTuner's older custom-loop guide: a base Tuner given an oracle, the loss returned by name."""

    def run_trial(self, trial: Any, x: Any, y: Any) -> Any:
        assert len(x) == len(y) == 20  # what search() was given
        return {"loss": (trial.hyperparameters.Float("a", -1.0, 1.0) - 0.5) ** 2, "b": 1.0}


def test_a_tuner_given_a_keras_tuner_oracle_takes_its_search_from_it(workdir: Path, storage: str) -> None:
    x, y, *_ = _digits(20, 5)
    oracle = mltune.oracles.BayesianOptimizationOracle(objective=mltune.Objective("loss", "min"), max_trials=5,
                                                       num_initial_points=2, seed=3)
    tuner = _OracleTuner(oracle=oracle, storage=storage, progress="quiet")
    assert (tuner.objective.name, tuner.max_trials, tuner.seed) == ("loss", 5, 3)
    assert tuner.sampler._n_startup_trials == 2  # type: ignore[attr-defined]
    tuner.search(x, y)
    assert all(t.value == pytest.approx((t.params["a"] - 0.5) ** 2) for t in tuner.study.trials)
    assert len(tuner.study.trials) == 5

    hyperband = mltune.oracles.HyperbandOracle(objective="val_accuracy", max_epochs=3, factor=3)
    band = mltune.Tuner(build_model, oracle=hyperband, storage=storage, study_name="band", progress="quiet")
    assert band.max_trials == hyperband_configurations(3, 3) and band.max_epochs == 3
    assert (band.oracle.max_epochs, band.oracle.factor, band.oracle.hyperband_iterations) == (3, 3, 1)
    by_name = mltune.Hyperband(build_model, objective="val_accuracy", max_epochs=4, factor=2, storage=storage)
    assert (by_name.oracle.max_epochs, by_name.oracle.factor, by_name.oracle.hyperband_iterations) == (4, 2, 1)
    positional = mltune.Tuner(hyperband, build_model, storage=storage, study_name="band", progress="quiet")
    assert (positional.max_trials, positional.max_epochs) == (band.max_trials, 3)  # KerasTuner's Tuner(oracle, hm)
    assert positional.hypermodel.name == band.hypermodel.name
    with pytest.raises(TypeError, match="takes one positional argument .the hypermodel."):
        mltune.Tuner(build_model, hyperband, storage=storage)
    assert isinstance(band.pruner, optuna.pruners.HyperbandPruner) and band.sampler_name == "RandomSampler"
    grid = mltune.Tuner(_two_choices, oracle=mltune.oracles.GridSearchOracle(objective="val_accuracy"),
                        storage=storage, study_name="grid", progress="quiet")
    assert grid.sampler_name == "grid" and grid.max_trials is None
    with pytest.raises(ConfigError, match="oracle: must be one of mltune.oracles' .BayesianOptimizationOracle, "
                                          "GridSearchOracle, HyperbandOracle, RandomSearchOracle., "
                                          "but got builtins.str"):
        mltune.Tuner(build_model, oracle="bayesian", storage=storage)


def _too_large_fails(hp: Any) -> keras.Model:
    """KerasTuner's guide "Handling failed trials", with `import mltune as keras_tuner`."""
    keras_tuner = mltune
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(hp.Int("units_1", 10, 40, step=10)),
                              keras.layers.Dense(1)])
    model.compile(loss="mse")
    if hp.Boolean("stop"):
        raise keras_tuner.errors.FatalValueError("stop the search")
    if model.count_params() > 300:
        raise keras_tuner.errors.FailedTrialError(f"Model too large! It contains {model.count_params()} params.")
    return model


def test_keras_tuners_failed_trial_error_fails_a_trial_and_its_fatal_error_stops_the_search(workdir: Path,
                                                                                           storage: str) -> None:
    rng = np.random.default_rng(0)
    x, y, xv, yv = rng.random((40, 20)), rng.random((40, 1)), rng.random((20, 20)), rng.random((20, 1))
    tuner = mltune.GridSearch(_too_large_fails, objective="val_loss", storage=storage, progress="quiet",
                              hyperparameters=_fixed_stop(False), max_consecutive_failed_trials=8)
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    states = {t.params["units_1"]: t.state.name for t in tuner.study.trials}
    assert states == {10: "COMPLETE", 20: "FAIL", 30: "FAIL", 40: "FAIL"}  # 10 * 21 + 11 <= 300 < 20 * 21 + 21
    errors = [r.data.tags.get("mltune.error", "") for r in _trial_runs(MlflowClient(), tuner.parent_run_id)]
    assert sum("_too_large_fails(hp) raised FailedTrialError: Model too large! It contains" in e for e in errors) == 3
    failed = [view for view in tuner.oracle.trials.values() if view.status == "FAILED"]
    assert len(failed) == 3 and all("Model too large!" in str(view.message) for view in failed)  # KerasTuner's
    state = json.loads(Path(tuner.get_trial_dir(failed[0].trial_id), "trial.json").read_text())
    assert (state["status"], state["message"]) == ("FAILED", failed[0].message)

    stopping = mltune.RandomSearch(_too_large_fails, objective="val_loss", max_trials=5, storage=storage,
                                   study_name="stops", progress="quiet", hyperparameters=_fixed_stop(True))
    with pytest.raises(mltune.errors.FatalValueError, match="stop the search"):
        stopping.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert len(stopping.study.trials) == 1 and stopping.study.trials[0].state.name == "FAIL"
    assert MlflowClient().get_run(stopping.parent_run_id).info.status == "FAILED"


def _fixed_stop(stop: bool) -> mltune.HyperParameters:
    hp = mltune.HyperParameters()
    hp.Fixed("stop", stop)
    return hp


class _EpochHooksTuner(mltune.Tuner):
    """KerasTuner 1.0's guide "Subclassing Tuner for custom training loops": epochs told with on_epoch_end,
    nothing returned."""

    def run_trial(self, trial: Any, x: Any, y: Any) -> None:
        import tensorflow as tf

        model = self.hypermodel.build(trial.hyperparameters)
        optimizer = keras.optimizers.Adam(trial.hyperparameters.Float("learning_rate", 1e-3, 1e-2, sampling="log"))
        loss = keras.losses.SparseCategoricalCrossentropy()
        for epoch in range(3):
            self.on_epoch_begin(trial, model, epoch, logs={})
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True))
            optimizer.apply_gradients(zip(tape.gradient(value, model.trainable_variables), model.trainable_variables,
                                          strict=True))
            self.on_epoch_end(trial, model, epoch, logs={"loss": float(loss(y, model(x)))})


def test_a_custom_loop_that_tells_its_epochs_with_on_epoch_end_is_logged_and_scored_by_its_best(
        workdir: Path, storage: str) -> None:
    x, y, *_ = _digits(100, 10)
    oracle = mltune.oracles.BayesianOptimization(objective=mltune.Objective("loss", "min"), max_trials=2)
    tuner = _EpochHooksTuner(oracle=oracle, hypermodel=_uncompiled_dense, directory=str(workdir / "results"),
                             project_name="custom_training", progress="quiet")
    tuner.search(x, y)
    client = MlflowClient()
    for run, trial in zip(_trial_runs(client, tuner.parent_run_id), tuner.study.trials, strict=True):
        losses = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
        assert len(losses) == 3 and trial.value == pytest.approx(min(losses))
    model = tuner.get_best_models(1)[0]  # the model on_epoch_end was given, as the loop left it
    assert model.count_params() == _uncompiled_dense(tuner.get_best_hyperparameters()[0]).count_params()


class _Hooked(mltune.RandomSearch):
    """Subclasses that hook KerasTuner's search and trial lifecycle (logging and W&B blog posts)."""

    events: list[str] = []
    batches: list[int] = []

    def on_search_begin(self) -> None:
        self.events.append("search begins")
        super().on_search_begin()

    def on_trial_begin(self, trial: Any) -> None:
        self.events.append(f"trial {trial.trial_id} begins")
        super().on_trial_begin(trial)

    def on_trial_end(self, trial: Any) -> None:
        self.events.append(f"trial {trial.trial_id} {trial.status} {trial.score is not None}")
        super().on_trial_end(trial)

    def on_search_end(self) -> None:
        self.events.append("search ends")
        super().on_search_end()

    def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
        self.events.append(f"trial {trial.trial_id} epoch {epoch} {sorted(logs)}")
        super().on_epoch_end(trial, model, epoch, logs=logs)  # mltune's training logs the epoch, once

    def on_batch_end(self, trial: Any, model: Any, batch: int, logs: Any = None) -> None:
        self.batches.append(batch)


def test_keras_tuners_hooks_trial_metrics_and_models_by_trial(workdir: Path) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = _Hooked(build_model, objective="val_accuracy", max_trials=2, directory=str(workdir / "kt"),
                    project_name="hooks", progress="quiet")
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0, batch_size=50)
    logs = "['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    assert tuner.events == ["search begins", "trial 0 begins", f"trial 0 epoch 0 {logs}", f"trial 0 epoch 1 {logs}",
                            "trial 0 COMPLETED True", "trial 1 begins", f"trial 1 epoch 0 {logs}",
                            f"trial 1 epoch 1 {logs}", "trial 1 COMPLETED True", "search ends"]
    assert tuner.batches == [0, 1] * 4  # 100 rows in batches of 50, 2 epochs, 2 trials
    best = tuner.oracle.get_best_trials(1)[0]
    history = best.metrics.get_history("val_accuracy")  # a blog's learning-curve idiom
    assert [o.step for o in history] == [0, 1] and best.metrics.get_best_value("val_accuracy") == best.score
    assert best.metrics.exists("val_loss") and not best.metrics.exists("val_auc")
    assert best.metrics.get_last_value("val_loss") == best.metrics.get_history("val_loss")[-1].value[0]
    assert best.get_state()["hyperparameters"]["values"] == best.hyperparameters.values
    other = tuner.oracle.get_best_trials(2)[1]
    model = tuner.load_model(other)
    assert model.evaluate(xv, yv, verbose=0, return_dict=True)["accuracy"] == pytest.approx(other.score, abs=1e-6)
    folder = Path(tuner.get_trial_dir(other.trial_id))  # KerasTuner's layout, which scripts read
    assert sorted(p.name for p in folder.iterdir()) == ["build_config.json", "checkpoint.weights.h5", "trial.json"]
    state = json.loads((folder / "trial.json").read_text())
    assert (state["trial_id"], state["score"], state["status"]) == (other.trial_id, other.score, "COMPLETED")
    assert state["hyperparameters"]["values"] == other.hyperparameters.values
    observations = state["metrics"]["metrics"]["val_accuracy"]["observations"]
    assert [o["step"] for o in observations] == [0, 1] and state["best_step"] == other.best_step
    rebuilt = build_model(other.hyperparameters)
    rebuilt.load_weights(folder / "checkpoint.weights.h5")  # a KerasTuner script's way to its weights
    assert rebuilt.evaluate(xv, yv, verbose=0, return_dict=True)["accuracy"] == pytest.approx(other.score, abs=1e-6)
    assert sorted(other.metrics.metrics) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # as KerasTuner's
    assert other.metrics.metrics["val_accuracy"].get_best_value() == other.score
    assert (other.metrics.get_direction("val_accuracy"), other.metrics.get_direction("val_loss")) == ("max", "min")
    tuner.reload()
    assert len(tuner.study.trials) == 2


def test_overwrite_starts_the_study_afresh_and_clears_the_old_trials_folders(workdir: Path) -> None:
    x, y, xv, yv, *_ = _digits(60, 20)
    options = {"objective": "val_accuracy", "directory": str(workdir / "kt"), "project_name": "again",
               "progress": "quiet"}
    first = mltune.RandomSearch(build_model, max_trials=3, **options)
    first.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    second = mltune.RandomSearch(build_model, max_trials=2, overwrite=True, **options)  # KerasTuner's overwrite
    second.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert len(second.study.trials) == 2 and sorted(second.oracle.trials) == ["0", "1"]
    assert sorted(p.name for p in Path(second.project_dir).iterdir()) == ["trial_0", "trial_1"]  # no stale trial_2


def _shallow_or_deep(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,))])
    if hp.Choice("kind", ["deep", "shallow"]) == "deep":
        with hp.conditional_scope("kind", ["deep"]):
            model.add(keras.layers.Dense(hp.Int("deep_units", 4, 16, step=4)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_the_search_space_holds_what_any_trial_declared_and_prints_as_keras_tuners(workdir: Path,
                                                                                  capsys: Any) -> None:
    x, y, xv, yv, *_ = _digits(60, 20)
    tuner = mltune.GridSearch(_shallow_or_deep, objective="val_accuracy", directory=str(workdir / "kt"),
                              project_name="space", progress="quiet")
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert [t.params["kind"] for t in tuner.study.trials] == ["deep"] * 4 + ["shallow"]  # deep_units 4, 8, 12, 16
    space = tuner.oracle.get_space().space  # deep_units too, though the last trial did not declare it
    assert [(spec.name, spec.get_config()["conditions"]) for spec in space] == [
        ("kind", []), ("deep_units", [{"class_name": "Parent", "config": {"name": "kind", "values": ["deep"]}}])]
    assert [(type(spec).__name__, spec.ordered) for spec in space] == [("Choice", False), ("Int", False)]
    assert isinstance(space[1], mltune.engine.hyperparameters.Int)  # keras_tuner.engine.hyperparameters.Int
    tuner.search_space_summary()
    assert capsys.readouterr().out.splitlines()[:4] == [
        "Search space summary", "Default search space size: 2", "kind (Choice)",
        "{'default': 'deep', 'conditions': [], 'values': ['deep', 'shallow'], 'ordered': False}"]


def _top2(hp: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [4, 8])),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    return model


def test_keras_tuners_ids_objective_and_best_hyperparameters_as_its_scripts_read_them(workdir: Path) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.RandomSearch(_top2, objective=mltune.Objective("val_top2", "max"), max_trials=10,
                                directory=str(workdir / "kt"), project_name="ids", progress="quiet")
    tuner.search(x, y, epochs=3, validation_data=(xv, yv), verbose=0)  # 2 combinations: 2 trials
    oracle = tuner.oracle
    assert list(oracle.trials) == ["00", "01"] and oracle.get_trial("01").trial_id == oracle.get_trial(1).trial_id
    assert oracle.objective.direction == "max" and oracle.remaining_trials() == 8
    for unknown in ("02", "x", -1):
        with pytest.raises(KeyError):
            oracle.get_trial(unknown)
    for trial in oracle.trials.values():  # a name that says no direction: the objective's
        assert trial.metrics.get_best_value("val_top2") == trial.score
    best_hp = tuner.get_best_hyperparameters()[0]
    assert [spec.name for spec in best_hp.space] == ["units"]

    def build_v2(hp: Any) -> keras.Model:  # a later script's build function, given the best values
        model = _top2(hp)
        hp.Boolean("extra_layer")
        return model

    assert build_v2(best_hp).count_params() > 0 and best_hp.values == {**tuner.study.best_params, "extra_layer": False}


_FLAKY_CALLS: list[int] = []


def _flaky(hp: Any) -> keras.Model:
    """Fails the first time each trial builds it (a flaky resource), or always for units 24 (on purpose)."""
    units = hp.Int("units", 8, 24, step=8)
    _FLAKY_CALLS.append(hp.trial.number)
    if units == 24:
        raise mltune.errors.FailedTrialError("too large")
    if _FLAKY_CALLS.count(hp.trial.number) == 1:
        raise OSError("the GPU is busy")
    return build_model(hp)


def test_keras_tuners_max_retries_per_trial_trains_a_flaky_trial_again(workdir: Path, storage: str) -> None:
    x, y, xv, yv, *_ = _digits(100, 40)
    tuner = mltune.RandomSearch(_flaky, objective="val_accuracy", max_trials=4, storage=storage, progress="quiet",
                                max_retries_per_trial=1, max_consecutive_failed_trials=0)
    with pytest.warns(UserWarning, match="raised OSError: the GPU is busy; training it again .retry 1 of 1."):
        tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert {t.state.name for t in tuner.study.trials} == {"FAIL", "COMPLETE"}  # both kinds, by the seed
    assert [t.params["units"] for t in tuner.study.trials].count(24) == 1  # a failed configuration is tried once
    for trial in tuner.study.trials:
        big = trial.params["units"] == 24
        assert trial.state.name == ("FAIL" if big else "COMPLETE")
        assert _FLAKY_CALLS.count(trial.number) == (1 if big else 2)  # on purpose: not tried again
    runs = _trial_runs(MlflowClient(), tuner.parent_run_id)
    assert all(len(MlflowClient().get_metric_history(r.info.run_id, "val_accuracy")) == 1 for r in runs
               if r.info.status == "FINISHED")  # the failed attempt left nothing behind
