"""Multi-layer perceptron for classification and regression, plain or residual (the tabular ResNet)."""

from __future__ import annotations

from typing import Any

from mltune.families._base import InputShape, layer_units, regularizer
from mltune.families.hyperparameters import DENSE, LAYOUT, TABLE, TRAINING, Hyperparameter
from mltune.tasks import TASKS


class MLP:
    """Dense layers with dropout and L1/L2, a softmax head for classes or a linear head for a number.

    ``normalization`` (batch or layer) goes between each dense layer and its activation. ``block: residual`` is
    the ResNet of Gorishniy et al. 2021: a linear stem to ``units_0`` wide, then per layer a block
    ``x + Dense(Dropout(Dense(act(norm(x)))))`` whose inner width is that layer's units, and a last
    normalization and activation before the head.
    """

    tasks: tuple[str, ...] = ("classification", "regression")
    hyperparameters: dict[str, Hyperparameter] = {**TRAINING, **DENSE, **LAYOUT, **TABLE}

    def build(self, params: dict[str, Any], shape: InputShape) -> Any:
        import keras

        inputs = keras.Input(shape=(shape.n_features,), name="features")
        x = keras.layers.Normalization(mean=shape.mean, variance=shape.variance, name="scaling")(inputs)
        layers = _Layers(params)
        units = layer_units(params)
        if params.get("block", "plain") == "residual":
            x = layers.dense(units[0], "stem")(x)
            for i, width in enumerate(units):
                h = layers.activated(layers.normalized(x, f"norm_{i}"), f"act_{i}")
                h = layers.dropped(layers.dense(width, f"dense_{i}")(h), f"dropout_{i}")
                x = keras.layers.Add(name=f"skip_{i}")([x, layers.dense(units[0], f"back_{i}")(h)])
            x = layers.activated(layers.normalized(x, "norm_out"), "act_out")
        else:
            for i, width in enumerate(units):
                if layers.normalization == "none":
                    x = layers.dense(width, f"dense_{i}", activation=params["activation"])(x)
                else:
                    x = layers.activated(layers.normalized(layers.dense(width, f"dense_{i}")(x), f"norm_{i}"),
                                         f"act_{i}")
                x = layers.dropped(x, f"dropout_{i}")
        outputs = TASKS[shape.task].output_layer(shape.n_outputs)(x)
        return keras.Model(inputs, outputs, name="mlp")


class _Layers:
    """Makes the MLP's layers from one configuration."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.normalization = params.get("normalization", "none")

    def dense(self, units: int, name: str, activation: str | None = None) -> Any:
        import keras

        return keras.layers.Dense(units, activation=activation, kernel_regularizer=regularizer(self.params),
                                  name=name)

    def normalized(self, x: Any, name: str) -> Any:
        import keras

        if self.normalization == "batch":
            return keras.layers.BatchNormalization(name=name)(x)
        if self.normalization == "layer":
            return keras.layers.LayerNormalization(name=name)(x)
        return x

    def activated(self, x: Any, name: str) -> Any:
        import keras

        return keras.layers.Activation(self.params["activation"], name=name)(x)

    def dropped(self, x: Any, name: str) -> Any:
        import keras

        return keras.layers.Dropout(self.params["dropout"], name=name)(x) if self.params["dropout"] else x
