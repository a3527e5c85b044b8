"""MLflow tracking: the only module that writes runs, params, metrics, tags and artifacts.

Every call goes through :class:`mlflow.MlflowClient` with explicit run ids, never the fluent active-run stack,
so several threads or processes can log trials under one parent. A trial costs three store calls (create,
one batch, terminate); per-epoch metrics are buffered and written in that one batch.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from mltune.config.redaction import redact
from mltune.errors import ConfigError, TrackingError
from mltune.locks import can_lock_beside, file_lock
from mltune.names import (
    ERROR,
    PARENT_RUN_ID,
    ROLE,
    RUN_NAME,
    SOURCE,
    STUDY_NAME,
    TRIAL_NUMBER,
    TRIAL_STATE,
)
from mltune.tracking.reachability import check_reachable

if TYPE_CHECKING:
    import pandas as pd

    from mltune.data import Table
    from mltune.tasks import Encoding

MODEL_PATH = "model"

# What an Optuna trial state becomes in MLflow.
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def is_missing(error: mlflow.exceptions.MlflowException) -> bool:
    """Whether MLflow's error says that what was asked for does not exist, rather than that MLflow failed."""
    # An unknown alias is INVALID_PARAMETER_VALUE "Registered model alias ... not found."
    return error.error_code == "RESOURCE_DOES_NOT_EXIST" or (
        error.error_code == "INVALID_PARAMETER_VALUE" and "not found" in error.message)


def log_dataset(client: MlflowClient, run_id: str, dataset: Any) -> None:
    """``client.log_inputs`` of one dataset, once more if another process stored the same dataset at the same
    moment (the store's get-or-create is not atomic: "UNIQUE constraint failed: datasets...")."""
    try:
        client.log_inputs(run_id, datasets=[dataset])
    except mlflow.exceptions.MlflowException as error:
        if "UNIQUE constraint" not in str(error):
            raise
        client.log_inputs(run_id, datasets=[dataset])  # the row exists now: this one finds it


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str:
    return str(value)[:6000]


_KEY_UNSAFE = re.compile(r"[^/\w.\- ]")


def mlflow_key(name: Any) -> str:
    """A param, metric or tag name as MLflow takes it: characters other than letters, digits, ``_ - . / `` and spaces
    (a hyperparameter named ``dense/units (layer 1)``) become ``_``, and so do the slashes and dots of a name that
    is not a plain path (``a//b``, ``/x``, ``..``)."""
    key = _KEY_UNSAFE.sub("_", str(name))[:250]
    if posixpath.normpath(key) != key or key in ("", ".") or key.startswith(("..", "/")):
        key = key.replace("/", "_").replace(".", "_") or "_"
    return key


