"""How a running study goes: a tqdm bar on a terminal, one plain line per finished trial elsewhere, or nothing."""

from __future__ import annotations

import contextlib
import datetime
import logging
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

from optuna.trial import TrialState

from mltune.config.redaction import redact
from mltune.errors import plain_message
from mltune.names import TRACEBACK_ARTIFACT
from mltune.runtime.workers import requeued

if TYPE_CHECKING:
    import optuna
    from tqdm import tqdm

ProgressMode = Literal["auto", "bar", "lines", "quiet"]
PROGRESS_MODES: tuple[ProgressMode, ...] = ("auto", "bar", "lines", "quiet")
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class StudyProgress:
    """An Optuna study callback that shows trials done, the best value so far, pruned and failed counts, time left.

    Counts come from the study's storage, not from the trials this process ran, so several workers sharing a
    study each show the whole study. Each callback reads the storage once. A single-objective study only.

    Use it as a context manager (or call :meth:`start` right before the trials start and :meth:`close` after)
    and pass it in ``callbacks``::

        with StudyProgress(total=20, done=3, metric="accuracy", direction="maximize", timeout=None) as progress:
            study.optimize(objective, n_trials=17, callbacks=[progress])

    A process that runs no trial itself (a supervisor of worker processes) calls :meth:`poll` instead.

    Modes:
        ``bar``: a tqdm bar (the ``auto`` choice when ``stream`` is a terminal).
        ``lines``: one plain line per finished trial, without carriage returns or colours (the ``auto`` choice
        otherwise: CI logs, ``mlflow run``, pipes).
        ``quiet``: nothing, and no storage reads.
    """

    def __init__(
        self,
        *,
        total: int | None,
        done: int = 0,
        metric: str,
        direction: str,
        timeout: float | None = None,
        stream: IO[str] | None = None,
        mode: ProgressMode = "auto",
    ) -> None:
        """Prepares the display; nothing is written before :meth:`start` or the first trial.

        Args:
            total: trials the study should reach, counting those done before; None when only ``timeout`` bounds it.
            done: trials (complete, pruned or failed) the study had when this process started on it.
            metric: the objective's name, shown beside values.
            direction: ``minimize`` or ``maximize``: which value is the best so far.
            timeout: seconds after :meth:`start` when the study stops starting trials, if any.
            stream: where to write; ``sys.stderr`` by default, so that stdout keeps the command's result.
            mode: ``auto``, ``bar``, ``lines`` or ``quiet``.
        """
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', but got {direction!r}")
        if mode not in PROGRESS_MODES:
            raise ValueError(f"mode must be one of {', '.join(PROGRESS_MODES)}, but got {mode!r}")
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 or None, but got {total}")
        self.total = total
        self.done = done
        self.metric = metric
        self.direction = direction
        self.timeout = timeout
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self.mode: Literal["bar", "lines", "quiet"] = _resolve(mode, self.stream)
        self._started: float | None = None
        self._since: datetime.datetime | None = None  # Optuna's clock: local time
        self._shown: set[int] = set()
        self._bar: tqdm[Any] | None = None
        self._redirect = contextlib.ExitStack()
        self._lock = threading.Lock()  # Optuna calls callbacks from its worker threads when n_jobs > 1

    def start(self) -> StudyProgress:
        """Starts the clock (time left counts from here) and, in ``bar`` mode, draws the bar. Idempotent."""
        with self._lock:
            self._start()
        return self

    def close(self) -> None:
        """Leaves the bar's final state on screen. Safe to call more than once."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            self._redirect.close()

    def __enter__(self) -> StudyProgress:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """The Optuna callback: shows ``trial``, which this process just finished, and the whole study's counts."""
        if self.mode == "quiet":
            return
        trials = study.get_trials(deepcopy=False)
        with self._lock:
            self._start()
            self._shown.add(trial.number)
            self._show([(trial, self._count(trials))])

    def poll(self, study: optuna.Study) -> int:
        """Shows the trials that any process finished since :meth:`start` and that were not shown yet.

        For a process that runs no trial itself, such as the supervisor of ``--workers``: call it every second
        or so. Each call reads the storage once. Returns how many trials it showed.
        """
        if self.mode == "quiet":
            return 0
        trials = study.get_trials(deepcopy=False)
        with self._lock:
            self._start()
            since = self._since
            assert since is not None
            new = sorted((t for t in trials if t.state in _FINISHED and t.number not in self._shown
                          and t.datetime_complete is not None and t.datetime_complete >= since),
                         key=lambda t: (t.datetime_complete, t.number))
            self._shown.update(t.number for t in new)
            self._show([(t, self._count(trials, upto=t.datetime_complete)) for t in new])
            return len(new)

    def _start(self) -> None:
        if self._started is not None:
            return
        self._started = time.monotonic()
        self._since = datetime.datetime.now()
        if self.mode == "bar":
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            # Optuna's warnings (a failed trial) and other log lines print above the bar instead of through it.
            self._redirect.enter_context(logging_redirect_tqdm([logging.root, logging.getLogger("optuna")]))

            total_part = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]"
            self._bar = tqdm(
                total=self.total, initial=self.done, file=self.stream, dynamic_ncols=True, leave=True, mininterval=0,
                bar_format=total_part if self.total is not None else "{n_fmt} trials [{elapsed}{postfix}]",
                postfix=self._time_postfix(self._seconds_left(self.done)),  # counts come with the first trial
            )

    def _count(self, trials: Sequence[optuna.trial.FrozenTrial], *,
               upto: datetime.datetime | None = None) -> _Status:
        """The study's counts, over the trials finished by ``upto`` when given."""
        retried = requeued(trials)
        done = pruned = failed = 0
        lost: set[int] = set()
        best: optuna.trial.FrozenTrial | None = None
        for t in trials:
            if t.state not in _FINISHED or (upto is not None and (t.datetime_complete or upto) > upto):
                continue
            if t.state == TrialState.FAIL and t.number in retried:
                lost.add(t.number)
                continue
            done += 1
            if t.state == TrialState.PRUNED:
                pruned += 1
            elif t.state == TrialState.FAIL:
                failed += 1
            elif t.value is not None and (best is None or self._better(t, best)):
                best = t
        return _Status(done=done, pruned=pruned, failed=failed, lost=frozenset(lost), best=best,
                       left=self._seconds_left(done))

    def _show(self, shown: list[tuple[optuna.trial.FrozenTrial, _Status]]) -> None:
        if not shown:
            return
        if self.mode == "bar":
            self._draw(shown[-1][1])
            return
        for trial, status in shown:
            self.stream.write(self._line(trial, status) + "\n")
        self.stream.flush()

    def _better(self, trial: optuna.trial.FrozenTrial, than: optuna.trial.FrozenTrial) -> bool:
        assert trial.value is not None and than.value is not None
        return trial.value > than.value if self.direction == "maximize" else trial.value < than.value

    def _seconds_left(self, done: int) -> float | None:
        """The sooner of: the trials still missing at this process's rate so far, and the timeout."""
        assert self._started is not None
        elapsed = time.monotonic() - self._started
        left = None
        if self.total is not None:
            missing = max(self.total - done, 0)
            if missing == 0:
                left = 0.0
            elif done > self.done and elapsed > 0:
                left = missing * elapsed / (done - self.done)
        if self.timeout is not None:
            until_timeout = max(self.timeout - elapsed, 0.0)
            left = until_timeout if left is None else min(left, until_timeout)
        return left

    def _counts_text(self, status: _Status) -> str:
        text = f"{status.pruned} pruned, {status.failed} failed"
        return text + (f", {len(status.lost)} lost and queued again" if status.lost else "")

    def _postfix(self, status: _Status) -> str:
        parts = [_best_text(status.best), self._counts_text(status), self._time_postfix(status.left)]
        return ", ".join(part for part in parts if part)

    def _time_postfix(self, left: float | None) -> str:
        """With a total, tqdm shows the time left itself; the timeout may still come first."""
        if self.total is None:
            return "" if left is None else f"~{format_duration(left)} left"
        if self.timeout is None or self._started is None:
            return ""
        return f"timeout in {format_duration(max(self.timeout - (time.monotonic() - self._started), 0.0))}"

    def _draw(self, status: _Status) -> None:
        bar = self._bar
        assert bar is not None
        bar.set_postfix_str(self._postfix(status), refresh=False)
        if status.done != bar.n:  # other workers' trials count too
            bar.update(status.done - bar.n)
        else:
            bar.refresh()

    def _line(self, trial: optuna.trial.FrozenTrial, status: _Status) -> str:
        head = f"trial {trial.number} {trial.state.name}"
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            head += f" {self.metric}={trial.value:.6g}"
        elif trial.state == TrialState.PRUNED and trial.last_step is not None:
            head += f" at step {trial.last_step}"
        elif trial.number in status.lost:
            head += " (lost, queued again)"
        of = f"/{self.total}" if self.total is not None else ""
        parts = [head, _best_text(status.best), f"{status.done}{of} done, {self._counts_text(status)}"]
        if status.left is not None and (self.total is None or status.done < self.total):
            parts.append(f"~{format_duration(status.left)} left")
        return " | ".join(parts)


