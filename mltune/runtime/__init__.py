"""Runtime: Optuna storages and the locks in them, workers, lost trials and signals."""
