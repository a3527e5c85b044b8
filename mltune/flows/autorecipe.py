"""A recipe inferred from a table: ``mltune tune --data FILE --target COLUMN`` with no recipe file.

The task comes from the target (text, yes/no or a few whole numbers: classification; other numbers: regression),
the metric from the task and the class balance, the search space from the table's size and its columns (many
categories: their encoding is tuned; at most MAX_PERIODIC_INPUTS numeric inputs: each embedded periodically).
The result is an ordinary recipe: printed and logged, so it can be copied into a file and edited.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mltune.config.recipe import Recipe, SplitSpec, apply_overrides, parse_recipe, table_format
from mltune.data.columns import (
    MAX_CLASSES_OF_NUMBERS,
    clean_text,
    column_list,
    decimal_comma_number,
    few_whole_numbers,
    infer_columns,
    numeric_names,
    read_numbers,
)
from mltune.data.report import IMBALANCED
from mltune.data.splits import rows_to_stratify
from mltune.data.tables import SEPARATORS, class_labels, first_line, headerless_names, read_file
from mltune.errors import ConfigError

MIN_SCALE_VALUES = 5
"""A whole-number target with at least this many values, some far rarer than others, is a score or a count (wine
quality 3-8, cases 0-17): a number to predict. Fewer values, or values about as common as each other, are class
codes."""
TRIAL_ROWS = 640_000
"""About how many rows a trial of the default space trains on (its epochs times the training rows)."""
MAX_EPOCHS_LARGE = 50
"""A trial's epochs on a table of 5,000 rows or more, unless TRIAL_ROWS asks for fewer."""
ENSEMBLE = 5
"""The registered model averages this many seeds of the best configuration (``promotion.ensemble``)."""
LONGER = ENSEMBLE - 1
"""When trials were cut short, the registered model trains this many times their epochs instead (the cost of the
ensemble's other members)."""
MAX_PERIODIC_INPUTS = 16
"""A table with at most this many numeric inputs (a date counts as its parts) embeds each periodically
(``search.numeric_embedding: periodic``): it measured better on such tables and worse on digits' 64 pixels
(``docs/benchmarks.md``)."""


def infer_recipe(path: str, target: str, overrides: Sequence[str] = ()) -> tuple[Recipe, str]:
    """The recipe for a table with no recipe file, and its YAML (with the reasons as comments).

    Raises:
        ConfigError: the file cannot be read, has no such target column, or the recipe (with overrides) is invalid.
    """
    file = Path(path).expanduser().absolute()
    source = str(file)
    separator = sniff_separator(file)
    given = dict(item.partition("=")[::2] for item in overrides)
    names = yaml.safe_load(given.get("data.column_names", "null"))  # a file with no header row
    names = [str(name) for name in names] if isinstance(names, list) else None
    frame = read_file(file, separator, source=source, target=target, names=names)
    comma = decimal_comma_example(frame, separator)
    if comma is not None:
        frame = read_file(file, separator, source=source, decimal=",", target=target, names=names)
    headerless = table_format(file) == "text" and list(frame.columns) == headerless_names(frame.shape[1])
    if target not in frame.columns:
        hint = ("; its first line is data, not names, so the columns are numbered: give --target column_N, or "
                "name them with --set 'data.column_names=[...]'") if headerless else ""
        raise ConfigError(f"{source}: --target: no such column, but got {target!r} "
                          f"({column_list(list(frame.columns), target)}){hint}")
    values = clean_text(frame[target]).dropna()
    task, why = (given["task"].strip(), "given with --set") if "task" in given else _task(values, target)
    raw, notes = _raw_recipe(frame, file, target, task, separator, values)
    if headerless:
        notes.append(f"the first line of {file.name} is data, not names: columns column_1 ... column_{frame.shape[1]}"
                     " (name them with data.column_names)")
    if comma is not None:
        raw["data"]["decimal"] = ","
        notes.append(f"numbers are written with decimal commas (e.g. {comma!r}): data.decimal ','")
    resolved = apply_overrides(raw, overrides, source=file)
    epochs = resolved.get("search", {}).get("epochs")
    if isinstance(epochs, int) and epochs > 0 and not any(k.startswith("pruner") for k in given):
        resolved["pruner"]["min_resource"] = first_rung(epochs)  # the rungs follow epochs given with --set
    if isinstance(epochs, int) and epochs > 0 and not any(k.startswith("promotion") for k in given):
        resolved["promotion"] = promotion_for(str(resolved["promotion"].get("model_name")), epochs)
        if "epochs" in resolved["promotion"]:
            notes.append(f"trials of {epochs} epochs over {len(values)} rows: the registered model, the best "
                         f"configuration, trains for {resolved['promotion']['epochs']} (promotion.epochs)")
    header = [f"# inferred by `mltune tune --data {path} --target {target}`; copy, edit and run",
              "#   mltune tune THIS.yaml", f"# task: {task} ({why})", *(f"# {note}" for note in notes),
              *([f"# with --set {' '.join(overrides)}"] if overrides else [])]
    text = "\n".join(header) + "\n" + yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None,
                                                     allow_unicode=True,
                                                     width=110)
    return parse_recipe(resolved, source=f"{source} (inferred recipe)", overrides=overrides), text