@dataclass
class TrialRun:
    """A trial's nested run; epochs are buffered and written with the final batch."""

    client: MlflowClient
    run_id: str
    params: dict[str, Any]
    metrics: list[Metric] = field(default_factory=list)
    dataset: Any = None
    """A dataset input (see :meth:`Tracker.log_dataset`) to record with the final batch."""
    by_epoch: set[str] = field(default_factory=set)
    """The metrics logged epoch by epoch."""

    def log_epoch(self, step: int, values: dict[str, float], *, prefix: str = "") -> None:
        now = _now_ms()
        metrics = [Metric(mlflow_key(f"{prefix}{k}"), float(v), now, step) for k, v in values.items()]
        self.by_epoch.update(m.key for m in metrics)
        self.metrics.extend(metrics)

    def log_results(self, values: dict[str, float]) -> None:
        """Logs the metrics a trial's training returned (once, at step 0), but not those logged epoch by epoch."""
        for key, value in values.items():
            if mlflow_key(key) not in self.by_epoch:
                self.log_value(key, value)

    def log_plot(self, draw: Callable[[Path], None], name: str) -> None:
        """Draws a PNG with ``draw(path)`` and logs it as ``plots/<name>``."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, name)
            draw(path)
            upload_whole(self.client, self.run_id, path, "plots")

    def log_text(self, text: str, path: str) -> None:
        log_text(self.client, self.run_id, text, path)

    def log_value(self, key: str, value: float, *, step: int = 0) -> None:
        self.metrics.append(Metric(mlflow_key(key), float(value), _now_ms(), step))

    def flush(self, *, tags: dict[str, Any] | None = None) -> None:
        """Writes the params, buffered metrics and given tags (in batches within MLflow's limits)."""
        if self.dataset is not None:
            log_dataset(self.client, self.run_id, self.dataset)
            self.dataset = None
        params = [Param(mlflow_key(k), _text(v)) for k, v in self.params.items()]
        run_tags = [RunTag(mlflow_key(k), _text(v)) for k, v in (tags or {}).items()]
        self.params = {}
        metrics, self.metrics = self.metrics, []
        while params or run_tags or metrics:
            self.client.log_batch(self.run_id, metrics=metrics[:1000], params=params[:100], tags=run_tags[:100])
            metrics, params, run_tags = metrics[1000:], params[100:], run_tags[100:]


class Tracker:
    """Writes a study's parent run and its trials' nested runs to one tracking server."""

    def __init__(self, tracking_uri: str | None = None, *, existing: bool = False) -> None:
        """Opens the tracking store; with ``existing``, refuses to create a SQLite database that is not there.

        Raises:
            ConfigError: ``existing`` and the tracking URI names a SQLite file that does not exist.
            TrackingError: nothing answers at the tracking URI (a server or a database server).
        """
        self.tracking_uri = mlflow.get_tracking_uri() if tracking_uri is None else tracking_uri
        check_reachable(self.tracking_uri)  # before the client, which opens the store
        path = sqlite_file(self.tracking_uri)
        if path is not None and existing and not os.path.exists(path):
            raise ConfigError(f"MLFLOW_TRACKING_URI: no MLflow database at {path!r}, but got "
                              f"{redact(self.tracking_uri)!r}; point it at where the runs were logged")
        if path is None or not can_lock_beside(path):
            self.client = MlflowClient(tracking_uri)
            return
        # A client that opens a new SQLite database creates MLflow's schema (alembic migrations); two processes
        # doing it at once collide ("Online migration expected to match one row"), so one at a time.
        with file_lock(f"{path}.lock"):
            self.client = MlflowClient(tracking_uri)

    # ------------------------------------------------------------ the study's parent run

    def experiment_id(self, name: str) -> str:
        """The experiment's id, created if missing; safe when several processes create it at once."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except mlflow.exceptions.MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        # Another process created it between our lookup and our insert.
        experiment = self.client.get_experiment_by_name(name)
        assert experiment is not None, name
        return str(experiment.experiment_id)

    def run_exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except mlflow.exceptions.MlflowException as error:
            if not is_missing(error):
                raise
            return False
        return True

    def start_study_run(self, *, experiment_id: str, study_name: str, adopt_run_id: str | None,
                        tags: dict[str, Any]) -> str:
        """Creates the study's parent run, or adopts the run ``mlflow run`` started for this process."""
        tags = {ROLE: "study", STUDY_NAME: study_name, **tags}
        if adopt_run_id:
            self.client.set_tag(adopt_run_id, RUN_NAME, study_name)
            self.set_tags(adopt_run_id, tags)
            return adopt_run_id
        return str(self.client.create_run(experiment_id, run_name=study_name, tags=tags).info.run_id)

    def reopen(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(mlflow_key(k), _text(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start:start + 100])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        items = [RunTag(mlflow_key(k), _text(v)) for k, v in tags.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, tags=items[start:start + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, float], *, step: int = 0) -> None:
        now = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(mlflow_key(k), float(v), now, step) for k, v in metrics.items()])

    def log_text(self, run_id: str, text: str, path: str) -> None:
        log_text(self.client, run_id, text, path)

    def log_table(self, run_id: str, frame: pd.DataFrame, path: str) -> None:
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        log_text(self.client, run_id, buffer.getvalue(), path)

    def log_artifacts(self, run_id: str, folder: str | Path, path: str) -> None:
        """Uploads a folder's files under ``path``, each whole or not at all."""
        upload_whole(self.client, run_id, folder, path)

    @staticmethod
    def dataset_input(table: Table, *, name: str, context: str = "training") -> Any:
        """The rows as an input for MLflow's dataset tracking (``client.log_inputs``); the digest is the data
        fingerprint. Described once per process, then logged on the parent run and on every trial run."""
        from mlflow.data.code_dataset_source import CodeDatasetSource
        from mlflow.data.pandas_dataset import from_pandas
        from mlflow.entities import DatasetInput, InputTag

        # A file is its own source; a bundled scikit-learn dataset comes from code.
        source: Any = CodeDatasetSource({SOURCE: table.source}) if table.source.startswith(
            "sklearn:") else table.source
        with warnings.catch_warnings():  # MLflow's hints about integer columns and ambiguous local sources
            warnings.simplefilter("ignore", UserWarning)
            dataset = from_pandas(table.frame, source=source, targets=table.target, name=name,
                                  digest=table.fingerprint)
            return DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])

    def finish(self, run_id: str, status: str, *, error: BaseException | None = None) -> None:
        """Closes a run; one that ends FAILED for ``error`` gets the reason in tag ``mltune.error``."""
        if error is not None:
            self.set_tags(run_id, {ERROR: redact(f"{type(error).__name__}: {error}")})
        self.client.set_terminated(run_id, status)

    # ------------------------------------------------------------ trials

    def start_run(self, *, experiment_id: str, run_name: str, params: dict[str, Any],
                  tags: dict[str, Any]) -> TrialRun:
        run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
        return TrialRun(self.client, str(run.info.run_id), dict(params))

    def start_trial(self, *, experiment_id: str, parent_run_id: str, study_name: str, number: int,
                    params: dict[str, Any], tags: dict[str, Any] | None = None, dataset: Any = None) -> TrialRun:
        run = self.start_run(
            experiment_id=experiment_id, run_name=f"trial-{number}", params=params,
            tags={PARENT_RUN_ID: parent_run_id, ROLE: "trial", STUDY_NAME: study_name,
                  TRIAL_NUMBER: str(number), TRIAL_STATE: "RUNNING", **(tags or {})},
        )
        run.dataset = dataset
        return run

    def end_trial(self, run_id: str, state: str) -> None:
        """Closes a trial's run with the status its Optuna state calls for (the objective tagged the state)."""
        self.client.set_terminated(run_id, RUN_STATUS.get(state, "FAILED"))

    def metric_history(self, run_id: str, keys: list[str]) -> dict[str, list[float]]:
        """Each key's values by step, as the run logged them (keys it never logged are left out)."""
        found = {key: self.client.get_metric_history(run_id, key) for key in keys}
        return {key: [m.value for m in sorted(ms, key=lambda m: m.step)] for key, ms in found.items() if ms}

    def trial_runs(self, parent_run_id: str, *, experiment_id: str) -> list[Any]:
        return list(self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{PARENT_RUN_ID}` = '{parent_run_id}'", max_results=10000,
        ))

    def running_trial_runs(self, parent_run_id: str, *, experiment_id: str) -> dict[str, dict[str, str]]:
        """The parent's trial runs that MLflow still shows RUNNING: their ids and tags."""
        return {str(run.info.run_id): dict(run.data.tags) for run in self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{PARENT_RUN_ID}` = '{parent_run_id}' and "
                                           "attributes.status = 'RUNNING'", max_results=10000)}

    def close_lost(self, run_id: str, *, reason: str) -> None:
        """Closes the run of a trial whose worker is gone: KILLED, with the reason."""
        self.set_tags(run_id, {TRIAL_STATE: "FAIL", ERROR: reason})
        self.client.set_terminated(run_id, "KILLED")

    # ------------------------------------------------------------ models

    def has_model(self, run_id: str) -> bool:
        """Whether the run holds the MLflow pyfunc model."""
        return any(a.path == MODEL_PATH for a in self.client.list_artifacts(run_id))

    def log_model(self, run_id: str, model: Any, encoding: Encoding, *, input_example: pd.DataFrame) -> None:
        """Logs the Keras model inside an MLflow pyfunc model (``runs:/<id>/model``), in one upload."""
        from mltune.tracking.pyfunc import save_pyfunc

        with tempfile.TemporaryDirectory() as tmp, _no_progress_bar():
            target = os.path.join(tmp, MODEL_PATH)
            save_pyfunc(model, encoding, target, input_example=input_example)
            self._log_model_folder(run_id, target)

    def log_keras_model(self, run_id: str, model: Any, *, input_example: Any = None,
                        code_paths: Sequence[str] = ()) -> None:
        """Logs a user's own Keras model as an MLflow pyfunc model (``runs:/<id>/model``) that takes what the Keras
        model takes, with ``code_paths`` shipped with it."""
        from mltune.tracking.pyfunc import save_keras_pyfunc

        with tempfile.TemporaryDirectory() as tmp, _no_progress_bar():
            target = os.path.join(tmp, MODEL_PATH)
            save_keras_pyfunc(model, target, input_example=input_example, code_paths=code_paths)
            self._log_model_folder(run_id, target)

    def _log_model_folder(self, run_id: str, folder: str) -> None:
        """Uploads a saved MLflow model to the run (``runs:/<id>/model``) and as an MLflow 3 logged model whose
        source run is the run (``models:/<model_id>``: the UI's Models column and tab), each whole or not at all."""
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus

        upload_whole(self.client, run_id, folder, MODEL_PATH, unit=True)
        run = self.client.get_run(run_id)
        logged = self.client.create_logged_model(run.info.experiment_id, name=MODEL_PATH, source_run_id=run_id,
                                                 params=dict(run.data.params), model_type="keras")
        try:
            self.client.log_model_artifacts(logged.model_id, folder)
        except BaseException as error:
            _undo(lambda: _repository(logged.artifact_location, self.tracking_uri).delete_artifacts(),
                  lambda: self.client.delete_logged_model(logged.model_id),
                  lambda: _repository(run.info.artifact_uri, self.tracking_uri).delete_artifacts(MODEL_PATH))
            _raise_artifact_error(error, f"model {logged.model_id}", MODEL_PATH)
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])

    def keras_model_file(self, run_id: str) -> str:
        """The local path of the Keras file inside a run's pyfunc model (downloaded if the store is remote)."""
        from mltune.tracking.pyfunc import KERAS_ARTIFACT

        with _no_progress_bar():
            folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{MODEL_PATH}/artifacts",
                                                         tracking_uri=self.tracking_uri)
        found = sorted(Path(folder).rglob("*.keras"))
        if not found:
            raise FileNotFoundError(f"run {run_id} holds no Keras model under {MODEL_PATH}/artifacts "
                                    f"({KERAS_ARTIFACT})")
        return str(found[0])


