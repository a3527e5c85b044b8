"""StudyProgress, driven by real in-memory Optuna studies with complete, pruned and failed trials."""

from __future__ import annotations

import io
import re
from typing import Any

import optuna
import pytest

from mltune.views.progress import StudyProgress, format_duration

VALUES = [0.5, 0.9, 0.7, 0.95, 0.2, 0.3, 0.99, 0.1]
PRUNED = {1, 4}  # trial 4 would be the best of a minimizing study had it finished: it must not count
FAILED = {3}  # trial 3 would be the best of a maximizing study before trial 6


def objective(trial: optuna.Trial) -> float:
    value = VALUES[trial.number % len(VALUES)]
    trial.report(value, step=0)
    trial.report(value, step=1)
    if trial.number in PRUNED:
        raise optuna.TrialPruned()
    if trial.number in FAILED:
        raise ValueError("diverged")
    return value


def run(progress: StudyProgress, *, direction: str = "maximize", n_trials: int = len(VALUES),
        study: optuna.Study | None = None, callbacks: list[Any] | None = None) -> optuna.Study:
    study = study or optuna.create_study(direction=direction)
    with progress:
        study.optimize(objective, n_trials=n_trials, catch=(Exception,), callbacks=[*(callbacks or []), progress])
    return study


def expected_best(direction: str, upto: int) -> tuple[float, int]:
    complete = [(v, n) for n, v in enumerate(VALUES[: upto + 1]) if n not in PRUNED | FAILED]
    return max(complete) if direction == "maximize" else min(complete)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_lines_show_each_trial_and_the_best_so_far(direction: str) -> None:
    stream = io.StringIO()
    run(StudyProgress(total=8, done=0, metric="accuracy", direction=direction, timeout=None, stream=stream,
                      mode="lines"), direction=direction)

    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 8
    for number, line in enumerate(lines):
        state = "PRUNED" if number in PRUNED else "FAIL" if number in FAILED else "COMPLETE"
        value, best = expected_best(direction, number)
        head = f"trial {number} {state}" + {"COMPLETE": f" accuracy={VALUES[number]:.6g}", "PRUNED": " at step 1",
                                             "FAIL": ""}[state]
        assert line.startswith(f"{head} | best {value:.6g} (trial {best}) | {number + 1}/8 done, "), line
        pruned = len([n for n in PRUNED if n <= number])
        failed = len([n for n in FAILED if n <= number])
        assert f" done, {pruned} pruned, {failed} failed" in line
        assert (re.search(r" \| ~\S+ left$", line) is not None) == (number < 7), line


def test_lines_before_any_complete_trial_and_with_a_timeout_only() -> None:
    def always_pruned(trial: optuna.Trial) -> float:
        raise optuna.TrialPruned()

    stream = io.StringIO()
    progress = StudyProgress(total=None, metric="loss", direction="minimize", timeout=3600.0, stream=stream,
                             mode="lines")
    with progress:
        optuna.create_study().optimize(always_pruned, n_trials=2, callbacks=[progress])
    first, second = stream.getvalue().splitlines()
    assert first.startswith("trial 0 PRUNED | no best yet | 1 done, 1 pruned, 0 failed | ~")
    assert re.search(r"\| ~(1h00m|59m\d\ds) left$", first), first  # time left until the timeout
    assert second.startswith("trial 1 PRUNED | no best yet | 2 done, 2 pruned, 0 failed")


def test_counts_come_from_the_study_so_resumed_and_other_workers_trials_count() -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=3, catch=(Exception,))  # an earlier run: trials 0-2

    def other_worker(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 3:  # another process finishes a trial meanwhile
            study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=42.0))

    stream = io.StringIO()
    run(StudyProgress(total=8, done=3, metric="accuracy", direction="maximize", timeout=None, stream=stream,
                      mode="lines"), study=study, n_trials=4, callbacks=[other_worker])
    lines = stream.getvalue().splitlines()
    assert all(re.search(r" \| ~\S+ left$", line) for line in lines[:3])
    assert [re.sub(r" \| ~\S+ left$", "", line) for line in lines] == [  # trial 4 is the other worker's
        "trial 3 FAIL | best 42 (trial 4) | 5/8 done, 1 pruned, 1 failed",
        "trial 5 COMPLETE accuracy=0.3 | best 42 (trial 4) | 6/8 done, 1 pruned, 1 failed",
        "trial 6 COMPLETE accuracy=0.99 | best 42 (trial 4) | 7/8 done, 1 pruned, 1 failed",
        "trial 7 COMPLETE accuracy=0.1 | best 42 (trial 4) | 8/8 done, 1 pruned, 1 failed",
    ]


