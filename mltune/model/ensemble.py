"""Several trained models of one configuration as one Keras model that averages their outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras


def averaged(models: Sequence[Any]) -> Any:
    """One model that takes what each member takes and answers with the mean of their outputs (class
    probabilities, or the scaled target): the registered model stays one Keras file behind one pyfunc. One
    member is itself."""
    if len(models) == 1:
        return models[0]
    inputs = keras.tree.map_structure(lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name),
                                      models[0].input)
    for i, member in enumerate(models):
        member.name = f"member_{i}"
    outputs = [member(inputs) for member in models]
    return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name="ensemble")
