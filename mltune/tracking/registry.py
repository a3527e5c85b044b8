"""The MLflow Model Registry as mltune uses it: registered models, versions, aliases and version tags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltune.names import DATA_FINGERPRINT, LOGGED_MODEL_VERSIONS, STUDY_NAME, TRIAL_NUMBER
from mltune.tracking.runs import is_missing, logged_model_id, model_uri


@dataclass(frozen=True)
class Version:
    """A registered model version and where it came from."""

    version: str
    run_id: str
    data_fingerprint: str
    study_name: str
    trial_number: int | None


class Registry:
    """Reads and moves one tracking server's registered models, versions and aliases."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def register(self, name: str, run_id: str, *, tags: dict[str, Any]) -> str:
        """The version holding ``runs:/<run_id>/model``, registered (and the model created) if needed, and linked
        to the run's MLflow 3 logged model when it has one."""
        try:
            self.client.get_registered_model(name)
        except MlflowException as error:
            if not is_missing(error):
                raise
            self.client.create_registered_model(name, description="Tuned by mltune.")
        found = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if found:
            return str(found[0].version)
        model_id = logged_model_id(self.client, run_id)
        version = str(self.client.create_model_version(
            name, source=self._source(run_id, model_id), run_id=run_id, tags={k: str(v) for k, v in tags.items()},
            model_id=model_id).version)
        if model_id is not None:  # what the UI's logged model page lists as its registered versions
            earlier = json.loads(self.client.get_logged_model(model_id).tags.get(LOGGED_MODEL_VERSIONS, "[]"))
            self.client.set_logged_model_tags(model_id, {LOGGED_MODEL_VERSIONS: json.dumps(
                [*earlier, {"name": name, "version": version}])})
        return version

    def _source(self, run_id: str, model_id: str | None) -> str:
        """``models:/<model_id>`` (the version points at the logged model, as ``mlflow.register_model`` does), or
        the run's copy of the same files, ``runs:/<id>/model``: for a run logged before mltune made logged
        models, and for a local database that is not the process's default tracking URI (MLflow 3.17's SQL
        registry looks the logged model up in the default one)."""
        uri = str(self.client.tracking_uri)
        if model_id is None or not (uri.startswith(("http:", "https:")) or uri == mlflow.get_tracking_uri()):
            return model_uri(run_id)
        return f"models:/{model_id}"

    def alias(self, name: str, alias: str) -> str | None:
        """The version holding ``alias``, or None."""
        found = self.version(name, alias)
        return found.version if found else None

    def version(self, name: str, alias: str) -> Version | None:
        try:
            found = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if not is_missing(error):  # the server down is no missing alias
                raise
            return None
        tags = found.tags or {}
        number = tags.get(TRIAL_NUMBER, "")
        return Version(str(found.version), str(found.run_id), tags.get(DATA_FINGERPRINT, ""),
                       tags.get(STUDY_NAME, ""), int(number) if number.isdigit() else None)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.client.delete_registered_model_alias(name, alias)

    def tag(self, name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, str(value))
