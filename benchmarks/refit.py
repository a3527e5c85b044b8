"""Refit and ensemble: does promoting the best configuration refitted on all development rows, or an average of
several seeds of it, beat the best trial's own model?

For each recipe and seed, one study is tuned; its best trial's model (trained on the development rows less the
validation split, weights of its best epoch), the same configuration refitted on all development rows for its
best epoch count (``promotion.refit: true``) and the average of 5 models of it, each with its own seed
(``promotion.ensemble: 5``) are scored on the same held-out test rows.

    python -m benchmarks.refit [--trials 12] [--seeds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import Section, count, machine, mean_sd, scratch, table

ROOT = Path(__file__).resolve().parents[1]
ENSEMBLE = 5
RECIPES = {"digits_mlp": ROOT / "recipes/digits_mlp.yaml",
           "diabetes (no CV)": ROOT / "recipes/diabetes_regression.yaml"}


def _scores(path: Path, seed: int, trials: int, epochs: int | None) -> tuple[str, float, float, float]:
    from mltune.config.recipe import load_recipe
    from mltune.flows.promote import promote
    from mltune.flows.tune import tune

    overrides = [f"seed={seed}", "split.folds=null", "promotion.baseline=false", "pruner=none",
                 *([f"search.epochs={epochs}"] if epochs else [])]
    recipe = load_recipe(path, overrides)
    result = tune(recipe, n_trials=trials, storage="journal:refit.log")
    trial = promote(study_name=result.study_name, storage="journal:refit.log", refit=False)
    refit = promote(study_name=result.study_name, storage="journal:refit.log", refit=True)
    ensemble = promote(study_name=result.study_name, storage="journal:refit.log", refit=False, ensemble=ENSEMBLE)
    return recipe.metric, trial.test_score, refit.test_score, ensemble.test_score


def run(plots: Path, *, smoke: bool = False, trials: int = 12, seeds: int = 3) -> Section:
    trials, seeds = (2, 1) if smoke else (trials, seeds)
    rows, headline = [], {}
    for label, path in RECIPES.items():
        scores = []
        for seed in range(seeds):
            with scratch():
                metric, *found = _scores(path, seed, trials, 2 if smoke else None)
            scores.append(found)
        trial_scores, refit_scores, ensemble_scores = ([s[i] for s in scores] for i in range(3))
        row = [label, metric, mean_sd(trial_scores, 4)]
        for name, mine in (("refit", refit_scores), ("ensemble", ensemble_scores)):
            ratio = statistics.fmean(mine) / statistics.fmean(trial_scores)
            better = ratio > 1 if metric in ("accuracy", "r2") else ratio < 1
            row += [mean_sd(mine, 4), f"{ratio:.3f} ({'better' if better else 'not better'})"]
            headline[f"{name}, {label}"] = f"{ratio:.3f}x the best trial's test {metric}"
        rows.append(row)
    body = (f"{__doc__.split(chr(10) + chr(10))[1]}\n\n"
            f"{trials} trials a study (TPE, no pruning), {seeds} seeds; mean ± sd of the test score.\n\n"
            + table(["recipe", "metric", "best trial's model", "refit on all development rows", "refit / trial",
                     f"ensemble of {ENSEMBLE} seeds", "ensemble / trial"],
                    rows) + f"\n\n*Machine: {machine()}. Command: `python -m benchmarks.refit --trials {trials} "
            f"--seeds {seeds}`.*")
    return Section("Refit on all development rows, and ensembles", body, headline)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=count, default=12)
    parser.add_argument("--seeds", type=count, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    section = run(Path(tempfile.mkdtemp(prefix="mltune-plots-")), smoke=args.smoke, trials=args.trials,
                  seeds=args.seeds)
    print(section.body)


if __name__ == "__main__":
    main()
