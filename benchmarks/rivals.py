"""What mltune is compared with, written as a practitioner writes it: a hand-written Optuna TPE loop, KerasTuner's
``BayesianOptimization`` and ``Hyperband``, and scikit-learn's ``HistGradientBoosting``.

The three Keras searches share everything but the search itself:

- preprocessing: a scikit-learn ``ColumnTransformer`` fitted on the train rows (numeric columns:
  ``SimpleImputer(median)`` + ``StandardScaler``; text columns: ``SimpleImputer(most_frequent)`` +
  ``OneHotEncoder(handle_unknown="ignore")``); a regression target standardized with the train rows' mean and
  deviation (predictions are turned back into target units); class labels encoded as integers;
- one ``build_model(hp)`` in KerasTuner's terms (the Optuna loop calls it through a four-line adapter over its
  trial): 1-3 dense layers of 16-256 units each (log), relu/elu/gelu, dropout 0-0.3, L2 1e-7-1e-2 (log), Adam with
  a learning rate of 1e-4-1e-2 (log), batch size 32/64/128;
- training: up to 50 epochs with ``EarlyStopping(patience=8, restore_best_weights=True)`` on the validation rows'
  accuracy or RMSE; the input pipeline is mltune's :func:`mltune.model.training.fit_rows` (the same ``tf.data``
  batches mltune's trials use, so the comparison is about search, not about Keras' default pipeline).

Each search stops starting trials once ``budget`` seconds have passed since it began (Optuna: ``timeout``;
KerasTuner: a ``run_trial`` that refuses to start after the deadline). The model handed back is the one the tool
hands its user: the Optuna loop's best trial's model (kept in memory), KerasTuner's ``get_best_models(1)[0]``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import scratch
from benchmarks.search_tables import Problem

EPOCHS = 50
PATIENCE = 8
BATCH_SIZES = [32, 64, 128]


@dataclass
class Prepared:
    """A problem's rows as the Keras searches take them: float matrices and encoded targets."""

    task: str
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    classes: np.ndarray | None
    y_mean: float = 0.0
    y_sd: float = 1.0

    @property
    def objective(self) -> tuple[str, str]:
        """The validation metric's Keras name and whether it is maximized or minimized."""
        return ("accuracy", "max") if self.task == "classification" else ("rmse", "min")

    def decode(self, output: np.ndarray) -> np.ndarray:
        """Predicted labels (classification) or numbers in target units from the network's output."""
        if self.classes is not None:
            return self.classes[np.argmax(output, axis=1)]
        return np.asarray(output, dtype=float).ravel() * self.y_sd + self.y_mean

    def in_target_units(self, value: float | None) -> float | None:
        """A validation score the network reports (RMSE of the standardized target) in target units."""
        return None if value is None else value * (self.y_sd if self.classes is None else 1.0)


