"""Model families by name. Importing this package does not import TensorFlow."""

from __future__ import annotations

from mltune.families._base import InputShape, ModelFamily
from mltune.families.autoencoder import Autoencoder
from mltune.families.mlp import MLP

FAMILIES: dict[str, ModelFamily] = {
    "mlp": MLP(),
    "autoencoder": Autoencoder(),
}

__all__ = ["FAMILIES", "InputShape", "ModelFamily"]
