"""The hyperparameters mltune knows: their kind, default and allowed values.

A recipe's search space may only name these; the model families and the trainer read them by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad")
ACTIVATIONS = ("relu", "tanh", "elu", "selu", "gelu", "swish", "sigmoid", "leaky_relu")
LR_SCHEDULES = ("constant", "cosine", "one_cycle", "reduce_on_plateau")
"""``cosine`` decays the rate to 0 over the epochs; ``one_cycle`` first warms it up from 1/25 of it over the first
10% of the steps, then decays it (Smith's one-cycle policy, as Kadra et al. 2021 and RealMLP train tables)."""
LOSSES = ("auto", "mse", "mae", "huber")
"""``auto``: the loss follows the objective (absolute error for MAE, squared error otherwise, cross-entropy for
classes); the others choose a regression loss."""
CATEGORICAL_ENCODINGS = ("onehot", "embedding")
NUMERIC_SCALINGS = ("standard", "quantile")
NUMERIC_EMBEDDINGS = ("none", "periodic")
NORMALIZATIONS = ("none", "batch", "layer")
BLOCKS = ("plain", "residual")


@dataclass(frozen=True)
class Hyperparameter:
    """What a hyperparameter may be.

    Attributes:
        kind: "float", "int" or "str".
        default: the value used when a recipe does not mention it.
        low: smallest allowed value (numbers only).
        high: largest allowed value (numbers only).
        high_exclusive: whether ``high`` itself is excluded.
        choices: the allowed values for a "str" hyperparameter.
        optional: whether ``None`` is allowed (e.g. no early stopping).
        per_layer_of: the layer-count hyperparameter, when this one may take a value per layer
            (``per_layer`` in a recipe: ``units_0``, ``units_1``, ...).
    """

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    high_exclusive: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    per_layer_of: str | None = None

    def check(self, value: Any) -> str | None:
        """Returns the broken rule for ``value``, or None when the value is allowed."""
        if value is None:
            return None if self.optional else "must not be empty"
        if self.kind == "str":
            if value not in self.choices:
                return f"must be one of {', '.join(self.choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number ({self.kind})"
        if self.kind == "int" and not float(value).is_integer():
            return "must be an integer"
        if self.low is not None and value < self.low:
            return f"must be >= {self.low:g}"
        if self.high is not None and (value >= self.high if self.high_exclusive else value > self.high):
            return f"must be {'<' if self.high_exclusive else '<='} {self.high:g}"
        return None


# Training knobs shared by every family.
TRAINING: dict[str, Hyperparameter] = {
    "learning_rate": Hyperparameter("float", 1e-3, low=1e-12, high=10.0),
    "batch_size": Hyperparameter("int", 32, low=1, high=1_000_000),
    "epochs": Hyperparameter("int", 10, low=1, high=100_000),
    "optimizer": Hyperparameter("str", "adam", choices=OPTIMIZERS),
    "momentum": Hyperparameter("float", 0.0, low=0.0, high=1.0, high_exclusive=True),
    "weight_decay": Hyperparameter("float", 0.004, low=0.0, high=1.0),
    "lr_schedule": Hyperparameter("str", "constant", choices=LR_SCHEDULES),
    "patience": Hyperparameter("int", None, low=1, high=100_000, optional=True),
    "loss": Hyperparameter("str", "auto", choices=LOSSES),
}

# Architecture knobs of dense networks.
DENSE: dict[str, Hyperparameter] = {
    "n_layers": Hyperparameter("int", 1, low=1, high=64),
    "units": Hyperparameter("int", 64, low=1, high=65_536, per_layer_of="n_layers"),
    "activation": Hyperparameter("str", "relu", choices=ACTIVATIONS),
    "dropout": Hyperparameter("float", 0.0, low=0.0, high=1.0, high_exclusive=True),
    "l1": Hyperparameter("float", 0.0, low=0.0, high=10.0),
    "l2": Hyperparameter("float", 0.0, low=0.0, high=10.0),
}

# How the MLP's layers are put together (Gorishniy et al. 2021: the ResNet for tables).
LAYOUT: dict[str, Hyperparameter] = {
    "normalization": Hyperparameter("str", "none", choices=NORMALIZATIONS),
    "block": Hyperparameter("str", "plain", choices=BLOCKS),
}

# How a table's categorical columns reach a family (preprocessing inside the model, ``mltune.model.inputs``).
TABLE: dict[str, Hyperparameter] = {
    "numeric_scaling": Hyperparameter("str", "standard", choices=NUMERIC_SCALINGS),
    "numeric_embedding": Hyperparameter("str", "none", choices=NUMERIC_EMBEDDINGS),
    "periodic_sigma": Hyperparameter("float", 0.1, low=1e-4, high=100.0),
    "categorical_encoding": Hyperparameter("str", "onehot", choices=CATEGORICAL_ENCODINGS),
    "embedding_dim": Hyperparameter("int", 4, low=1, high=1024),
}
