"""Several processes on one study: the shared trial budget, lost trials, signals, and the local supervisor.

Optuna's storage is the only coordinator. Before each trial a worker takes the study's trial lock (held in
the storage, see :class:`~mltune.runtime.storage.StorageLock`), counts the trials the study has or has queued,
and starts one only if the budget allows; the lock is released as soon as the trial exists. A trial whose worker died is
failed (by heartbeat on a database storage, by the local supervisor for a journal file), its MLflow run is
closed as KILLED, and it is queued again, a bounded number of times.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from mltune.config.recipe import Recipe
from mltune.errors import ConfigError
from mltune.model.notices import no_retracing_warnings
from mltune.names import ERROR, RUN_ID_ATTR, TRIAL_STATE, WORKER_ATTR
from mltune.runtime.storage import StorageLock

if TYPE_CHECKING:
    from mltune.tracking.runs import Tracker

MAX_RETRY = 2
"""How many times a lost trial is queued again."""

Callback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


WORKER_INDEX_ENV = "MLTUNE_WORKER_INDEX"
"""Set by the local supervisor for each worker it starts: 0, 1, ... (a restarted worker gets the next number)."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_seed(recipe: Recipe) -> int | None:
    """The sampler seed of this worker process.

    Workers sharing one seed would sample the same configurations (trial 0 equal to trial 1 with two workers).
    Local worker ``i`` (started by ``tune --workers``) uses ``seed + i``, so worker 0 samples as a single process
    would and a rerun of the same command draws the same sequence in each worker; which trial number gets which
    configuration still depends on timing. A worker started by hand (``mltune worker``) draws a fresh seed. The
    grid sampler keeps the recipe's seed in every worker: it shuffles the grid with it, and every worker must
    agree on the order to avoid running a point twice.
    """
    index = os.environ.get(WORKER_INDEX_ENV, "")
    if recipe.sampler.name == "grid":
        return recipe.seed
    return recipe.seed + int(index) if index.isdigit() else None


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: the running trial is failed with this reason and the process stops."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


_RECEIVED: list[int] = []
"""The signal :func:`signals_interrupt` took, until its block ends."""


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turns SIGTERM and SIGINT into :class:`Interrupted` in the main thread (what schedulers send to stop).

    Python runs the handler at the main thread's next instruction; when that is inside a finalizer (TensorFlow's
    and Keras' objects have ``__del__`` methods) the exception is printed as "ignored" and lost. The signal is
    also kept, and :func:`stop_if_interrupted` (called after every epoch) raises it again.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number: int, frame: Any) -> None:
        _RECEIVED.append(number)
        raise Interrupted(number)

    _RECEIVED.clear()
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _RECEIVED.clear()


def stop_if_interrupted() -> None:
    """Raises the :class:`Interrupted` of a signal whose handler's exception was lost (see
    :func:`signals_interrupt`).

    Raises:
        Interrupted: SIGTERM or SIGINT arrived in the current ``signals_interrupt`` block.
    """
    if _RECEIVED:
        raise Interrupted(_RECEIVED[0])