@dataclass(frozen=True)
class _Status:
    """The study's counts when a trial finished."""

    done: int
    pruned: int
    failed: int
    lost: frozenset[int]
    """Failed trials whose worker was lost and that were queued again: not done, their retries will be."""
    best: optuna.trial.FrozenTrial | None
    left: float | None


def format_duration(seconds: float) -> str:
    """``42s``, ``1m20s``, ``2h05m``: short enough for a progress line."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _best_text(best: optuna.trial.FrozenTrial | None) -> str:
    return "no best yet" if best is None else f"best {best.value:.6g} (trial {best.number})"


def _resolve(mode: ProgressMode, stream: IO[str]) -> Literal["bar", "lines", "quiet"]:
    if mode != "auto":
        return mode
    isatty = getattr(stream, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "lines"


class OneLineTrialFailures(logging.Filter):
    """A filter for Optuna's logger that shows a failed trial in one line.

    Optuna warns about a failed trial with its parameters and the error's full traceback, then again with its
    value (None). The line left names the trial and the error; the traceback is in the trial's run
    (``traceback.txt``, see :func:`mltune.search.objective.trial_outcome`).
    """

    _FAILED = re.compile(r"^Trial (\d+) failed with parameters: ")
    _VALUE_NONE = re.compile(r"^Trial \d+ failed with value None\.$")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._VALUE_NONE.match(message):
            return False
        found = self._FAILED.match(message)
        error = record.exc_info[1] if record.exc_info else None
        if found and error is not None:
            text = (plain_message(str(error)).splitlines() or [""])[0]
            record.msg = redact(f"trial {found[1]} failed: {type(error).__name__}: {text} "
                                f"(traceback in its run's {TRACEBACK_ARTIFACT})")
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


TRIAL_FAILURES = OneLineTrialFailures()
"""The one instance :func:`quiet_trial_failures` adds (adding it again changes nothing)."""


def quiet_trial_failures() -> None:
    """One line per failed trial on the console instead of Optuna's traceback (for the command line)."""
    logging.getLogger("optuna.study._optimize").addFilter(TRIAL_FAILURES)
