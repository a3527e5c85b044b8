"""Convolutional network for image rows: conv blocks (filters, kernel size, pooling), then a dense head.

The model takes raw rows, like every family (scikit-learn's digits: 64 pixel columns), scales them, and reshapes
them to images inside the model: the registered model still takes the table's rows.
"""

from __future__ import annotations

import math
from typing import Any

from mltune.families._base import InputShape, layer_units, regularizer
from mltune.families.hyperparameters import DENSE, TRAINING, Hyperparameter
from mltune.tasks import TASKS

POOLINGS = ("max", "average", "none")

CONV: dict[str, Hyperparameter] = {
    "conv_blocks": Hyperparameter("int", 2, low=1, high=16),
    "filters": Hyperparameter("int", 16, low=1, high=4096, per_layer_of="conv_blocks"),
    "kernel_size": Hyperparameter("int", 3, low=1, high=31),
    "pooling": Hyperparameter("str", "max", choices=POOLINGS),
}


def image_shape(shape: InputShape) -> tuple[int, int, int]:
    """The images' (height, width, channels): the shape's own, else square grey images (64 columns: 8x8x1), else
    square colour images (192 columns: 8x8x3).

    Raises:
        ValueError: the columns do not make square images and the shape gives none.
    """
    if shape.image_shape is not None:
        dims = tuple(int(d) for d in shape.image_shape)
        return (dims[0], dims[1], dims[2] if len(dims) > 2 else 1)
    for channels in (1, 3):
        side = math.isqrt(shape.n_features // channels)
        if shape.n_features % channels == 0 and side * side * channels == shape.n_features:
            return (side, side, channels)
    raise ValueError(f"model.family: 'cnn' needs image rows (height x width [x channels] columns), but got "
                     f"{shape.n_features} feature columns, which make no square image")


class CNN:
    """``conv_blocks`` blocks of Conv2D (``filters_i`` or ``filters``, ``kernel_size``, ``activation``) and pooling
    (``max``, ``average`` or ``none``), flattened into a dense head (``n_layers`` x ``units``, ``dropout``, L1/L2)
    and the task's output layer. Pooling stops halving once the image is 1 pixel wide."""

    tasks: tuple[str, ...] = ("classification", "regression")
    hyperparameters: dict[str, Hyperparameter] = {**TRAINING, **CONV, **DENSE}

    def build(self, params: dict[str, Any], shape: InputShape) -> Any:
        import keras

        height, width, channels = image_shape(shape)
        inputs = keras.Input(shape=(shape.n_features,), name="features")
        x = keras.layers.Normalization(mean=shape.mean, variance=shape.variance, name="scaling")(inputs)
        x = keras.layers.Reshape((height, width, channels), name="image")(x)
        pool = {"max": keras.layers.MaxPooling2D, "average": keras.layers.AveragePooling2D}.get(params["pooling"])
        for i in range(int(params["conv_blocks"])):
            filters = int(params.get(f"filters_{i}", params["filters"]))
            x = keras.layers.Conv2D(filters, int(params["kernel_size"]), padding="same",
                                    activation=params["activation"], kernel_regularizer=regularizer(params),
                                    name=f"conv_{i}")(x)
            if pool is not None and min(height, width) > 1:
                x = pool(2, padding="same", name=f"pool_{i}")(x)
                height, width = math.ceil(height / 2), math.ceil(width / 2)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(layer_units(params)):
            x = keras.layers.Dense(units, activation=params["activation"], kernel_regularizer=regularizer(params),
                                   name=f"dense_{i}")(x)
            if params["dropout"]:
                x = keras.layers.Dropout(params["dropout"], name=f"dropout_{i}")(x)
        outputs = TASKS[shape.task].output_layer(shape.n_outputs)(x)
        return keras.Model(inputs, outputs, name="cnn")