@contextlib.contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow's "Downloading artifacts" bar left out of a user's script, unless the user turned it on."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    if name in os.environ:
        yield
        return
    os.environ[name] = "false"
    try:
        yield
    finally:
        os.environ.pop(name, None)


def sqlite_file(tracking_uri: str) -> str | None:
    """The file of a SQLite tracking database (None for a server, another database or an in-memory one)."""
    if not tracking_uri.lower().startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def load_python_model(uri: str) -> Any:
    """The Python model inside a logged or registered pyfunc model (its artifacts downloaded quietly)."""
    with _no_progress_bar():
        return mlflow.pyfunc.load_model(uri).unwrap_python_model()


def model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{MODEL_PATH}"


def logged_model_id(client: MlflowClient, run_id: str) -> str | None:
    """The MLflow 3 logged model holding the run's model (the latest, if it was logged again), or None (a run
    logged before mltune made logged models)."""
    outputs = client.get_run(run_id).outputs
    for output in reversed(outputs.model_outputs if outputs else []):
        if client.get_logged_model(output.model_id).name == MODEL_PATH:
            return str(output.model_id)
    return None


def log_text(client: MlflowClient, run_id: str, text: str, path: str) -> None:
    """Writes ``text`` as the run's artifact ``path``, whole or not at all."""
    folder, _, name = path.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, name).write_text(text, encoding="utf-8")
        upload_whole(client, run_id, Path(tmp, name), folder or None)


