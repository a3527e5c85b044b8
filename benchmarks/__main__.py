"""The benchmark suite: runs every section and writes ``docs/benchmarks.md`` with its PNG plots.

    python -m benchmarks                       # the full suite (about 3 hours on 2 cores)
    python -m benchmarks --only search,pruning  # some sections; the report keeps the others' last results
    python -m benchmarks --smoke --out /tmp/b/benchmarks.md   # seconds per section, only to check it works

Sections: overhead (mltune trial vs bare Keras vs naive MLflow logging), search quality at an equal wall-clock budget
(mltune's default against a hand-written Optuna loop, KerasTuner and HistGradientBoosting on seven tables; about two
hours of the suite's time, half with ``python -m benchmarks.search --jobs 2 --out docs/benchmarks.md``), pruning,
memory over 100 trials, start-up, local scaling with workers, and GPU (only where one is visible). Each section is
also a module with its own command (``python -m benchmarks.search`` ...).
KerasTuner is needed for the search section: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from benchmarks import gpu, memory, overhead, pruning, scaling, search, startup
from benchmarks.common import Section, machine, table

SECTIONS: dict[str, Callable[..., Section]] = {
    "overhead": overhead.run,
    "search": search.run,
    "pruning": pruning.run,
    "memory": memory.run,
    "startup": startup.run,
    "scaling": scaling.run,
    "gpu": gpu.run,
}


def write(out: Path, plots: Path, *, smoke: bool) -> None:
    """Writes the report from every section's latest saved result, in the suite's order."""
    found = [(name, json.loads((plots / f"{name}.json").read_text())) for name in SECTIONS
             if (plots / f"{name}.json").exists()]
    summary = [[name, value] for _, saved in found for name, value in saved["headline"].items()]
    lines = ["# Benchmarks", "",
             "Written by `python -m benchmarks` (see [benchmarks/](../benchmarks/__main__.py)); each section says "
             "when and with which command it last ran.", "",
             f"Machine: {machine()}.", ""]
    if smoke:
        lines += ["**Smoke run**: budgets cut to seconds to check that the suite works; the figures mean nothing.",
                  ""]
    lines += ["## Summary", "", table(["figure", "result"], summary), ""]
    for _, saved in found:
        lines += [f"## {saved['title']}", "", saved["body"], "",
                  f"*Ran {saved['date']} with `{saved['command']}` in {saved['seconds']:.0f} s.*", ""]
    titles = {"Summary", *(saved["title"] for _, saved in found)}
    lines += [part.rstrip("\n") + "\n" for part in written_by_hand(out) if part.splitlines()[0][3:] not in titles]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


def written_by_hand(out: Path) -> list[str]:
    """The report's sections as they are, for those that no saved section replaces (an ablation, a one-off study)."""
    return re.split(r"^(?=## )", out.read_text(), flags=re.MULTILINE)[1:] if out.exists() else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: checks that every section runs")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    plots = args.out.parent / "benchmarks"
    plots.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])
    for name in names:
        print(f"benchmark {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        section = SECTIONS[name](plots, smoke=args.smoke)
        seconds = time.perf_counter() - started
        print(f"benchmark {name}: {section.headline} ({seconds:.0f} s)", file=sys.stderr, flush=True)
        saved = {**asdict(section), "seconds": seconds, "command": command,
                 "date": datetime.date.today().isoformat()}
        (plots / f"{name}.json").write_text(json.dumps(saved, indent=1))
        write(args.out, plots, smoke=args.smoke)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
