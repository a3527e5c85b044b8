"""Multi-layer perceptron for classification and regression."""

from __future__ import annotations

from typing import Any

from mltune.families._base import InputShape, layer_units, regularizer
from mltune.families.hyperparameters import DENSE, TABLE, TRAINING, Hyperparameter
from mltune.tasks import TASKS


class MLP:
    """Dense layers with dropout and L1/L2, a softmax head for classes or a linear head for a number."""

    tasks: tuple[str, ...] = ("classification", "regression")
    hyperparameters: dict[str, Hyperparameter] = {**TRAINING, **DENSE, **TABLE}

    def build(self, params: dict[str, Any], shape: InputShape) -> Any:
        import keras

        inputs = keras.Input(shape=(shape.n_features,), name="features")
        x = keras.layers.Normalization(mean=shape.mean, variance=shape.variance, name="scaling")(inputs)
        for i, units in enumerate(layer_units(params)):
            x = keras.layers.Dense(
                units,
                activation=params["activation"],
                kernel_regularizer=regularizer(params),
                name=f"dense_{i}",
            )(x)
            if params["dropout"]:
                x = keras.layers.Dropout(params["dropout"], name=f"dropout_{i}")(x)
        outputs = TASKS[shape.task].output_layer(shape.n_outputs)(x)
        return keras.Model(inputs, outputs, name="mlp")