class RetryLostTrial:
    """Handles a trial whose worker is gone: closes its MLflow run as KILLED and queues it again (bounded)."""

    def __init__(self, *, max_retry: int = MAX_RETRY, reason: str = "its worker stopped (killed or lost)",
                 tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        with warnings.catch_warnings():  # experimental since Optuna 2.8, and what Optuna's docs recommend
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        self.reason = reason

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from mltune.tracking.runs import Tracker

        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:
            reason = f"trial {trial.number} failed: {self.reason}; queued again (at most {MAX_RETRY} times)"
            Tracker(self.tracking_uri).close_lost(run_id, reason=reason)
        self.retry(study, trial)


def fail_dead_local_trials(study: optuna.Study, on_lost: Callback) -> int:
    """Fails the RUNNING trials of processes on this machine that no longer exist. Returns how many."""
    host = socket.gethostname()
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner_host, _, pid = str(trial.user_attrs.get(WORKER_ATTR, "")).rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            lost = study.tell(trial.number, state=TrialState.FAIL)
        except ValueError:  # it finished meanwhile
            continue
        failed += 1
        on_lost(study, lost)
    return failed


def close_runs_of_finished_trials(study: optuna.Study, tracker: Tracker, *, parent_run_id: str,
                                  experiment_id: str) -> int:
    """Closes the MLflow runs that are still RUNNING although Optuna finished their trials (COMPLETE, PRUNED
    or FAIL): their process could not close them, e.g. the tracking store refused writes. Each gets the status
    its trial's state calls for and, unless complete, the reason. Returns how many it closed."""
    running = tracker.running_trial_runs(parent_run_id, experiment_id=experiment_id)
    closed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id not in running:
            continue
        tags = {TRIAL_STATE: trial.state.name}
        if trial.state != TrialState.COMPLETE and ERROR not in running[run_id]:
            tags[ERROR] = (f"trial {trial.number} ended {trial.state.name} but its process could not close this "
                           "run (the tracking store refused a write?); closed by a later run of the study")
        tracker.set_tags(run_id, tags)
        tracker.end_trial(run_id, trial.state.name)
        closed += 1
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split(") ", 1)[-1][:1] != "Z"
    return True


# Read before every trial: a `catch_warnings` block there would reset Python's record of the warnings already
# shown, and every Keras warning would come again with every trial; so this one experimental warning is filtered
# once, for this function only.
warnings.filterwarnings("ignore", message=r".*\.retry_history is experimental",
                        category=optuna.exceptions.ExperimentalWarning)


def requeued(trials: Sequence[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of the lost trials that were queued again (Optuna's retry callback records them)."""
    retried = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history
    return {number for t in trials for number in retried(t)}


def trials_counted(study: optuna.Study) -> int:
    """Trials that count against the budget: finished or running. A lost trial that was queued again does not
    count (its retry will); queued trials count once they run."""
    trials = study.get_trials(deepcopy=False)
    retried = requeued(trials)
    return sum(1 for t in trials if t.state != TrialState.WAITING
               and not (t.state == TrialState.FAIL and t.number in retried))


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], *, n_trials: int | None,
               timeout: float | None, callbacks: Sequence[Callback], lock: StorageLock,
               on_lost: Callback) -> None:
    """Runs trials until the study holds ``n_trials`` (its total, shared by every worker) or time is up."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def start(trial: optuna.Trial) -> float:
        lock.release()  # the trial exists now: others may count it
        return objective(trial)

    with no_retracing_warnings(), callers_random_state_kept():  # every trial traces its new model's functions
        while deadline is None or time.monotonic() < deadline:
            lock.acquire()
            try:
                if isinstance(study.sampler, optuna.samplers.GridSampler) and study.sampler.is_exhausted(study):
                    break
                if getattr(study.sampler, "exhausted", False):  # a Tuner's grid search (mltune.GridSearch)
                    break
                if n_trials is None or trials_counted(study) < n_trials:
                    study.optimize(start, n_trials=1, catch=(Exception,), callbacks=list(callbacks))
                    continue
            finally:
                lock.release()
            # The budget is spent, but a running trial may belong to a worker that died: wait until the other
            # workers' trials finish, failing (and so queueing again) those whose worker is gone.
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                break
            fail_dead_local_trials(study, on_lost)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            time.sleep(1.0)


@contextlib.contextmanager
def callers_random_state_kept() -> Iterator[None]:
    """Trials seed Python's and NumPy's global generators (``keras.utils.set_random_seed``), so that a trial trains
    the same way again; the caller finds them as they were, not reset to a trial's seed."""
    import random

    import numpy as np

    python, numpy = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


def configure_threads(threads: int | None) -> None:
    """Gives TensorFlow this many threads for each operation (and one between operations)."""
    if not threads:
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_workers(*, study: optuna.Study, storage: str | None, workers: int, n_trials: int | None,
                timeout: float | None, tracking_uri: str | None = None, max_restarts: int | None = None,
                on_poll: Callable[[optuna.Study], Any] | None = None) -> int:
    """Runs ``workers`` processes of ``mltune worker`` on this study and supervises them.

    TensorFlow's threads are split between them. A worker that dies (killed, out of memory, a crash in native
    code) has its running trial failed and queued again and is started again while the budget is not spent,
    up to ``max_restarts`` times in all (3 per worker by default). SIGTERM or SIGINT is passed on to every worker.
    ``on_poll`` is called with the study about once a second (to show progress). The workers log to
    ``tracking_uri`` (by default the one this process would use). Returns how many times a worker was restarted.
    """
    env = _worker_environment(workers, storage=storage, tracking_uri=tracking_uri)
    on_lost = RetryLostTrial(tracking_uri=tracking_uri)
    started = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    budget = 3 * workers if max_restarts is None else max_restarts

    def spawn() -> subprocess.Popen[bytes]:
        nonlocal started
        started += 1
        command = [sys.executable, "-m", "mltune", "worker", "--study-name", study.study_name, "--quiet"]
        if n_trials is not None:
            command += ["--n-trials", str(n_trials)]
        if deadline is not None:
            command += ["--timeout", f"{max(deadline - time.monotonic(), 0.001):.3f}"]
        return subprocess.Popen(command, env={**env, WORKER_INDEX_ENV: str(started - 1)})

    running = [spawn() for _ in range(workers)]
    restarts = 0
    try:
        with signals_interrupt():
            polled = time.monotonic()
            while running:
                time.sleep(0.2)
                if on_poll is not None and time.monotonic() - polled >= 1.0:
                    on_poll(study)
                    polled = time.monotonic()
                for process in [p for p in running if p.poll() is not None]:
                    running.remove(process)
                    if process.returncode == 0:
                        continue
                    fail_dead_local_trials(study, on_lost)
                    if process.returncode == ConfigError.exit_code:
                        raise ConfigError(f"worker {process.pid} found a configuration error (see above)")
                    left = n_trials is None or trials_counted(study) < n_trials
                    in_time = deadline is None or time.monotonic() < deadline
                    if left and in_time and restarts < budget:
                        restarts += 1
                        print(f"mltune: worker {process.pid} ended with {_describe(process.returncode)}; "
                              f"starting another ({restarts}/{budget})", file=sys.stderr)
                        running.append(spawn())
    except BaseException:
        _stop(running)
        raise
    finally:
        fail_dead_local_trials(study, on_lost)
    if on_poll is not None:
        on_poll(study)
    return restarts


def _worker_environment(workers: int, *, storage: str | None, tracking_uri: str | None) -> dict[str, str]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    # TensorFlow's op pools and oneDNN's OpenMP pool both size themselves to every core unless told.
    env = {**os.environ, "MLTUNE_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
           "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": str(threads)}
    if storage:
        env["MLTUNE_STORAGE"] = storage  # not on the command line, where `ps` would show a password
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def _describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def _stop(processes: list[subprocess.Popen[bytes]], *, grace: float = 8.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
