"""Messy tables as analysts have them, made here (no download): text and yes/no columns, integer codes, empty
cells, stray spaces, identifiers, free text, dates and a few impossible values."""

from __future__ import annotations

import numpy as np
import pandas as pd


def messy_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A credit-like table with a numeric target ``balance`` and a yes/no target ``default``.

    ``income`` has empty cells and five impossible values (9.7e14); ``city`` has stray spaces and empty cells;
    ``customer_id`` is an identifier and ``note`` free text (both dropped); ``opened`` holds dates.
    """
    rng = np.random.default_rng(seed)
    city = rng.choice([" Oslo", "Bergen ", "Trondheim", "Stavanger"], n).astype(object)
    frame = pd.DataFrame({
        "customer_id": np.arange(10_000, 10_000 + n),
        "age": rng.integers(18, 80, n),
        "income": np.round(rng.lognormal(10, 0.4, n), 2),
        "city": city,
        "student": rng.choice(["Yes", "No"], n),
        "cards": rng.integers(1, 5, n),
        "grade": rng.choice(["C", "B", "A"], n),
        "opened": pd.date_range("2019-01-01", periods=n, freq="3D").strftime("%Y-%m-%d"),
        "note": [f"called on {i}, ref {rng.integers(1_000_000)}" for i in range(n)],
    })
    frame.loc[rng.choice(n, n // 10, replace=False), "income"] = np.nan
    frame.loc[rng.choice(n, n // 12, replace=False), "city"] = np.nan
    frame.loc[rng.choice(n, 5, replace=False), "income"] = 9.7e14
    effect = frame["city"].str.strip().map({"Oslo": 1.0, "Bergen": 0.0, "Trondheim": -1.0, "Stavanger": 0.5})
    signal = (frame["age"] / 30 + (frame["student"] == "Yes") * 1.5 + effect.fillna(0)
              + frame["grade"].map({"C": 0.0, "B": 0.5, "A": 1.0}) + rng.normal(0, 0.3, n))
    frame["balance"] = np.round(signal * 100, 1)
    frame["default"] = np.where(signal > signal.median(), "yes", "no")
    return frame
