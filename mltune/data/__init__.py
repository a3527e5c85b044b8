"""Data: tables of raw rows, and their test, development and trial splits."""

from __future__ import annotations

from mltune.data.splits import Fold, Splits, make_splits
from mltune.data.tables import Table, load_table, with_table_metric

__all__ = ["Fold", "Splits", "Table", "load_table", "make_splits", "with_table_metric"]
