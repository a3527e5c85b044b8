"""optuna-dashboard reads the same storage mltune writes, and serves its studies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from mltune.runtime.storage import open_storage

from .servers import free_port

DASHBOARD = Path(sys.executable).parent / "optuna-dashboard"


@pytest.mark.skipif(not DASHBOARD.exists() and not shutil.which("optuna-dashboard"),
                    reason="optuna-dashboard is not installed (it is in the test extra)")
def test_optuna_dashboard_serves_an_mltune_journal(tmp_path: Path) -> None:
    journal = tmp_path / "optuna-journal.log"
    study = optuna.create_study(storage=open_storage(f"journal:{journal}"), study_name="digits_mlp",
                                direction="maximize")
    study.set_user_attr("mltune_recipe", "digits_mlp")
    study.optimize(lambda trial: trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True), n_trials=3)

    port = free_port()
    server = subprocess.Popen([str(DASHBOARD if DASHBOARD.exists() else "optuna-dashboard"), str(journal),
                               "--storage-class", "JournalFileStorage", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    listing = json.load(response)
                studies = listing["study_summaries"] if "study_summaries" in listing else listing["studies"]
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read() if \
                    server.stderr else "optuna-dashboard did not start"
                time.sleep(0.5)
        (summary,) = studies
        assert summary["study_name"] == "digits_mlp"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", timeout=10) as r:
            detail = json.load(r)
        assert len(detail["trials"]) == 3
    finally:
        server.terminate()
        server.wait(timeout=20)
