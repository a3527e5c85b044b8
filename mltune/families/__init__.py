"""Model families by name: the built-in ones and those installed packages register. Importing this package does
not import TensorFlow.

A package adds a family with an entry point in the group ``mltune.families``, e.g. in its ``pyproject.toml``::

    [project.entry-points."mltune.families"]
    resnet_small = "my_models.families:ResNetSmall"

The name is what a recipe's ``model.family`` says; the object is a family (or a class whose instance is one): it
has ``tasks``, ``hyperparameters`` and ``build(params, shape)`` (see :class:`ModelFamily`). Recipes name
families; they never import code by an arbitrary string. Installed families load the first time a name that is
not built in is looked up, or every name is listed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mltune.errors import ConfigError
from mltune.families._base import InputShape, ModelFamily
from mltune.families.autoencoder import Autoencoder
from mltune.families.cnn import CNN
from mltune.families.mlp import MLP
from mltune.names import FAMILIES_ENTRY_POINT_GROUP

ENTRY_POINT_GROUP = FAMILIES_ENTRY_POINT_GROUP

BUILT_IN: dict[str, ModelFamily] = {
    "mlp": MLP(),
    "autoencoder": Autoencoder(),
    "cnn": CNN(),
}


class _Families(Mapping[str, ModelFamily]):
    """The built-in families, then the installed ones (loaded once, on first need). A built-in name wins."""

    def __init__(self) -> None:
        self._table: dict[str, ModelFamily] = dict(BUILT_IN)
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            if point.name not in self._table:
                self._table[point.name] = _family(point)

    def __getitem__(self, name: str) -> ModelFamily:
        if name not in self._table:
            self._load()
        return self._table[name]

    def __contains__(self, name: object) -> bool:
        if name not in self._table:
            self._load()
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._table)

    def __len__(self) -> int:
        self._load()
        return len(self._table)


def _family(point: Any) -> ModelFamily:
    """The family an entry point names, checked for the protocol."""
    where = f"entry point {point.name!r} = {point.value!r} (group {ENTRY_POINT_GROUP})"
    try:
        found = point.load()
    except Exception as error:
        raise ConfigError(f"model.family: {where} does not load: {type(error).__name__}: {error}") from None
    family = found() if isinstance(found, type) else found
    missing = [a for a in ("tasks", "hyperparameters", "build") if not hasattr(family, a)]
    if missing:
        raise ConfigError(f"model.family: {where} must give a family with tasks, hyperparameters and "
                          f"build(params, shape), but got {found!r} without {', '.join(missing)}")
    return family  # type: ignore[no-any-return]


FAMILIES: Mapping[str, ModelFamily] = _Families()

__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "FAMILIES", "InputShape", "ModelFamily"]
