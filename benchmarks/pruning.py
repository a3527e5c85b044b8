"""Pruning: what Hyperband saves to reach the score an unpruned study reaches.

    python -m benchmarks.pruning [--trials 30] [--seeds 3] [--smoke]
    python -m benchmarks.pruning --tables diabetes,wage [--budget 60] [--seeds 2] [--jobs 2] [--outcomes FILE]
        [--set KEY=VALUE ...] [--pruner YAML] [--redraw]

For each seed, the default recipe (digits, TPE) runs ``--trials`` trials twice, each in a fresh process: with
its Hyperband pruner and with ``pruner=none``. The target is the unpruned study's best validation score; the
figure is the epochs trained and the wall time each study needed until its best-so-far first reached the
target. When the pruned study never reaches it, the target becomes the lower of the two bests (so both reach
it) and the table says so.

With ``--tables``, the studies are the search benchmark's default (``mltune tune --data FILE --target COL``: the
inferred recipe and its Hyperband pruner) on its tables, against the same recipe with ``pruner=none``, both for
``--budget`` seconds of wall-clock (:mod:`benchmarks.search`, whose outcomes file keeps every trial's time and
value). The target is the unpruned study's best validation score at its deadline; the figure is the share of that
time the pruned study needed to reach it, and where it never did, how far its own best stayed from it.
Each ``--pruner`` adds one more study with that pruner (e.g. ``{name: wilcoxon}`` with ``--set split.folds=5``),
reported against the same unpruned one; under cross-validation the studies' models are promotion's refits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import Section, check_recipe, count, positive, table
from benchmarks.search import DATASETS, ROOT, Outcome, in_subprocess, run_mltune

SMOKE_EXTRA = ["search.epochs=2", "pruner={name: hyperband, min_resource: 1, reduction_factor: 2}"]


def cost_to_reach(outcome: Outcome, target: float) -> tuple[int, float] | None:
    """Epochs trained and seconds until the best-so-far first reached ``target`` (accuracy: higher is better)."""
    epochs = 0
    for seconds, trained, value in outcome.trial_log:
        epochs += trained
        if value is not None and value >= target:
            return epochs, seconds
    return None


def run(plots: Path, *, smoke: bool, trials: int = 30, seeds: int = 3, pruner: str | None = None) -> Section:
    """``pruner`` (YAML for the recipe's ``pruner`` key) replaces the recipe's Hyperband in the pruned study."""
    if smoke:
        trials, seeds = 3, 1
    rows, epoch_ratios, time_ratios, lowered = [], [], [], 0
    whole: list[tuple[float, float]] = []  # Hyperband / none over the whole study: epochs, seconds
    for seed in range(seeds):
        pair = {}
        for key, override in (("pruned", pruner and f"pruner={pruner}"), ("full", "pruner=none")):
            extra = [*(SMOKE_EXTRA if smoke else []), *([override] if override else [])]
            kwargs = {"dataset": "digits", "seed": seed, "sampler": None, "budget": None, "n_trials": trials,
                      "extra": extra, "method": key}
            pair[key] = run_mltune(**kwargs) if smoke else in_subprocess("run_mltune", **kwargs)  # type: ignore[arg-type]
        pruned, full = pair["pruned"], pair["full"]
        whole.append((pruned.epochs / full.epochs, pruned.seconds / full.seconds))
        target = full.curve[-1][1]
        reached = cost_to_reach(pruned, target)
        if reached is None:
            target, lowered = min(target, pruned.curve[-1][1]), lowered + 1
            reached = cost_to_reach(pruned, target)
        baseline = cost_to_reach(full, target)
        assert reached is not None and baseline is not None
        epoch_ratios.append(reached[0] / baseline[0])
        time_ratios.append(reached[1] / baseline[1])
        rows.append([seed, f"{target:.4f}", f"{full.epochs} / {full.seconds:.0f} s",
                     f"{baseline[0]} / {baseline[1]:.0f} s", f"{pruned.epochs} / {pruned.seconds:.0f} s",
                     f"{reached[0]} / {reached[1]:.0f} s", f"{epoch_ratios[-1]:.2f}", f"{time_ratios[-1]:.2f}"])
        print(f"  pruning seed {seed}: epochs {epoch_ratios[-1]:.2f}x, time {time_ratios[-1]:.2f}x", file=sys.stderr)
    name = "Hyperband" if pruner is None else f"`{pruner}`"
    body = "\n".join([
        f"Digits, TPE, {trials} trials per study, {seeds} seed(s). Cells are epochs trained / wall time. "
        "\"To target\" is until the study's best validation accuracy first reached the unpruned study's best"
        + (f" (in {lowered} seed(s) Hyperband's own best was lower and became the target)" if lowered else "")
        + ".", "",
        table(["seed", "target", "no pruning: all", "no pruning: to target", f"{name}: all",
               f"{name}: to target", "epochs ratio", "time ratio"], rows), "",
        f"Hyperband / no pruning to reach the target: **{statistics.fmean(epoch_ratios):.2f}x the epochs, "
        f"{statistics.fmean(time_ratios):.2f}x the time** (mean over seeds; target ≤ 0.5x). Over the whole "
        f"study of {trials} trials, Hyperband trained {statistics.fmean(w[0] for w in whole):.2f}x the epochs in "
        f"{statistics.fmean(w[1] for w in whole):.2f}x the time. When the unpruned best comes from the sampler's "
        "first, random trials (the same in both studies), no pruner can reach it sooner.",
    ])
    headline = {"pruning, Hyperband vs none, to the unpruned best":
                f"{statistics.fmean(epoch_ratios):.2f}x epochs, {statistics.fmean(time_ratios):.2f}x time "
                "(target ≤ 0.5x)"}
    return Section("Pruning", body, headline)


def reached_at(curve: list[tuple[float, float]], target: float, direction: str) -> float | None:
    """Seconds until a best-so-far curve first reached ``target`` (None: never)."""
    from mltune.tasks.metrics import is_better

    return next((t for t, best in curve if best == target or is_better(best, target, direction=direction)), None)


def on_tables(outcomes: list[Any], pruned: str, unpruned: str) -> tuple[list[list[object]], list[float]]:
    """Rows of the table-mode report and the time ratios of the pairs where the pruned study reached the target."""
    by_key = {(o.method, o.dataset, o.seed): o for o in outcomes if not o.error}
    rows, ratios = [], []
    for (method, name, seed), full in sorted(by_key.items(), key=lambda item: item[0][1:]):
        cut = by_key.get((pruned, name, seed))
        if method != unpruned or cut is None or not full.curve:
            continue
        direction = "maximize" if full.task == "classification" else "minimize"
        target, at = full.curve[-1][1], reached_at(full.curve, full.curve[-1][1], direction)
        when = reached_at(cut.curve, target, direction)
        ratio = None if when is None or not at else when / at
        if ratio is not None:
            ratios.append(ratio)
        rows.append([name, seed, f"{target:.4f}", f"{full.trials} / {at:.0f} s",
                     f"{cut.trials} ({cut.trials - cut.complete} pruned)",
                     f"{when:.0f} s" if when is not None else f"not reached (best {cut.curve[-1][1]:.4f})",
                     f"{ratio:.2f}" if ratio is not None else "-"])
    return rows, ratios


def main_tables(args: argparse.Namespace) -> None:
    from benchmarks import search

    outcomes_path = args.outcomes or Path("docs/benchmarks/pruning_outcomes.jsonl")
    variants = [("unpruned", ["pruner=none"]), *((f"pruner {i + 1}", [f"pruner={yaml}"])
                                                  for i, yaml in enumerate(args.pruner))]
    if not args.redraw:
        search.run(outcomes_path.parent, smoke=False, budget=args.budget, seeds=args.seeds,
                   tables=args.tables.split(","), methods=["mltune"], jobs=args.jobs,
                   variants=variants, overrides=args.overrides, outcomes=outcomes_path)
    header, outcomes = search.read_outcomes(outcomes_path)
    pruners = {search.REFERENCE: "Hyperband", **{f"mltune {name}": sets[0].removeprefix("pruner=")
                                                 for name, sets in (header.get("variants") or {}).items()
                                                 if name.startswith("pruner ")}}
    for method, name in pruners.items():
        rows, ratios = on_tables(outcomes, method, "mltune unpruned")
        print(table(["table", "seed", "target (val)", "no pruning: trials / reached at", f"{name}: trials",
                     f"{name} reached it at", "time ratio"], rows))
        if ratios:
            print(f"\n{name} / no pruning, time to the unpruned best: median {statistics.median(ratios):.2f}x over "
                  f"{len(ratios)} of {len(rows)} studies that reached it\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=count, default=30)
    parser.add_argument("--seeds", type=count, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--pruner", action="append", default=[],
                        help="the pruned study's pruner as YAML, e.g. '{name: median}' (table mode, repeatable: one "
                             "more study each, beside the inferred recipe's Hyperband and the unpruned one)")
    parser.add_argument("--tables", help="comma-separated tables of the search benchmark: the table mode")
    parser.add_argument("--budget", type=positive, default=60.0, help="table mode: seconds per study")
    parser.add_argument("--jobs", type=count, default=2, help="table mode: studies at once")
    parser.add_argument("--outcomes", type=Path, help="table mode: the JSON-lines file of outcomes")
    parser.add_argument("--redraw", action="store_true", help="table mode: report from --outcomes, no new run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="table mode: overrides of the inferred recipe for both studies (the unpruned one's "
                             "pruner stays none), e.g. 'pruner={name: hyperband, min_resource: 10}'")
    args = parser.parse_args(argv)
    for yaml in args.pruner:
        check_recipe(parser, "--pruner", ROOT / DATASETS["digits"][0],
                     [*(args.overrides if args.tables else []), f"pruner={yaml}"])
    if args.tables:
        from benchmarks.search_tables import TABLES

        unknown = [name for name in args.tables.split(",") if name not in TABLES]
        if unknown:
            parser.error(f"argument --tables: unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}")
        main_tables(args)
        return
    if len(args.pruner) > 1:
        parser.error("argument --pruner: give it once without --tables")
    section = run(Path("docs/benchmarks"), smoke=args.smoke, trials=args.trials, seeds=args.seeds,
                  pruner=args.pruner[0] if args.pruner else None)
    print(section.body)


if __name__ == "__main__":
    main()
