"""Champions registered by mltune 0.1.0 (before the package moved into layers) keep working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mltune.cli import main

from .conftest import TINY

pytestmark = pytest.mark.slow

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_model_0_1_0"
LEGACY_ACCURACY = 0.08569838619922092
"""The model's accuracy on all 1,797 digits rows, as mltune 0.1.0 computed it."""
LEGACY_TEST_ACCURACY = 0.0916667
"""Its accuracy on tiny_digits' test split, as mltune 0.1.0 recorded it (``mltune.test_accuracy``)."""


def test_a_legacy_champion_loads_and_predicts_in_a_fresh_process(workdir: Path) -> None:
    script = (
        "import mlflow, numpy as np\n"
        "from sklearn.datasets import load_digits\n"
        "rows = load_digits(as_frame=True).frame\n"
        f"model = mlflow.pyfunc.load_model({str(LEGACY)!r})\n"
        "predicted = model.predict(rows.drop(columns='target'))\n"
        "print(float(np.mean(predicted == rows['target'])))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # What mltune 0.1.0's own code predicted with this model (a weak one: 2 epochs of a random configuration).
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(LEGACY_ACCURACY, abs=1e-9)


def test_retune_rescores_a_legacy_champion_at_the_gate(workdir: Path, storage: str) -> None:
    client = MlflowClient()
    experiment = client.create_experiment("legacy")
    run = client.create_run(experiment, run_name="registered-by-0.1.0")
    client.log_artifacts(run.info.run_id, str(LEGACY), "model")
    client.set_terminated(run.info.run_id)
    client.create_registered_model("tiny-digits")
    version = client.create_model_version("tiny-digits", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("tiny-digits", "champion", version.version)

    result = CliRunner().invoke(main, ["retune", str(TINY), "--storage", storage, "--n-trials", "1",
                                       "--run-key", "after-the-move", "--output", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["champion_before"] == "1"
    assert payload["champion_score"] == pytest.approx(LEGACY_TEST_ACCURACY, abs=1e-6)  # scored as 0.1.0 did
    assert payload["decision"] in ("promoted", "kept")
    # the score is the legacy model's own on today's test split
    rescored = client.get_model_version("tiny-digits", "1").tags["mltune.rescored_test_accuracy"]
    assert float(rescored) == pytest.approx(payload["champion_score"], rel=1e-5)
    assert mlflow.pyfunc.load_model("models:/tiny-digits/1").metadata.flavors["python_function"]["code"] == "code"
