"""What a storage holds: every study in one row each, and one study's best trials, for people and for JSON.

Reads the Optuna storage only; MLflow is named (run and experiment ids) but never called, so a report answers
without a tracking server.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mltune.config.redaction import redact
from mltune.errors import ConfigError
from mltune.names import EXPERIMENT_ATTR, PARENT_RUN_ATTR, RECIPE_ATTR, RUN_ID_ATTR, TEST_SCORE_ATTR
from mltune.runtime.storage import DEFAULT_STORAGE, open_storage

if TYPE_CHECKING:
    import optuna
    from optuna.study._frozen import FrozenStudy


_KNOWN_SHOWN = 10
"""A missing study's error names at most this many of the storage's studies."""
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
"""The trial states a row counts, in the order tables show them."""


@dataclass(frozen=True)
class StudyRow:
    """One study: its size, its trials by state, its best value and where MLflow keeps its runs."""

    name: str
    direction: str
    """``minimize`` or ``maximize`` (directions joined by ``,`` for a multi-objective study)."""
    n_trials: int
    counts: dict[str, int]
    """Trials by state name, every name of :data:`STATES` present."""
    best_value: float | None
    """None without a complete trial, and for a multi-objective study."""
    best_trial: int | None
    parent_run_id: str | None
    experiment_id: str | None
    recipe: str | None
    started: datetime.datetime | None
    """When the first trial started (Optuna's local time)."""
    test: dict[str, Any] | None = None
    """The last promotion's test score (metric, test_score, validation_score, model_name, version, decision)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``started`` as an ISO 8601 string."""
        return {"name": self.name, "direction": self.direction, "n_trials": self.n_trials,
                "counts": dict(self.counts), "best_value": self.best_value, "best_trial": self.best_trial,
                "parent_run_id": self.parent_run_id, "experiment_id": self.experiment_id, "recipe": self.recipe,
                "started": _iso(self.started), "test_score": (self.test or {}).get("test_score"),
                "promotion": self.test}

    def to_text(self) -> str:
        """The study as ``label: value`` lines."""
        counts = ", ".join(f"{self.counts[s]} {s.lower()}" for s in STATES)
        best = "none" if self.best_value is None else f"{_value(self.best_value)} (trial {self.best_trial})"
        fields = [("study", self.name), ("direction", self.direction), ("recipe", self.recipe or "-"),
                  ("trials", f"{self.n_trials} ({counts})"), ("best", best), ("started", _when(self.started)),
                  ("experiment", self.experiment_id or "-"), ("parent run", self.parent_run_id or "-")]
        if self.test:
            fields.insert(5, ("test", test_line(self.test)))
        width = max(len(label) for label, _ in fields) + 2
        return "\n".join(f"{label + ':':<{width}}{value}" for label, value in fields)


@dataclass(frozen=True)
class TrialRow:
    """One complete trial: its value, hyperparameters, how long it took and its MLflow run."""

    number: int
    value: float
    params: dict[str, Any]
    duration: float | None
    """Seconds from start to finish."""
    run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "value": self.value, "params": dict(self.params),
                "duration_s": self.duration, "run_id": self.run_id}