def preprocessor(features: pd.DataFrame) -> Any:
    """The ``ColumnTransformer`` a practitioner writes: medians and scaling for numbers, one-hot for text."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])
               and not pd.api.types.is_bool_dtype(features[c])]
    text = [c for c in features.columns if c not in numeric]
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                               OneHotEncoder(handle_unknown="ignore", sparse_output=False)), text),
    ], sparse_threshold=0.0)


def prepare(problem: Problem) -> Prepared:
    """Fits the preprocessing on the train rows and encodes train, validation and test rows."""
    features = problem.features.copy()
    for column in features.columns:
        if not pd.api.types.is_numeric_dtype(features[column]):
            features[column] = features[column].astype(object).where(features[column].notna(), np.nan)
    parts = {"train": problem.train, "validation": problem.validation, "test": problem.test}
    transform = preprocessor(features).fit(features.iloc[problem.train])
    x = {k: np.asarray(transform.transform(features.iloc[rows]), dtype=np.float32) for k, rows in parts.items()}
    raw = {k: problem.y(rows) for k, rows in parts.items()}
    if problem.task == "classification":
        classes = np.unique(problem.rows[problem.target].to_numpy())
        index = {value: i for i, value in enumerate(classes)}
        y = {k: np.array([index[v] for v in values], dtype=np.int32) for k, values in raw.items()}
        return Prepared(problem.task, x, y, classes)
    mean, sd = float(np.mean(raw["train"])), float(np.std(raw["train"])) or 1.0
    y = {k: ((np.asarray(v, dtype=float) - mean) / sd).astype(np.float32) for k, v in raw.items()}
    return Prepared(problem.task, x, y, None, mean, sd)


def model_builder(prepared: Prepared) -> Callable[[Any], Any]:
    """``build_model(hp)`` over the shared space, for this problem's input width and outputs."""
    import keras

    width = prepared.x["train"].shape[1]
    classify = prepared.classes is not None

    def build_model(hp: Any) -> Any:
        activation = hp.Choice("activation", ["relu", "elu", "gelu"])
        dropout = hp.Float("dropout", 0.0, 0.3)
        l2 = hp.Float("l2", 1e-7, 1e-2, sampling="log")
        inputs = keras.Input((width,))
        x = inputs
        for i in range(hp.Int("n_layers", 1, 3)):
            x = keras.layers.Dense(hp.Int(f"units_{i}", 16, 256, sampling="log"), activation=activation,
                                   kernel_regularizer=keras.regularizers.L2(l2))(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout)(x)
        if classify:
            assert prepared.classes is not None
            outputs = keras.layers.Dense(len(prepared.classes), activation="softmax")(x)
            loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        else:
            outputs = keras.layers.Dense(1)(x)
            loss, metrics = "mse", [keras.metrics.RootMeanSquaredError(name="rmse")]
        model = keras.Model(inputs, outputs)
        rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=metrics)
        return model

    return build_model


def early_stopping(prepared: Prepared) -> Any:
    import keras

    name, mode = prepared.objective
    return keras.callbacks.EarlyStopping(monitor=f"val_{name}", mode=mode, patience=PATIENCE,
                                         restore_best_weights=True)


def fit(hp: Any, model: Any, prepared: Prepared, *, seed: int, **fit_args: Any) -> Any:
    """Trains a model on the train rows, validating on the validation rows, with the batch size ``hp`` picks."""
    from mltune.model.training import fit_rows

    return fit_rows(model, prepared.x["train"], prepared.y["train"],
                    (prepared.x["validation"], prepared.y["validation"]),
                    batch_size=int(hp.Choice("batch_size", BATCH_SIZES)), seed=seed, **fit_args)


@dataclass
class Found:
    """What a search hands back: a predictor over row positions' encoded inputs, and its trials.

    Attributes:
        predict: ``"validation"`` or ``"test"`` to that part's predicted labels or numbers (target units).
        log: ``(seconds since the search began, epochs trained, validation score in target units or None)`` per
            trial, in the order they ended.
    """

    predict: Callable[[str], np.ndarray]
    log: list[tuple[float, int, float | None]] = field(default_factory=list)
    direction: str = ""
    """``maximize`` or ``minimize`` when the logged scores are not the table's accuracy or RMSE (mltune's metric)."""