def sniff_separator(path: Path) -> str:
    """The separator that splits a CSV's header into the most columns (``,`` for Parquet or a tie)."""
    if table_format(path) != "text" or not path.is_file():
        return ","
    try:
        header = first_line(path)
    except (ValueError, OSError):
        return ","  # reading the file says what is wrong with it
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > counts[","] else ","


def decimal_comma_example(frame: pd.DataFrame, separator: str) -> str | None:
    """A number with a decimal comma, when a CSV not separated by commas writes its numbers so (as read with
    decimal points: no column holds fractions, and some text column holds only numbers with decimal commas and
    whole numbers); None otherwise."""
    if separator == ",":
        return None
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column) and bool((column.dropna() % 1 != 0).any()):
            return None
    for name in frame.columns:
        column = frame[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        example = decimal_comma_number(column.dropna().astype(str))
        if example is not None:
            return example
    return None


def _task(values: pd.Series, target: str) -> tuple[str, str]:
    if values.empty:
        return "regression", f"target {target!r} has no values"
    if pd.api.types.is_bool_dtype(values):
        return "classification", f"target {target!r} holds true/false values"
    if not pd.api.types.is_numeric_dtype(values):
        text = values.map(str)
        numbers = read_numbers(text)
        if numbers is None or numbers.nunique() <= MAX_CLASSES_OF_NUMBERS:
            return "classification", f"target {target!r} holds text"
        odd = int(numbers.isna().sum())
        left_out = f"; its {odd} other cell(s) are read as empty and their rows left out" if odd else ""
        return "regression", f"target {target!r} holds numbers ({numbers.nunique()} distinct values){left_out}"
    distinct = values.nunique()
    whole = few_whole_numbers(values)
    counts = values.value_counts()
    if whole and distinct >= MIN_SCALE_VALUES and counts.min() < IMBALANCED * counts.max():
        return "regression", (f"target {target!r} has {distinct} whole-number values with very unequal counts "
                              f"({counts.min()} to {counts.max()} rows), as scores and counts have; "
                              "--set task=classification predicts classes instead")
    if whole:
        return "classification", (f"target {target!r} has {distinct} whole-number values; "
                                   "--set task=regression predicts a number instead")
    codes = "; --set task=classification if they are class codes" if bool((values % 1 == 0).all()) else ""
    return "regression", f"target {target!r} holds numbers ({distinct} distinct values){codes}"


def _raw_recipe(frame: pd.DataFrame, file: Path, target: str, task: str, separator: str,
                values: pd.Series) -> tuple[dict[str, Any], list[str]]:
    stem = file.name.split(".")[0] if table_format(file) == "text" else file.stem  # rows.csv.gz: rows
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "table"
    rows = len(values)
    notes: list[str] = []
    data: dict[str, Any] = {"path": str(file), "target": target}
    split: dict[str, Any] = {}
    if separator != ",":
        data["separator"] = separator
    metric = "rmse"
    if task == "regression" and few_whole_numbers(values):
        # Scores and counts are read in whole points, and the error in points is what is asked of them (Cortez et
        # al. 2009 measure wine quality so): absolute error, trained on and tuned for.
        metric = "mae"
        notes.append(f"a score or count of {values.nunique()} values is predicted to the point: metric mae "
                     "(--set objective.metric=rmse for squared error)")
    if task == "classification":
        counts = class_labels(values).map(str).value_counts()
        metric = "accuracy"
        if len(counts) > 1 and counts.min() < IMBALANCED * counts.max():
            metric, data["class_weights"] = "f1_macro", "balanced"
            notes.append(f"classes are unequal ({counts.min()} vs {counts.max()} rows): metric f1_macro, "
                         "class weights balanced")
        need = rows_to_stratify(rows, SplitSpec().test, None)
        if counts.min() < need:
            split["stratify"] = False
            notes.append(f"class {counts.idxmin()!r} has {counts.min()} row(s), fewer than the {need} that "
                         "splits keeping the class proportions need: split.stratify false")
    features = frame.drop(columns=[target]).apply(clean_text)
    columns = infer_columns(features, [str(c) for c in features.columns])
    many = [c.name for c in columns if c.kind == "categorical" and features[c.name].nunique() > 10]
    search = default_search_space(rows)
    if many:
        search["categorical_encoding"] = {"type": "categorical", "choices": ["onehot", "embedding"]}
        search["embedding_dim"] = {"type": "int", "low": 2, "high": 16, "log": True}
        notes.append(f"categorical columns with more than 10 categories {many}: one-hot or embeddings are tuned")
    width = len(numeric_names([c for c in columns if c.used]))
    if 0 < width <= MAX_PERIODIC_INPUTS:
        search["numeric_embedding"] = "periodic"
        notes.append(f"{width} numeric input(s), at most {MAX_PERIODIC_INPUTS}: each embedded with periodic functions "
                     "(search.numeric_embedding periodic; --set search.numeric_embedding=none to read them plain)")
    raw = {"name": name, "seed": 0, "task": task, "data": data, **({"split": split} if split else {}),
           "objective": {"metric": metric},
           "search": search, "sampler": {"name": "tpe"},
           "pruner": {"name": "hyperband", "min_resource": first_rung(search["epochs"])},
           "budget": {"n_trials": 20, "timeout": 3600}, "promotion": promotion_for(name, search["epochs"])}
    return raw, notes


def promotion_for(name: str, epochs: int) -> dict[str, Any]:
    """What promotion registers for trials of ``epochs`` epochs: an average of ENSEMBLE seeds of the best
    configuration; or, when the trials were cut short for the table's size (the network is still learning when
    they end), one model of it trained LONGER times as long, which costs what the other seeds would and measured
    better (``docs/benchmarks.md``)."""
    if epochs < MAX_EPOCHS_LARGE:
        return {"model_name": name, "epochs": LONGER * epochs}
    return {"model_name": name, "ensemble": ENSEMBLE}


def first_rung(epochs: int) -> int:
    """Hyperband's first rung for trials of ``epochs`` epochs: a twentieth of them, at least 2 (1 for 2 or fewer)."""
    return min(max(epochs // 20, 2), max(epochs - 1, 1))


def default_search_space(rows: int) -> dict[str, Any]:
    """The search space mltune starts a table with: a tabular MLP as the literature tunes it.

    Kadra et al. 2021 ("Well-tuned simple nets excel on tabular datasets"), Gorishniy et al. 2021 ("Revisiting deep
    learning models for tabular data") and Holzmüller et al. 2024 (RealMLP) agree on AdamW with decoupled weight
    decay, a learning rate that warms up and decays (one-cycle / cosine), layers of a few hundred units with
    dropout, and robust input scaling (the model's numeric preprocessing: medians, outlier fences, then
    standardization or the training quantiles' normal scores). The first trial tries RealMLP-like defaults, so even
    a short study starts from a good network. Batch size and epochs follow the number of rows: about 12-25 steps per
    epoch for a small table, larger batches and fewer epochs for a large one. ``docs/benchmarks.md`` has the
    ablation that chose this.
    """
    train_rows = max(int(rows * 0.64), 1)  # the default split: 20% test, then 20% of the rest to validate
    base = 2 ** min(max(round(math.log2(train_rows / 25)), 5), 9)  # ~25 steps an epoch, 32 to 512 rows
    # An epoch costs about 50 us a row on 2 cores, however large the batch: past 20,000 rows a trial trains on
    # about TRIAL_ROWS rows (at least 10 epochs), so a 20-trial study on 50,000 rows fits in about 5 minutes.
    epochs = int(min(100 if rows < 5_000 else MAX_EPOCHS_LARGE, max(round(TRIAL_ROWS / train_rows, -1), 10)))
    return {
        "epochs": epochs,
        "batch_size": {"type": "categorical", "choices": [base, base * 2], "default": base},
        "optimizer": "adamw",
        "learning_rate": {"type": "float", "low": 3.0e-4, "high": 1.0e-2, "log": True, "default": 2.0e-3},
        "weight_decay": {"type": "float", "low": 1.0e-5, "high": 1.0e-1, "log": True, "default": 1.0e-2},
        "lr_schedule": "one_cycle",
        "n_layers": {"type": "int", "low": 1, "high": 4, "default": 3},
        "units": {"type": "int", "low": 32, "high": 512, "log": True, "per_layer": "n_layers", "default": 256},
        "activation": {"type": "categorical", "choices": ["relu", "gelu", "swish"], "default": "relu"},
        "normalization": {"type": "categorical", "choices": ["none", "batch"], "default": "batch"},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "default": 0.15},
        "numeric_scaling": {"type": "categorical", "choices": ["standard", "quantile"], "default": "quantile"},
        "patience": 16,
    }