@dataclass(frozen=True)
class StudyReport:
    """A study's row and its ``top`` best complete trials, best first."""

    study: StudyRow
    top: tuple[TrialRow, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {**self.study.as_dict(), "top_trials": [t.as_dict() for t in self.top]}

    def to_text(self) -> str:
        """The study's fields, then a table of its best trials with one column per hyperparameter."""
        text = self.study.to_text()
        if "," in self.study.direction:
            return f"{text}\n\nmulti-objective study: trials are not ranked"
        if not self.top:
            return f"{text}\n\nno complete trial"
        names = list(dict.fromkeys(name for t in self.top for name in t.params))
        rows = [[str(rank), str(t.number), _value(t.value), _seconds(t.duration),
                 *(_param(t.params[n]) if n in t.params else "-" for n in names), t.run_id or "-"]
                for rank, t in enumerate(self.top, start=1)]
        numeric = {4 + i for i, n in enumerate(names) if all(_is_number(t.params.get(n, 0)) for t in self.top)}
        table = _table(["RANK", "TRIAL", "VALUE", "DURATION", *names, "RUN ID"], rows, right={0, 1, 2, 3, *numeric})
        return f"{text}\n\ntop {len(self.top)} complete trials ({self.study.direction}):\n{table}"


def studies_text(rows: Sequence[StudyRow]) -> str:
    """Every study as one line of an aligned table."""
    if not rows:
        return "no study"
    table = [[r.name, r.direction, str(r.n_trials), *(str(r.counts[s]) for s in STATES),
              _value(r.best_value), "-" if r.best_trial is None else str(r.best_trial),
              _when(r.started), r.recipe or "-", r.experiment_id or "-", r.parent_run_id or "-"]
             for r in rows]
    headers = ["STUDY", "DIRECTION", "TRIALS", *STATES, "BEST", "TRIAL", "STARTED", "RECIPE", "EXPERIMENT",
               "PARENT RUN"]
    return _table(headers, table, right=range(2, 10))


def list_studies(storage: str | None) -> list[StudyRow]:
    """Every study in a storage, in creation order.

    Args:
        storage: ``journal:PATH`` or a database URL; None for mltune's default journal file.

    Raises:
        ConfigError: the journal file or SQLite database does not exist (reading never creates one).
    """
    optuna_storage = _open_existing(storage)
    return [_row(optuna_storage, study) for study in optuna_storage.get_all_studies()]


def study_report(study_name: str, storage: str | None, *, top: int = 5) -> StudyReport:
    """One study's row and its ``top`` best complete trials, best first (ties: the earlier trial first).

    Raises:
        ConfigError: no study has that name in the storage, the storage does not exist, or ``top < 0``.
    """
    if top < 0:
        raise ConfigError(f"--top: must be >= 0, but got {top}")
    optuna_storage = _open_existing(storage)
    studies = {s.study_name: s for s in optuna_storage.get_all_studies()}
    if study_name not in studies:
        names = sorted(studies)
        known = ", ".join(repr(n) for n in names[:_KNOWN_SHOWN]) or "none"
        if len(names) > _KNOWN_SHOWN:
            known += f" and {len(names) - _KNOWN_SHOWN} more (see `mltune studies`)"
        raise ConfigError(f"--study-name: no such study in {redact(storage or DEFAULT_STORAGE)}, "
                          f"but got {study_name!r}; known: {known}")
    frozen = studies[study_name]
    trials = _trials(optuna_storage, frozen)
    row = _row(optuna_storage, frozen, trials)
    if len(frozen.directions) > 1:
        return StudyReport(row)
    sign = -1.0 if row.direction == "maximize" else 1.0
    scored = [(sign * t.value, t.number, t) for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    ranked = [t for _, _, t in sorted(scored, key=lambda item: item[:2])]
    return StudyReport(row, tuple(_trial_row(t) for t in ranked[:top]))


def _open_existing(storage: str | None) -> optuna.storages.BaseStorage:
    url = storage or DEFAULT_STORAGE
    path = None
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
    elif url.split(":", 1)[0].split("+", 1)[0].lower() == "sqlite":
        path = url.split(":///", 1)[-1].split("?", 1)[0] if ":///" in url else None
        path = None if path in ("", ":memory:") else path
    if path is not None and not os.path.exists(path):
        kind = "journal file" if url.startswith("journal:") else "SQLite database"
        raise ConfigError(f"--storage: no {kind} at {path!r} (from {redact(url)!r}); "
                          "give the storage the studies were tuned with")
    return open_storage(url)


def _trials(storage: optuna.storages.BaseStorage, study: FrozenStudy) -> list[optuna.trial.FrozenTrial]:
    return storage.get_all_trials(storage.get_study_id_from_name(study.study_name), deepcopy=False)


def _row(storage: optuna.storages.BaseStorage, study: FrozenStudy,
         trials: list[optuna.trial.FrozenTrial] | None = None) -> StudyRow:
    trials = _trials(storage, study) if trials is None else trials
    directions = [d.name.lower() for d in study.directions]
    counts = dict.fromkeys(STATES, 0)
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    best = None
    complete = [] if len(directions) > 1 else [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    if complete:
        pick = max if directions[0] == "maximize" else min
        best = pick(complete, key=lambda t: t.value)  # type: ignore[arg-type,return-value]
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    attrs = study.user_attrs
    return StudyRow(
        name=study.study_name, direction=",".join(directions), n_trials=len(trials), counts=counts,
        best_value=None if best is None else best.value, best_trial=None if best is None else best.number,
        parent_run_id=_text(attrs.get(PARENT_RUN_ATTR)), experiment_id=_text(attrs.get(EXPERIMENT_ATTR)),
        recipe=_text(attrs.get(RECIPE_ATTR)), started=min(starts) if starts else None,
        test=attrs.get(TEST_SCORE_ATTR),
    )


def test_line(test: dict[str, Any]) -> str:
    """A promotion's test score in words: ``rmse=0.69 on the test split (validation 0.65), model m v3``."""
    validation = test.get("validation_score")
    line = (f"{test.get('metric')}={_value(test.get('test_score'))} on the held-out test split"
            f"{'' if validation is None else f' (validation {_value(validation)})'}, "
            f"model {test.get('model_name')} v{test.get('version')} ({test.get('decision')})")
    return f"{line}; {test['warning']}" if test.get("warning") else line


def _trial_row(trial: optuna.trial.FrozenTrial) -> TrialRow:
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    assert trial.value is not None
    return TrialRow(number=trial.number, value=trial.value, params=dict(trial.params), duration=duration,
                    run_id=_text(trial.user_attrs.get(RUN_ID_ATTR)))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Container[int]) -> str:
    """Columns two spaces apart, numbers (the ``right`` columns) right-aligned, no trailing spaces."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(line, widths, strict=True))).rstrip() for line in [headers, *rows]]
    return "\n".join(lines)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _param(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _when(moment: datetime.datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


LOCAL_UI = "http://127.0.0.1:5000"
"""Where ``mlflow ui`` serves by default."""


def ui_address(tracking_uri: str) -> str:
    """The MLflow UI's address: the tracking server itself (without its user info), else ``mlflow ui``'s."""
    if not tracking_uri.lower().startswith(("http://", "https://")):
        return LOCAL_UI
    parts = urlsplit(tracking_uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def runs_page(tracking_uri: str, experiment_id: str) -> str:
    """The experiment's runs table in the UI's "Model training" mode (MLflow 3 opens a GenAI overview otherwise;
    the UI remembers the mode)."""
    return f"{ui_address(tracking_uri)}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def tracking_ui_hint(tracker: Any, experiment_id: str, parent_run_id: str) -> Sequence[str]:
    """Lines that tell a user where to find the study in the MLflow UI."""
    uri = redact(tracker.tracking_uri)
    where = "open" if uri.lower().startswith(("http://", "https://")) else \
        f"run `mlflow ui --backend-store-uri {uri}` and open"
    return (
        f"MLflow tracking URI: {uri}",
        f"Trials: {where} {runs_page(tracker.tracking_uri, experiment_id)} (expand the parent run)",
        f"Parent run: {ui_address(tracker.tracking_uri)}/#/experiments/{experiment_id}/runs/{parent_run_id}",
    )