def test_one_storage_read_per_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study(direction="maximize")
    reads: list[dict[str, Any]] = []
    get_trials = study.get_trials

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs)
        return get_trials(*args, **kwargs)

    def checked(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        assert len(reads) == 1 and reads[0]["deepcopy"] is False
        reads.clear()

    monkeypatch.setattr(study, "get_trials", counting)
    progress = StudyProgress(total=8, metric="accuracy", direction="maximize", stream=io.StringIO(), mode="lines")
    with progress:
        study.optimize(objective, n_trials=len(VALUES), catch=(Exception,),
                       callbacks=[lambda study, trial: reads.clear(), progress, checked])


def test_quiet_writes_nothing() -> None:
    stream = io.StringIO()
    run(StudyProgress(total=8, metric="accuracy", direction="maximize", stream=stream, mode="quiet"))
    assert stream.getvalue() == ""


def test_bar_shows_done_of_total_and_the_best() -> None:
    stream = io.StringIO()
    run(StudyProgress(total=8, metric="accuracy", direction="maximize", timeout=None, stream=stream, mode="bar"))
    final = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "8/8 trials" in final and "best 0.99 (trial 6)" in final
    assert "2 pruned, 1 failed" in final


def test_bar_with_a_timeout_only_shows_time_left() -> None:
    stream = io.StringIO()
    run(StudyProgress(total=None, metric="accuracy", direction="maximize", timeout=600.0, stream=stream,
                      mode="bar"), n_trials=3)
    final = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("3 trials [") and "best 0.7 (trial 2)" in final
    assert re.search(r"~(10m00s|9m\d\ds) left\]$", final), final


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "mode"), [(io.StringIO(), "lines"), (_Terminal(), "bar")])
def test_auto_draws_a_bar_only_on_a_terminal(stream: io.StringIO, mode: str) -> None:
    progress = StudyProgress(total=8, metric="accuracy", direction="maximize", stream=stream)
    assert progress.mode == mode
    run(progress, n_trials=2)
    assert ("\r" in stream.getvalue()) == (mode == "bar")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"direction": "max"}, "direction must be 'minimize' or 'maximize', but got 'max'"),
     ({"mode": "fancy"}, "mode must be one of auto, bar, lines, quiet, but got 'fancy'"),
     ({"total": -1}, "total must be >= 0 or None, but got -1")],
)
def test_bad_arguments_name_the_rule_and_the_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        StudyProgress(**{"total": 8, "metric": "accuracy", "direction": "maximize", **kwargs})


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (42, "42s"), (80, "1m20s"), (3599.6, "1h00m"),
                                               (7500, "2h05m")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("timeout", "left"), [(None, "~1m00s left"), (30.0, "~10s left")])
def test_time_left_is_the_sooner_of_the_rate_and_the_timeout(monkeypatch: pytest.MonkeyPatch, timeout: float | None,
                                                            left: str) -> None:
    clock = [100.0]
    monkeypatch.setattr("mltune.views.progress.time.monotonic", lambda: clock[0])
    study = optuna.create_study(direction="maximize")
    for value in (0.1, 0.2):  # done before this process started
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value))
    stream = io.StringIO()
    with StudyProgress(total=10, done=2, metric="accuracy", direction="maximize", timeout=timeout, stream=stream,
                       mode="lines") as progress:
        clock[0] += 20  # two trials in 20 s: the six missing take 60 s
        for value in (0.3, 0.4):
            study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value))
        progress(study, study.trials[-1])
    assert stream.getvalue() == ("trial 3 COMPLETE accuracy=0.4 | best 0.4 (trial 3) | 4/10 done, 0 pruned, "
                                 f"0 failed | {left}\n")


def test_poll_shows_what_other_processes_finished_once_each() -> None:
    study = optuna.create_study(direction="minimize")
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=9.0))  # before start: not shown
    stream = io.StringIO()
    with StudyProgress(total=5, done=1, metric="loss", direction="minimize", stream=stream, mode="lines") as progress:
        assert progress.poll(study) == 0
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=3.0))
        study.add_trial(optuna.trial.create_trial(params={}, distributions={},
                                                  state=optuna.trial.TrialState.PRUNED, intermediate_values={2: 1.0}))
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, state=optuna.trial.TrialState.FAIL))
        assert progress.poll(study) == 3
        assert progress.poll(study) == 0
    lines = [re.sub(r" \| ~\S+ left$", "", line) for line in stream.getvalue().splitlines()]
    assert lines == [  # counts as of each trial's end
        "trial 1 COMPLETE loss=3 | best 3 (trial 1) | 2/5 done, 0 pruned, 0 failed",
        "trial 2 PRUNED at step 2 | best 3 (trial 1) | 3/5 done, 1 pruned, 0 failed",
        "trial 3 FAIL | best 3 (trial 1) | 4/5 done, 1 pruned, 1 failed",
    ]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_lost_trial_queued_again_is_not_done_until_its_retry_is() -> None:
    study = optuna.create_study(direction="maximize")
    stream = io.StringIO()
    with StudyProgress(total=3, metric="accuracy", direction="maximize", stream=stream, mode="lines") as progress:
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, state=optuna.trial.TrialState.FAIL))
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)(study, study.trials[0])  # as on a heartbeat
        progress.poll(study)
        study.optimize(lambda trial: 0.5, n_trials=1, callbacks=[progress])  # runs the queued retry, trial 1
    lines = [re.sub(r" \| ~\S+ left$", "", line) for line in stream.getvalue().splitlines()]
    assert lines == [
        "trial 0 FAIL (lost, queued again) | no best yet | 0/3 done, 0 pruned, 0 failed, 1 lost and queued again",
        "trial 1 COMPLETE accuracy=0.5 | best 0.5 (trial 1) | 1/3 done, 0 pruned, 0 failed, 1 lost and queued again",
    ]
