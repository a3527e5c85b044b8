"""The MLflow UI, checked in a real browser: a finished study, served by `mlflow server`, seen in headless Chromium.

Needs Debian's ``chromium`` (``.ci/browser.sh`` installs it) and the Playwright PyPI package (the ``test`` extra);
Playwright drives the system browser, it never downloads one. With ``MLTUNE_UPDATE_SCREENSHOTS=1`` the screenshots
overwrite ``docs/ui-runs.png`` and ``docs/ui-plot.png``; otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.conftest import TINY
from tests.servers import free_port

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DOCS = Path(__file__).resolve().parents[1] / "docs"
WAIT_MS = 60_000  # the UI is slow on 2 cores
PLOT = "plots/optimization_history.png"
TRIALS = ("trial-0", "trial-1", "trial-2")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium: run .ci/browser.sh"),
    pytest.mark.skipif(sync_playwright is None,
                       reason="needs the Playwright PyPI package (the test extra); Chromium comes from .ci/browser.sh"),
]


@dataclass
class Served:
    url: str
    experiment_id: str
    parent_run_id: str


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme in ("", "file"), f"expected a local artifact location, got {uri}"
    return Path(unquote(parsed.path))


@contextlib.contextmanager
def _mlflow_server(workdir: Path, artifact_root: Path) -> Iterator[str]:
    """`mlflow server` on a free loopback port over the study's sqlite store and artifact root; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
               "--artifacts-destination", str(artifact_root), "--workers", "1"]
    # No job runner (it forks a handful of huey consumers) and no telemetry: the UI needs neither.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = workdir / "mlflow-server.log"
    with log.open("ab") as out:
        # A session of its own, so that stopping it stops uvicorn and whatever else it started.
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def served(workdir: Path) -> Iterator[Served]:
    """A finished 3-trial study (experiment ``ui-check``, parent run ``ui``) behind a running `mlflow server`."""
    from mlflow import MlflowClient

    from mltune.config.recipe import load_recipe
    from mltune.flows.tune import tune

    result = tune(load_recipe(TINY), storage=f"journal:{workdir / 'j.log'}", study_name="ui",
                  experiment_name="ui-check")
    client = MlflowClient()
    assert [a.path for a in client.list_artifacts(result.parent_run_id, "plots") if a.path == PLOT], \
        f"the parent run has no {PLOT}"
    # With a sqlite tracking URI the runs' artifacts lie under ./mlruns/<experiment id>/ as plain paths; the server
    # reads those paths itself, and --artifacts-destination points at the same root for anything it stores.
    artifact_root = _local_path(client.get_experiment(result.experiment_id).artifact_location).parent
    assert _local_path(client.get_run(result.parent_run_id).info.artifact_uri).is_relative_to(artifact_root)
    with _mlflow_server(workdir, artifact_root) as url:
        yield Served(url, str(result.experiment_id), result.parent_run_id)


def _screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("MLTUNE_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS
    return tmp_path


def _check(page: Page, debug: Path, what: str, step: Callable[[], object]) -> None:
    """Runs a step; if it fails, saves a screenshot of the page and fails with the page's text."""
    try:
        step()
        return
    except Exception as error:
        failure = error
    with contextlib.suppress(Exception):
        page.screenshot(path=str(debug))
    try:
        text = page.inner_text("body")[:4000]
    except Exception as text_error:  # pragma: no cover - the page itself is gone
        text = f"(no page text: {text_error})"
    pytest.fail(f"{what}: {failure}\nURL: {page.url}\nscreenshot: {debug}\npage text:\n{text}", pytrace=False)


def _close_assistant(page: Page) -> None:
    """The MLflow Assistant panel opens by itself on a first visit and takes a third of the page."""
    close = page.get_by_role("button", name="Close", exact=True)
    with contextlib.suppress(Exception):
        close.first.click(timeout=5_000)


def test_runs_page_nests_trials_and_artifact_view_renders_a_plot(served: Served, tmp_path: Path) -> None:
    shots = _screenshot_dir(tmp_path)
    base = f"{served.url}/#/experiments/{served.experiment_id}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(WAIT_MS)

            # The runs page ("Model training" → "Training runs"): the parent run, then its trials once expanded.
            page.goto(f"{base}/runs", wait_until="load", timeout=WAIT_MS)
            parent_row = page.get_by_role("row").filter(has=page.get_by_text("ui", exact=True))
            _check(page, tmp_path / "debug-runs.png", "the parent run 'ui' is not listed",
                   lambda: parent_row.first.wait_for(state="visible"))
            _close_assistant(page)
            for trial in TRIALS:
                assert not page.get_by_text(trial, exact=True).is_visible(), f"{trial} shows before expanding"
            # The expander ("+" left of the name) is the only icon button in the name cell.
            expander = parent_row.first.locator("button[data-component-id*='runnamecellrenderer']")
            _check(page, tmp_path / "debug-runs.png", "no expander button on the parent run",
                   lambda: expander.click())
            for trial in TRIALS:
                trial_row = page.get_by_role("row").filter(has=page.get_by_text(trial, exact=True)).first
                _check(page, tmp_path / "debug-runs.png", f"{trial} is not listed under the parent run",
                       functools.partial(trial_row.wait_for, state="visible"))
            page.mouse.move(0, 0)  # no hover highlight or focus box in the screenshot
            page.evaluate("() => document.activeElement?.blur()")
            page.screenshot(path=str(shots / "ui-runs.png"))

            # The parent run's artifacts, the plot selected (the UI's own deep link to a file in the tree).
            page.goto(f"{base}/runs/{served.parent_run_id}/artifacts/{PLOT}", wait_until="load", timeout=WAIT_MS)
            image = page.locator(f'img[alt="{PLOT}"]')
            _check(page, tmp_path / "debug-plot.png", f"no <img> for {PLOT} in the artifact view",
                   lambda: image.first.wait_for(state="visible"))
            _check(page, tmp_path / "debug-plot.png", f"the <img> for {PLOT} did not load",
                   lambda: page.wait_for_function(
                       "alt => [...document.images].some(i => i.alt === alt && i.complete && i.naturalWidth > 0)",
                       arg=PLOT, timeout=WAIT_MS))
            width, height = image.first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
            assert width > 100 and height > 100, f"{PLOT} rendered as {width}x{height}"
            _close_assistant(page)
            page.mouse.move(0, 0)
            page.screenshot(path=str(shots / "ui-plot.png"))
        finally:
            browser.close()
