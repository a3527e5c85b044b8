"""The data report: what the checks found that can train but deserves a look.

Columns dropped and why, constant columns, empty-cell shares, extreme outliers (with counts and examples),
class balance, duplicate rows and rows dropped for an empty target. It is logged on the study's parent run as a
table (``data_report.csv``) and summed up in a few console lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mltune.data.columns import Column, plain_value

OUTLIER_IQRS = 5.0
"""A value further than this many interquartile ranges beyond the quartiles is an extreme outlier (the model
clips features to the same fences, learned on its training rows)."""
HEAVY_TAIL_SHARE = 0.005
"""Outliers are rare: past this share of a column's values beyond the fences, the column is heavy-tailed."""
OWN_SPREAD_SHARE = 0.02
"""Past this share beyond even the log-scale fence, the values there are the column's own spread, not outliers."""
IMBALANCED = 0.2
"""Classes are called unequal when the rarest has less than this share of the most common one's rows."""


@dataclass(frozen=True)
class Finding:
    """One line of the data report.

    Attributes:
        column: the column it is about ("" for the whole table).
        check: what was checked: kind, dropped, constant, empty cells, outliers, class balance, duplicate rows,
            empty target.
        detail: what was found, in words a person reads.
        count: how many cells or rows, where that applies.
    """

    column: str
    check: str
    detail: str
    count: int | None = None


@dataclass(frozen=True)
class DataReport:
    """Every finding of the data checks, in the order they were made."""

    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def frame(self) -> pd.DataFrame:
        """The report as a table (one row per finding)."""
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=["column", "check", "detail", "count"])

    def lines(self, *, per_check: int | None = None) -> list[str]:
        """Console lines: the feature columns' kinds in one line, then every other finding; with ``per_check``,
        a check found in more columns than that shows those with the largest counts and then how many more (a wide
        table's hundred "empty cells" lines would hide the one line that matters)."""
        kinds = [f for f in self.findings if f.check == "kind"]
        summary = ", ".join(f"{f.column} ({f.detail.split(':')[0]})" for f in kinds[:12])
        more = f" and {len(kinds) - 12} more" if len(kinds) > 12 else ""
        lines = [f"data: {len(kinds)} feature column(s): {summary}{more}"] if kinds else []
        others = [f for f in self.findings if f.check != "kind"]
        left_out: dict[str, list[Finding]] = {}
        for check in dict.fromkeys(f.check for f in others):
            found = sorted((f for f in others if f.check == check and f.column), key=lambda f: -(f.count or 0))
            if per_check is not None and len(found) > per_check:
                left_out[check] = found[per_check:]
        hidden = {id(f) for found in left_out.values() for f in found}
        lines += [f"data: {f.column + ': ' if f.column else ''}{f.check}: {f.detail}" for f in others
                  if id(f) not in hidden]
        return lines + [f"data: {check}: also in {len(found)} more column(s) (all in the parent run's data_report.csv)"
                        for check, found in left_out.items()]

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]


def describe(frame: pd.DataFrame, columns: Sequence[Column], *, target: str | None, task: str,
             dropped_target_rows: int = 0, class_weights: str = "none") -> DataReport:
    """The data report of a loaded table (``frame`` holds the used features and the target)."""
    findings: list[Finding] = []
    for column in columns:
        if not column.used:
            findings.append(Finding(column.name, "dropped", column.reason))
            continue
        findings.append(Finding(column.name, "kind", f"{column.kind}: {column.reason}"))
        if column.constant:
            findings.append(Finding(column.name, "constant", column.reason.partition(": ")[2]))
        text = re.fullmatch(r"numbers, but (\d+) (.*)", column.reason)
        if text:  # '?', 'rotary' among numbers: the user should hear which cells became empty
            findings.append(Finding(column.name, "text among numbers", f"{text[1]} {text[2]}", int(text[1])))
        findings.extend(_empty_cells(frame[column.name]))
        if column.kind in ("numeric", "integer"):
            findings.extend(_outliers(frame[column.name]))
    if dropped_target_rows:
        findings.append(Finding(str(target), "empty target",
                                f"{dropped_target_rows} row(s) with an empty target were dropped",
                                dropped_target_rows))
    if target is not None and task == "classification":
        findings.append(_class_balance(frame[target], weighed=class_weights == "balanced"))
    duplicates = int(frame.duplicated().sum())
    if duplicates:
        findings.append(Finding("", "duplicate rows", f"{duplicates} row(s) repeat an earlier row in every column "
                                "the model reads (copies on both sides of a split flatter the validation and test "
                                "scores)", duplicates))
    return DataReport(tuple(findings))


