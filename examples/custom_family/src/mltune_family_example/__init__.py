"""A model family of one's own: a wide & deep network (a linear path beside a deep one), for mltune's recipes.

Installed (``pip install -e examples/custom_family``), it is the family ``wide_deep`` in a recipe:
``model: {family: wide_deep}``, with its own hyperparameter ``deep_units`` next to mltune's training knobs.
"""

from __future__ import annotations

from typing import Any

from mltune.families import InputShape
from mltune.families.hyperparameters import TRAINING, Hyperparameter
from mltune.tasks import TASKS


class WideAndDeep:
    """What mltune asks of a family: the tasks it can do, the hyperparameters it knows, and ``build``."""

    tasks: tuple[str, ...] = ("classification", "regression")
    hyperparameters: dict[str, Hyperparameter] = {
        **TRAINING,  # learning_rate, batch_size, epochs, optimizer, ...: mltune's trainer reads them
        "deep_units": Hyperparameter("int", 32, low=1, high=4096),
        "deep_layers": Hyperparameter("int", 2, low=1, high=8),
    }

    def build(self, params: dict[str, Any], shape: InputShape) -> Any:
        """An uncompiled Keras model that takes raw feature rows (mltune compiles and trains it)."""
        import keras

        inputs = keras.Input(shape=(shape.n_features,), name="features")
        x = keras.layers.Normalization(mean=shape.mean, variance=shape.variance, name="scaling")(inputs)
        deep = x
        for i in range(int(params["deep_layers"])):
            deep = keras.layers.Dense(int(params["deep_units"]), activation="relu", name=f"deep_{i}")(deep)
        both = keras.layers.Concatenate(name="wide_and_deep")([x, deep])
        outputs = TASKS[shape.task].output_layer(shape.n_outputs)(both)
        return keras.Model(inputs, outputs, name="wide_deep")
