"""GPU: trials per hour for a larger recipe on an NVIDIA GPU, alone and with two workers sharing it.

    python -m benchmarks.gpu [--trials 12]

Runs only where TensorFlow sees a GPU; elsewhere the section says so and measures nothing. The recipe is the
default digits MLP widened to 1-4 layers of 256-2048 units with batches of 32-256 (pruning off, random search),
run as ``mltune tune --workers 1`` and ``--workers 2`` (each worker process lets TensorFlow grow its GPU memory
as it needs it, so two fit on one card).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import Section, count, table

LARGER = ("search.n_layers={type: int, low: 1, high: 4}",
          "search.units={type: int, low: 256, high: 2048, step: 256, per_layer: n_layers}",
          "search.batch_size={type: categorical, choices: [32, 64, 128, 256]}")


def gpus() -> list[str]:
    """The GPUs TensorFlow sees, asked in a child process so that this one does not claim them."""
    found = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                            "print('\\n'.join(d.name for d in tf.config.list_physical_devices('GPU')))"],
                           capture_output=True, text=True, check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return [line for line in found.stdout.splitlines() if line.strip()]


def run(plots: Path, *, smoke: bool, trials: int = 12) -> Section:
    devices = gpus()
    if not devices:
        return Section("GPU", "No GPU visible to TensorFlow on this machine: not measured. Run "
                       "`python -m benchmarks --only gpu` on a machine with an NVIDIA GPU and the CUDA build of "
                       "TensorFlow (`pip install tensorflow[and-cuda]`).", {"GPU": "not measured (no GPU here)"})
    from benchmarks.scaling import measure

    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    trials = 2 if smoke else trials
    extra = (*LARGER, "search.epochs=2") if smoke else LARGER
    rows, rates = [], {}
    for workers in (1, 2):
        done = measure("recipes/digits_mlp.yaml", trials=trials, workers=workers, overrides=extra)
        rates[workers] = done.busy_rate
        rows.append([workers, f"{60 * done.busy_rate:.0f}", f"{60 * done.rate:.0f}", f"{done.seconds:.0f}"])
    body = "\n".join([f"Devices: {', '.join(devices)}. {trials} trials of the larger recipe per row.", "",
                      table(["workers on one GPU", "trials/hour while training", "trials/hour end to end",
                             "wall s"], rows), "",
                      f"Two workers sharing the GPU: {rates[2] / rates[1]:.2f}x the trials per hour of one."])
    return Section("GPU", body, {"GPU trials/hour (1 worker, 2 sharing)": f"{60 * rates[1]:.0f}, {60 * rates[2]:.0f}"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=count, default=12)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    print(run(Path("docs/benchmarks"), smoke=args.smoke, trials=args.trials).body)


if __name__ == "__main__":
    main()