def _empty_cells(values: pd.Series) -> list[Finding]:
    empty = int(values.isna().sum())
    if not empty:
        return []
    share = empty / len(values)
    return [Finding(str(values.name), "empty cells", f"{empty} of {len(values)} cells ({_percent(share)}) are empty; "
                    "the model fills them (median or a category of their own) and sees that they were empty", empty)]


def outlier_fences(values: np.ndarray) -> tuple[float, float]:
    """The fences beyond which a value is an extreme outlier: quartiles -/+ :data:`OUTLIER_IQRS` IQRs.

    A side with more than :data:`HEAVY_TAIL_SHARE` of the values beyond its fence is a heavy tail (counts, prices,
    delays), not corrupted cells: its fence is taken on the signed log scale ``sign(x) log(1 + |x|)`` instead (the
    quartiles there -/+ 5 of their IQRs), so its real large values stay apart. Where more than
    :data:`OWN_SPREAD_SHARE` of the values still lie beyond (small numbers, for which that scale is almost linear, with
    half of them on one value: a change that is most often 0), the fence moves out to the 5% (95%) quantile -/+ 5
    times its distance to the median. With no spread between the quartiles (a mostly constant column) the fences
    are the 0.1% and 99.9% quantiles, widened to the median -/+ 5 times ``max(|median|, 1)`` (a flag's rare value
    is not an outlier).
    """
    low, high, _ = _fences(values)
    return low, high


def _fences(values: np.ndarray) -> tuple[float, float, bool]:
    """:func:`outlier_fences`, and whether one of them is on the log scale."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0, False
    q25, q75 = np.quantile(finite, [0.25, 0.75])
    spread = q75 - q25
    if spread <= 0:  # mostly one value: its rare others (the zeros of a 0/1 flag) stay, a corrupted cell does not
        low, high = np.quantile(finite, [0.001, 0.999])
        middle = float(np.median(finite))
        reach = OUTLIER_IQRS * max(abs(middle), 1.0)
        return float(min(low, middle - reach)), float(max(high, middle + reach)), False
    low, high = q25 - OUTLIER_IQRS * spread, q75 + OUTLIER_IQRS * spread
    heavy_low, heavy_high = np.mean(finite < low) > HEAVY_TAIL_SHARE, np.mean(finite > high) > HEAVY_TAIL_SHARE
    if heavy_low or heavy_high:
        log25, log75 = np.sign([q25, q75]) * np.log1p(np.abs([q25, q75]))
        log_spread = OUTLIER_IQRS * (log75 - log25)
        if heavy_low:
            low = np.sign(log25 - log_spread) * np.expm1(abs(log25 - log_spread))
        if heavy_high:
            high = np.sign(log75 + log_spread) * np.expm1(abs(log75 + log_spread))
        q05, median, q95 = np.quantile(finite, [0.05, 0.5, 0.95])
        if np.mean(finite < low) > OWN_SPREAD_SHARE:
            low = min(low, q05 - OUTLIER_IQRS * (median - q05))
        if np.mean(finite > high) > OWN_SPREAD_SHARE:
            high = max(high, q95 + OUTLIER_IQRS * (q95 - median))
    return float(low), float(high), bool(heavy_low or heavy_high)


def _outliers(values: pd.Series) -> list[Finding]:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(numbers)
    low, high, heavy = _fences(numbers[present])
    outside = present & ((numbers < low) | (numbers > high))
    count = int(outside.sum())
    if not count:
        return []
    examples = ", ".join(f"{v:.6g}" for v in numbers[outside][:3])
    scale = "; on the log scale where a tail is heavy" if heavy else ""
    return [Finding(str(values.name), "outliers",
                    f"{count} value(s) outside [{low:.6g}, {high:.6g}] (quartiles -/+ {OUTLIER_IQRS:g} IQR{scale}), "
                    f"e.g. {examples}; the model clips them to those bounds", count)]


def _percent(share: float) -> str:
    return "under 0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def _class_balance(values: pd.Series, *, weighed: bool) -> Finding:
    counts = values.value_counts()
    shares = ", ".join(f"{plain_value(k)!r}: {v}" for k, v in list(counts.items())[:10])  # False, not np.False_
    unequal = counts.min() < IMBALANCED * counts.max()
    advice = "weighed by data.class_weights: balanced" if weighed else "consider data.class_weights: balanced"
    word = f"unequal ({advice})" if unequal else "balanced enough"
    return Finding(str(values.name), "class balance", f"{len(counts)} classes, {word}: {shares}")