def upload_whole(client: MlflowClient, run_id: str, local: str | Path, path: str | None, *,
                 unit: bool = False) -> None:
    """Uploads a file, or a folder's files, to the run's artifacts under ``path``.

    A failed upload (a full disk, a store that refuses writes) removes what it left: each file it was writing,
    or the whole of ``path`` when the folder is one ``unit`` (a model), so that nothing half-written stands as if
    complete. An OS error (``ENOSPC``: a full disk) is raised as a :class:`TrackingError` naming what could not be
    written; MLflow's errors as they are.
    """
    local = Path(local)
    try:
        if local.is_dir():
            client.log_artifacts(run_id, str(local), path)
        else:
            client.log_artifact(run_id, str(local), path)
    except BaseException as error:
        base, files = (local, [p for p in local.rglob("*") if p.is_file()]) if local.is_dir() else (local.parent,
                                                                                                    [local])
        written = [path or ""] if unit else [_join(path, p.relative_to(base).as_posix()) for p in files]

        def remove() -> None:
            repository = _repository(client.get_run(run_id).info.artifact_uri, client.tracking_uri)
            _undo(*(lambda item=item: repository.delete_artifacts(item) for item in written))

        _undo(remove)
        _raise_artifact_error(error, f"run {run_id}", _join(path, "" if unit else local.name))


def _undo(*steps: Callable[[], object]) -> None:
    """Cleans up after a failed upload, each step on its own: the upload's own error is the one raised."""
    for step in steps:
        with contextlib.suppress(Exception):
            step()


def _join(folder: str | None, name: str) -> str:
    return "/".join(part for part in (folder, name) if part)


def _repository(artifact_uri: str, tracking_uri: str) -> Any:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)


def _raise_artifact_error(error: BaseException, owner: str, path: str) -> NoReturn:
    """Raises a write error as the user should read it: an OS error (a full disk) as a :class:`TrackingError`."""
    if isinstance(error, OSError):
        raise TrackingError(f"could not write artifact {path!r} of {owner}: {error.strerror or error}; "
                            "what was half-written was removed") from error
    raise error
