"""TensorFlow's start-up notices stay off the console in the CLI and when a registered model is loaded (served),
unless asked for; MLflow's telemetry is off in every test process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTICES = ("oneDNN", "cuda", "cuInit", "absl::InitializeLog")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MLTUNE_VERBOSE")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env},
                          timeout=300, check=True)


def test_every_process_a_test_starts_has_mlflow_telemetry_off() -> None:
    done = _python("import os; print(os.environ.get('MLFLOW_DISABLE_TELEMETRY'), os.environ.get('DO_NOT_TRACK'))")
    assert done.stdout.split() == ["true", "true"]


@pytest.mark.slow
def test_the_cli_imports_tensorflow_without_its_notices() -> None:
    done = _python("from mltune.cli import _quiet_libraries; _quiet_libraries(); "
                   "import keras; print(keras.ops.convert_to_numpy(keras.ops.add(1, 1)))")
    assert done.stdout.strip() == "2"
    assert not [n for n in NOTICES if n in done.stderr], done.stderr


@pytest.mark.parametrize(("env", "level", "hooked"),
                         [({}, "3", True), ({"MLTUNE_VERBOSE": "1"}, None, False),
                          ({"TF_CPP_MIN_LOG_LEVEL": "0"}, "0", False), ({"TF_CPP_MIN_LOG_LEVEL": "3"}, "3", True)])
def test_verbose_or_the_users_own_log_level_is_kept(env: dict[str, str], level: str | None, hooked: bool) -> None:
    done = _python("import os, sys; from mltune.model.notices import quiet_tensorflow; quiet_tensorflow(); "
                   "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), "
                   "any(type(f).__name__ == '_QuietFirstImport' for f in sys.meta_path))", **env)
    assert done.stdout.split() == [str(level), str(hooked)]


def test_verbose_flag_reaches_the_processes_a_command_starts(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mltune.cli import main

    monkeypatch.setenv("MLTUNE_VERBOSE", "")  # restored to unset afterwards
    result = CliRunner().invoke(main, ["--verbose", "studies", "--storage", f"journal:{workdir / 'none.log'}"])
    assert result.exit_code == 2, result.output  # no such journal; the flag itself is accepted
    assert os.environ["MLTUNE_VERBOSE"] == "1"  # what worker processes inherit


@pytest.mark.slow
def test_loading_a_registered_model_prints_no_tensorflow_notices(tmp_path: Path) -> None:
    import keras
    import numpy as np

    from mltune.tracking.pyfunc import save_keras_pyfunc

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    save_keras_pyfunc(model, str(tmp_path / "model"), input_example=np.zeros((2, 3), dtype=np.float32))
    done = _python("import mlflow.pyfunc, numpy as np; "
                   f"m = mlflow.pyfunc.load_model({str(tmp_path / 'model')!r}); "
                   "print(m.predict(np.zeros((1, 3), dtype=np.float32)).shape)")
    assert done.stdout.strip() == "(1, 2)"
    assert not [n for n in NOTICES if n in done.stderr], done.stderr


def test_trials_leave_out_tensorflows_retracing_warning_only(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from mltune.model.notices import no_retracing_warnings

    tensorflow = logging.getLogger("tensorflow")
    retracing = ("5 out of the last 7 calls to <function TensorFlowTrainer._make_function.<locals>.one_step> "
                 "triggered tf.function retracing. Tracing is expensive ...")
    with caplog.at_level(logging.WARNING, logger="tensorflow"), no_retracing_warnings():
        tensorflow.warning(retracing)
        tensorflow.warning("something else")
    tensorflow.warning(retracing)  # only while trials run
    assert [r.getMessage()[:14] for r in caplog.records] == ["something else", retracing[:14]]