class _OptunaHp:
    """KerasTuner's ``hp`` calls on an Optuna trial, so that both tools search the one ``build_model(hp)``."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def Int(self, name: str, low: int, high: int, sampling: str = "linear") -> int:  # noqa: N802
        return int(self.trial.suggest_int(name, low, high, log=sampling == "log"))

    def Float(self, name: str, low: float, high: float, sampling: str = "linear") -> float:  # noqa: N802
        return float(self.trial.suggest_float(name, low, high, log=sampling == "log"))

    def Choice(self, name: str, values: list[Any]) -> Any:  # noqa: N802
        return self.trial.suggest_categorical(name, values)


def optuna_loop(prepared: Prepared, *, seed: int, budget: float, epochs: int = EPOCHS) -> Found:
    """The hand-written loop: TPE, one model per trial, the best trial's model kept in memory."""
    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    keras.utils.set_random_seed(seed)
    build_model, (name, mode) = model_builder(prepared), prepared.objective
    pick = np.nanmax if mode == "max" else np.nanmin
    best: dict[str, Any] = {}
    found = Found(lambda part: prepared.decode(best["model"].predict(prepared.x[part], batch_size=1024, verbose=0)))
    started = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        hp = _OptunaHp(trial)
        model = build_model(hp)
        history = fit(hp, model, prepared, seed=seed, epochs=epochs, callbacks=[early_stopping(prepared)])
        value = float(pick(history.history[f"val_{name}"]))
        if "value" not in best or (value > best["value"] if mode == "max" else value < best["value"]):
            best.update(value=value, model=model)
        found.log.append((time.perf_counter() - started, len(history.history["loss"]),
                          prepared.in_target_units(value)))
        return value

    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, timeout=budget)
    return found


def keras_tuner(prepared: Prepared, *, tuner: str, seed: int, budget: float, epochs: int = EPOCHS) -> Found:
    """A KerasTuner search (``BayesianOptimization``, ``Hyperband`` or ``RandomSearch``) stopped at the budget."""
    import keras
    import keras_tuner as kt

    build_model, (name, mode) = model_builder(prepared), prepared.objective

    class MLP(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> Any:
            return build_model(hp)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("validation_data", None)
            return fit(hp, model, prepared, seed=seed, **kwargs)

    class OutOfTime(kt.errors.FatalError):  # type: ignore[misc]
        pass

    class Epochs(keras.callbacks.Callback):  # type: ignore[misc]
        trained = 0  # a class attribute: KerasTuner deep-copies the callback for every trial

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            type(self).trained += 1

    found = Found(lambda part: prepared.decode(best.predict(prepared.x[part], batch_size=1024, verbose=0)))
    started, counted = time.perf_counter(), [0]

    class Timed(getattr(kt, tuner)):  # type: ignore[misc]
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            if time.perf_counter() - started > budget:
                raise OutOfTime("budget spent")
            return super().run_trial(trial, *args, **kwargs)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            score = None if trial.score is None else prepared.in_target_units(float(trial.score))
            found.log.append((time.perf_counter() - started, Epochs.trained - counted[0], score))
            counted[0] = Epochs.trained

    options: dict[str, Any] = ({"max_epochs": epochs, "factor": 3, "hyperband_iterations": 1000}
                               if tuner == "Hyperband" else {"max_trials": 100_000})
    with scratch() as tmp:
        search = Timed(MLP(), objective=kt.Objective(f"val_{name}", direction=mode), seed=seed,
                       directory=str(tmp), project_name="kt", overwrite=True, **options)
        with contextlib.suppress(OutOfTime):
            search.search(prepared.x["train"], prepared.y["train"], epochs=epochs, verbose=0,
                          validation_data=(prepared.x["validation"], prepared.y["validation"]),
                          callbacks=[early_stopping(prepared), Epochs()])
        best = search.get_best_models(1)[0]
    return found


def hist_gradient_boosting(problem: Problem) -> Found:
    """``HistGradientBoosting`` with its defaults on the development rows (text columns as pandas categories,
    through mltune's :func:`~mltune.flows.baseline.tree_features`): one fit, no search."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from mltune.flows.baseline import tree_features

    classify = problem.task == "classification"
    estimator = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
        categorical_features="from_dtype", random_state=problem.seed)
    x = tree_features(problem.features)
    rows = {"validation": problem.validation, "test": problem.test}
    started = time.perf_counter()
    estimator.fit(x.iloc[problem.development], problem.y(problem.development))
    return Found(lambda part: np.asarray(estimator.predict(x.iloc[rows[part]])),
                 [(time.perf_counter() - started, 0, None)])
