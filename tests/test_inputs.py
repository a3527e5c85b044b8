"""Preprocessing inside the Keras model: imputation, indicators, clipping, lookups; saved and loaded safely."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from mltune.data.columns import Column, model_inputs
from mltune.model.inputs import numeric_layer, predict, table_model, word_vocabulary

COLUMNS = [Column("x", "numeric", "", missing=True), Column("n", "integer", ""), Column("c", "categorical", ""),
           Column("o", "ordinal", "", order=("low", "mid", "high"))]
ROWS = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0, 3.0, 2.5, 1.5, 3.5],
                     "n": [1, 2, 3, 4, 5, 6, 7, 8],
                     "c": ["a", "b", "a", "b", "a", None, "b", "a"],
                     "o": ["low", "mid", "high", "mid", "low", "high", "mid", "low"]})


def test_numeric_layer_fills_flags_clips_and_scales() -> None:
    train = np.array([[1.0], [2.0], [np.nan], [3.0], [2.0], [2.5]], dtype=np.float32)
    layer = numeric_layer(train)
    assert layer.median == [2.0] and layer.indicate == [0]
    out = np.asarray(layer(np.array([[np.nan], [1e30], [np.inf], [2.0]], dtype=np.float32)))
    assert out.shape == (4, 2)
    np.testing.assert_array_equal(out[:, 1], [1, 0, 0, 0])  # the missing-value indicator
    assert out[1, 0] == out[2, 0] == pytest.approx((layer.high[0] - layer.mean[0]) / layer.std[0])  # clipped
    assert np.isfinite(out).all()


@pytest.mark.parametrize(("encoding", "numbers"), [("onehot", "none"), ("embedding", "none"),
                                                   ("onehot", "periodic")])
def test_table_model_answers_unseen_rows_and_loads_in_safe_mode(tmp_path: Path, encoding: str, numbers: str) -> None:
    inputs = model_inputs(ROWS, COLUMNS)
    params = {"n_layers": 1, "units": 4, "activation": "relu", "dropout": 0.0, "categorical_encoding": encoding,
              "embedding_dim": 2, "numeric_embedding": numbers}
    model = table_model(family="mlp", task="regression", params=params, columns=COLUMNS, x_train=inputs,
                        n_outputs=1)
    unseen = pd.DataFrame({"x": [np.nan], "n": [100], "c": ["never seen"], "o": ["extreme"]})
    before = predict(model, model_inputs(unseen, COLUMNS))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    after = predict(loaded, model_inputs(unseen, COLUMNS))
    assert np.isfinite(before).all()
    np.testing.assert_allclose(before, after, rtol=1e-6)


def test_quantile_scaling_spreads_a_skewed_column_into_normal_scores_and_survives_saving(tmp_path: Path) -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    train = rng.lognormal(0.0, 2.0, size=(2000, 1)).astype(np.float32)  # skewed: a few values 100x the median
    train[:20] = np.nan
    layer = numeric_layer(train, quantiles=True)
    out = np.asarray(layer(train))
    scores = out[20:, 0]
    assert abs(float(np.mean(scores))) < 0.05 and abs(float(np.std(scores)) - 1.0) < 0.1
    assert stats.spearmanr(train[20:, 0], scores).statistic > 0.999  # order kept
    np.testing.assert_array_equal(out[:, 1], np.isnan(train[:, 0]))  # the missing-value indicator is unchanged
    inputs = keras.Input(shape=(1,), dtype="float32")
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    new = np.array([[1e30], [-5.0], [1.0]], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(loaded(new)), np.asarray(model(new)), rtol=1e-6)
    assert np.isfinite(np.asarray(loaded(new))).all()


def test_a_numeric_layer_from_statistics_made_before_is_the_one_made_from_the_rows() -> None:
    from mltune.model.inputs import numeric_statistics

    train = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 6.0], [100.0, 7.0]])
    made = numeric_statistics(train)
    for quantiles in (False, True):
        given = numeric_layer(train, quantiles=quantiles, statistics=made).get_config()
        assert given == numeric_layer(train, quantiles=quantiles).get_config()


def test_a_periodic_embedding_of_numeric_columns_trains_saves_and_loads(tmp_path: Path) -> None:
    from mltune.model.inputs import PeriodicEmbedding

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32")
    y = (np.sin(4 * x[:, 0]) > 0).astype("float32")  # a shape an MLP on raw inputs draws poorly
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    embedded = PeriodicEmbedding(frequencies=8, dim=4, sigma=0.5)(inputs)
    assert tuple(embedded.shape) == (None, 12)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(16, "relu")(embedded)))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_free_text_is_a_bag_of_the_words_seen_in_two_training_rows_as_keras_splits_them(tmp_path: Path) -> None:
    columns = [Column("name", "text", ""), Column("n", "integer", "")]
    rows = pd.DataFrame({"name": ["Braund, Mr. Owen", "Cumings, Mrs. John", "Heikkinen, Miss. Laina", "Allen, Mr. John",
                                  "Moran, MR James", None], "n": [1, 2, 3, 4, 5, 6]})
    inputs = model_inputs(rows, columns)
    assert word_vocabulary(inputs["text_0"]) == ["mr", "john"]  # seen in 2 rows or more; punctuation and case gone
    params = {"n_layers": 1, "units": 4, "activation": "relu", "dropout": 0.0}
    model = table_model(family="mlp", task="regression", params=params, columns=columns, x_train=inputs,
                        n_outputs=1)
    bag = keras.Model(model.inputs, model.get_layer("text_0_flat").output)
    # [another word, mr, john]: a surname is another word, and so is an empty cell
    assert predict(bag, inputs).tolist() == [[1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0]]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(predict(loaded, inputs), predict(model, inputs), rtol=1e-6)

    unique = model_inputs(rows.assign(name=[f"word{i} other{i}" for i in range(5)] + [None]), columns)
    alone = table_model(family="mlp", task="regression", params=params, columns=columns, x_train=unique, n_outputs=1)
    bag = keras.Model(alone.inputs, alone.get_layer("text_0_flat").output)  # no word repeats: [another, empty]
    assert predict(bag, unique).tolist() == [[1, 0]] * 5 + [[0, 1]]
