"""Dense autoencoder: learns to reconstruct its (scaled) input through a narrow code."""

from __future__ import annotations

from typing import Any

from mltune.families._base import InputShape, layer_units, regularizer
from mltune.families.hyperparameters import DENSE, TRAINING, Hyperparameter


class Autoencoder:
    """Encoder layers, a ``latent_dim`` code, and the encoder mirrored as decoder.

    The model reconstructs standardized features; the serving wrapper maps them back to raw units.
    """

    tasks: tuple[str, ...] = ("autoencoder",)
    hyperparameters: dict[str, Hyperparameter] = {
        **TRAINING,
        **DENSE,
        "latent_dim": Hyperparameter("int", 8, low=1, high=65_536),
    }

    def build(self, params: dict[str, Any], shape: InputShape) -> Any:
        import keras

        inputs = keras.Input(shape=(shape.n_features,), name="features")
        x = keras.layers.Normalization(mean=shape.mean, variance=shape.variance, name="scaling")(inputs)
        hidden = layer_units(params)

        def dense(units: int, name: str) -> Any:
            return keras.layers.Dense(
                units, activation=params["activation"], kernel_regularizer=regularizer(params), name=name
            )

        for i, units in enumerate(hidden):
            x = dense(units, f"encoder_{i}")(x)
            if params["dropout"]:
                x = keras.layers.Dropout(params["dropout"], name=f"dropout_{i}")(x)
        x = dense(int(params["latent_dim"]), "code")(x)
        for i, units in enumerate(reversed(hidden)):
            x = dense(units, f"decoder_{i}")(x)
        outputs = keras.layers.Dense(shape.n_features, name="reconstruction")(x)
        return keras.Model(inputs, outputs, name="autoencoder")
