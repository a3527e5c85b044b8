"""Processes a test starts side by side, and waits for together.

Waiting for one process to end before reading the next one's pipes lets the second fill its pipe (64 KiB) and stop
in the middle of a write, holding whatever lock it holds, which the first may be waiting for: both then wait until
the test's timeout. :func:`finish_all` reads every pipe while it waits, and shows where a process still running at
the timeout was stuck.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest


def with_stacks(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a Python process that prints every thread's stack when it is aborted (SIGABRT)."""
    return {**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"}


def finish_all(jobs: Sequence[subprocess.Popen[str]], timeout: float = 600,
               also: Callable[[], str] | None = None) -> list[tuple[int, str, str]]:
    """Waits for every job at once: ``(return code, stdout, stderr)`` of each, in order.

    A job still running after ``timeout`` seconds is aborted (its stacks go to its stderr when it was started with
    :func:`with_stacks`) and the test fails showing the end of that output, and ``also()`` (a server's log).
    """
    def wait(job: subprocess.Popen[str]) -> tuple[int, str, str, bool]:
        try:
            stdout, stderr = job.communicate(timeout=timeout)
            return job.returncode, stdout, stderr, False
        except subprocess.TimeoutExpired:
            job.send_signal(signal.SIGABRT)
            stdout, stderr = job.communicate(timeout=60)
            return job.returncode, stdout, stderr, True

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        done = list(pool.map(wait, jobs))
    stuck = [f"{job.args!r}\n{stderr[-8000:]}" for job, (_, _, stderr, timed_out) in zip(jobs, done, strict=True)
             if timed_out]
    if stuck:
        pytest.fail(f"still running after {timeout:g}s, aborted:\n" + "\n\n".join(stuck)
                    + (f"\n\nand:\n{also()}" if also else ""))
    return [(code, stdout, stderr) for code, stdout, stderr, _ in done]
