"""Data: tables of raw rows, and their test, development and trial splits."""

from __future__ import annotations

from mltune.data.splits import Fold, Splits, make_splits
from mltune.data.tables import Table, for_table, load_table

__all__ = ["Fold", "Splits", "Table", "load_table", "make_splits", "for_table"]
