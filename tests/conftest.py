"""Every test gets its own working directory, MLflow tracking store and Optuna storage."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TINY = Path(__file__).resolve().parent / "recipes" / "tiny_digits.yaml"

# MLflow 3 sends usage telemetry by default and reaches for an outside host: off for every test and every process
# a test starts (they inherit the environment).
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory holding ``mlflow.db``, ``mlruns/`` and the Optuna journal, set as the tracking URI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def storage(workdir: Path) -> str:
    return f"journal:{workdir / 'optuna.log'}"
