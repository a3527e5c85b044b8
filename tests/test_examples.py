"""The scheduling examples in ``examples/`` parse and call ``mltune`` only as its CLI contract allows.

Fast: nothing here trains, starts a scheduler or touches the network. The Airflow DAG is always checked as Python
source; it is also loaded into a real ``DagBag`` where Airflow is installed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CRON = EXAMPLES / "cron" / "mltune-retune.cron"
DAG_FILE = EXAMPLES / "airflow" / "mltune_retune_dag.py"
GHA = EXAMPLES / "github-actions" / "retune.yml"
K8S = EXAMPLES / "kubernetes" / "cronjob.yaml"
README = EXAMPLES / "README.md"
DAG_ID = "mltune_retune"
SCHEDULE = "30 2 * * *"

# The options of each command, as the CLI contract states them.
ALLOWED_FLAGS = {
    "retune": {
        "--n-trials",
        "--timeout",
        "--study-name",
        "--storage",
        "--experiment-name",
        "--set",
        "--output",
        "--run-key",
        "--skip-if-unchanged",
        "--quiet",
    },
    # `--storage`: the CLI's rollback takes it too, to hold the same promotion lock as retune
    "rollback": {"--reason", "--storage", "--output"},
    # examples/deploy: the study's first process and the workers that join it
    # `--data`/`--target`: a table with no recipe file (issue 13); `--output json` like retune's
    "tune": {"--n-trials", "--timeout", "--study-name", "--storage", "--experiment-name", "--quiet", "--set",
             "--promote", "--workers", "--data", "--target", "--output", "--print-recipe"},
    "worker": {"--study-name", "--storage", "--n-trials", "--timeout", "--threads", "--quiet", "--wait"},
    "studies": {"--storage", "--output"},
}
# Parameters of the MLproject entry point `retune`.
RETUNE_ENTRY_POINT_PARAMS = {
    "recipe",
    "n_trials",
    "timeout",
    "study_name",
    "storage",
    "experiment_name",
    "run_key",
    "skip_if_unchanged",
    "output",
}

# `mltune VERB ...` (or `.../bin/mltune VERB ...`) up to the end of the shell command: a newline, `;`, `|`, `&`, a
# redirection or a backtick. Case-sensitive and blank-separated, so `MLTUNE_HOME`, `/opt/mltune with ...` (a
# directory), `name: mltune` (end of line) and `mltune-retune` are not calls.
INVOCATION = re.compile(r"(?:(?<![\w/.-])|(?<=bin/))mltune[ \t]+([a-z][a-z-]*)([^\n;|&<>`]*)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
MLFLOW_RUN = re.compile(r"\bmlflow[ \t]+run[ \t]([^\n;|&<>`]*)")

CRON_FIELDS = [  # (low, high, names) for minute, hour, day of month, month, day of week
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
]


# --- helpers ---------------------------------------------------------------------------------------------------


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    text = text.lower()
    if text in names:
        return names.index(text) + low
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    return None


def valid_cron_field(field: str, low: int, high: int, names: tuple[str, ...] = ()) -> bool:
    """One field of a five-field cron expression: ``*``, values, ranges, lists and ``/step``."""
    for part in field.split(","):
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        start = _cron_value(first, low, high, names)
        end = _cron_value(last, low, high, names) if dash else start
        if start is None or end is None or start > end:
            return False
    return True


def valid_cron(expression: str) -> bool:
    fields = expression.split()
    return len(fields) == 5 and all(
        valid_cron_field(field, *spec) for field, spec in zip(fields, CRON_FIELDS, strict=True)
    )


def join_continuations(text: str) -> str:
    """Shell line continuations (backslash, newline) become one blank, as the shell reads them."""
    return re.sub(r"\\\n\s*", " ", text)


def yaml_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in yaml_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in yaml_strings(value)]
    return []


def texts_of(path: Path) -> list[str]:
    """The file as written, plus its strings as the program reading it sees them (YAML scalars, Python literals).

    A folded YAML scalar or a Python string with a backslash continuation only becomes one command line once
    parsed, so both views are searched. Of Markdown, only the code.
    """
    raw = path.read_text()
    texts = [raw]
    if path.suffix in (".yml", ".yaml"):
        texts += yaml_strings(yaml.safe_load(raw))
    elif path.suffix == ".py":
        texts += [n.value for n in ast.walk(ast.parse(raw)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    elif path.suffix == ".md":  # only code: fenced blocks and `inline code`, not the prose around them
        fenced = re.findall(r"^```[^\n]*\n(.*?)^```", raw, flags=re.DOTALL | re.MULTILINE)
        prose = re.sub(r"^```.*?^```", "", raw, flags=re.DOTALL | re.MULTILINE)
        texts = fenced + re.findall(r"`([^`\n]+)`", prose)
    return [join_continuations(text) for text in texts]


def invocations(path: Path) -> list[tuple[str, str]]:
    """Every ``(verb, rest of the command line)`` of ``mltune VERB ...`` in the file."""
    found = [(m.group(1), m.group(2)) for text in texts_of(path) for m in INVOCATION.finditer(text)]
    return list(dict.fromkeys(found))


def retune_commands(path: Path) -> list[str]:
    return [rest for verb, rest in invocations(path) if verb == "retune"]


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def assert_scheduled_retune(path: Path) -> None:
    """The file runs ``mltune retune`` with JSON output and a run key."""
    commands = [rest for rest in retune_commands(path) if "--run-key" in rest]
    assert commands, f"{path.name}: no `mltune retune ... --run-key` call"
    for rest in commands:
        assert re.search(r"--output[ =]json\b", rest), f"{path.name}: `mltune retune{rest}` lacks --output json"
        assert re.search(r"--run-key[ =]\S", rest), f"{path.name}: `mltune retune{rest}` has no run key value"


def cron_jobs() -> list[str]:
    lines = [line.strip() for line in CRON.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def workflow() -> dict[Any, Any]:  # the key `on` reads as True
    return yaml.safe_load(GHA.read_text())


def cronjob() -> dict[str, Any]:
    return yaml.safe_load(K8S.read_text())


# --- the cron validator itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["30 2 * * *", "*/15 0-6 1,15 jan-mar mon-fri", "0 0 * * 7", "5 4 1-31/2 * sun"])
def test_cron_validator_accepts(expression: str) -> None:
    assert valid_cron(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "60 2 * * *",
        "30 24 * * *",
        "30 2 0 * *",
        "30 2 * 13 *",
        "30 2 * *",
        "30 2 * * * *",
        "a 2 * * *",
        "*/0 2 * * *",
        "30 5-2 * * *",
        "30 2 * * funday",
    ],
)
def test_cron_validator_rejects(expression: str) -> None:
    assert not valid_cron(expression)


# --- every example -------------------------------------------------------------------------------------------


def test_all_examples_exist() -> None:
    for path in (CRON, DAG_FILE, GHA, K8S, README):
        assert path.is_file(), path


def test_mltune_calls_use_only_documented_flags() -> None:
    seen: dict[str, int] = dict.fromkeys(ALLOWED_FLAGS, 0)
    for path in example_files():
        for verb, rest in invocations(path):
            if verb not in ALLOWED_FLAGS:
                # prose ("when mltune fails, ...") unless options follow: then a command the contract lacks
                assert not FLAG.search(rest), f"{path.relative_to(EXAMPLES)}: unknown command `mltune {verb}{rest}`"
                continue
            seen[verb] += 1
            unknown = set(FLAG.findall(rest)) - ALLOWED_FLAGS[verb]
            assert not unknown, f"{path.relative_to(EXAMPLES)}: `mltune {verb}{rest}` uses {sorted(unknown)}"
            for value in re.findall(r"--output[ =](\S+)", rest):
                assert value.strip("\"'") == "json", f"{path.relative_to(EXAMPLES)}: --output {value}"
    assert seen["retune"] >= 4 and seen["rollback"] >= 1, seen


def test_allowed_flags_are_the_cli_options() -> None:
    """The sets above match the real commands, so the examples cannot drift from the CLI (no command runs)."""
    from mltune.cli import main

    for verb, flags in ALLOWED_FLAGS.items():
        options = {opt for param in main.commands[verb].params for opt in param.opts if opt.startswith("--")}
        assert flags == options, verb


def test_retune_entry_point_parameters_are_the_mlprojects() -> None:
    mlproject = yaml.safe_load((EXAMPLES.parent / "MLproject").read_text())
    assert set(mlproject["entry_points"]["retune"]["parameters"]) == RETUNE_ENTRY_POINT_PARAMS


def test_mlflow_run_calls_use_the_retune_entry_point_parameters() -> None:
    calls = [m.group(1) for path in example_files() for text in texts_of(path) for m in MLFLOW_RUN.finditer(text)]
    for call in calls:
        assert re.search(r"(?:-e|--entry-point)[ =]retune\b", call), call
        for name in re.findall(r"-P[ \t]+([A-Za-z_]\w*)=", call):
            assert name in RETUNE_ENTRY_POINT_PARAMS, f"unknown parameter {name!r} in `mlflow run {call}`"


def test_no_password_is_written_into_an_example() -> None:
    url_with_password = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^\s:/@'\"]+:([^\s@'\"]+)@")
    for path in example_files():
        for password in url_with_password.findall(path.read_text()):
            assert password == "PASSWORD", f"{path.relative_to(EXAMPLES)}: a real-looking password {password!r}"


# --- cron ------------------------------------------------------------------------------------------------------


def test_cron_job_line() -> None:
    jobs = cron_jobs()
    assert len(jobs) == 1, jobs
    for line in jobs:
        fields = line.split(None, 5)
        assert len(fields) == 6, f"five time fields and a command expected: {line!r}"
        assert valid_cron(" ".join(fields[:5])), fields[:5]
        assert " ".join(fields[:5]) == SCHEDULE
        command = fields[5]
        assert "mltune retune" in command and "--run-key" in command
        assert "flock -n " in command, "overlapping runs must be prevented"
        assert re.search(r">>\s*\S+", command), "the JSON result should be appended to a log"
        # cron turns an unescaped % into a newline (and feeds the rest to stdin)
        assert not re.search(r"(?<!\\)%", command), "escape % as \\% in a crontab"
    assert_scheduled_retune(CRON)


def test_cron_file_documents_rollback() -> None:
    comments = [line for line in CRON.read_text().splitlines() if line.lstrip().startswith("#")]
    assert any("mltune rollback " in line for line in comments)


# --- GitHub Actions ----------------------------------------------------------------------------------------------


def test_github_actions_triggers() -> None:
    wf = workflow()
    # PyYAML (YAML 1.1) reads the bare key `on` as the boolean True.
    triggers = wf.get("on", wf.get(True))
    assert isinstance(triggers, dict), wf.keys()
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert crons and all(valid_cron(c) for c in crons), crons
    assert SCHEDULE in crons
    assert "workflow_dispatch" in triggers


def test_github_actions_job() -> None:
    wf = workflow()
    jobs = wf["jobs"]
    assert len(jobs) == 1
    job = next(iter(jobs.values()))
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)

    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    # a string: an unquoted 3.10 would be read as the number 3.1
    assert setup["with"]["python-version"] == "3.11"

    runs = [step.get("run", "") for step in steps]
    assert any(re.search(r"pip install -e \.(\s|$)", run) for run in runs)

    retune_steps = [run for run in runs if re.search(r"mltune retune\s", run)]
    assert len(retune_steps) == 1
    retune = join_continuations(retune_steps[0])
    output = re.search(r"mltune retune[^\n]*>\s*(\S+)", retune)
    assert output, "the JSON result should be redirected to a file"
    result_file = output.group(1)
    assert '--storage "$MLTUNE_STORAGE_URL"' in retune

    artifact = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["with"]["path"] == result_file
    assert artifact.get("if") == "always()"
    assert any("jq" in run and ".decision" in run and result_file in run for run in runs)
    assert_scheduled_retune(GHA)


def test_github_actions_secrets() -> None:
    job = next(iter(workflow()["jobs"].values()))
    env = job["env"]
    for name in ("MLFLOW_TRACKING_URI", "MLTUNE_STORAGE_URL"):
        assert env[name] == f"${{{{ secrets.{name} }}}}", env.get(name)
    # inputs reach the shell through the environment, never pasted into a script (injection)
    for step in job["steps"]:
        assert "${{ inputs." not in step.get("run", ""), step


# --- Kubernetes ------------------------------------------------------------------------------------------------


def test_kubernetes_cronjob() -> None:
    doc = cronjob()
    assert doc["apiVersion"] == "batch/v1"
    assert doc["kind"] == "CronJob"
    spec = doc["spec"]
    assert valid_cron(spec["schedule"]) and spec["schedule"] == SCHEDULE
    assert spec["concurrencyPolicy"] == "Forbid"

    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    containers = pod["containers"]
    assert len(containers) == 1
    container = containers[0]
    assert container["image"] and ":" in container["image"]

    command = " ".join(container.get("command", []) + container.get("args", []))
    assert "mltune retune" in command and "--output json" in command and "--run-key" in command
    assert "date" in command, "the run key comes from the date"
    assert_scheduled_retune(K8S)

    for rule in job.get("podFailurePolicy", {}).get("rules", []):
        assert pod["restartPolicy"] == "Never", "podFailurePolicy needs restartPolicy: Never"
        exit_codes = rule.get("onExitCodes")
        if exit_codes and "containerName" in exit_codes:
            assert exit_codes["containerName"] == container["name"]


def test_kubernetes_credentials_come_from_a_secret() -> None:
    container = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {entry["name"]: entry for entry in container["env"]}
    assert "MLFLOW_TRACKING_URI" in env
    for name in ("MLTUNE_STORAGE_URL", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"], ref
    command = " ".join(container.get("command", []) + container.get("args", []))
    assert '--storage "$MLTUNE_STORAGE_URL"' in command


# --- Airflow ---------------------------------------------------------------------------------------------------


def _dag_call(tree: ast.Module) -> ast.Call:
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "DAG"
    ]
    assert len(calls) == 1, "one DAG(...) expected"
    return calls[0]


def _module_constants(tree: ast.Module) -> dict[str, Any]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                constants[node.targets[0].id] = ast.literal_eval(node.value)
    return constants


def test_airflow_dag_source() -> None:
    source = DAG_FILE.read_text()
    tree = ast.parse(source, filename=str(DAG_FILE))
    compile(tree, str(DAG_FILE), "exec")

    top_imports = [ast.unparse(node) for node in tree.body if isinstance(node, ast.ImportFrom | ast.Import)]
    assert "from airflow import DAG" in top_imports

    constants = _module_constants(tree)
    keywords = {kw.arg: kw.value for kw in _dag_call(tree).keywords}
    dag_id = keywords["dag_id"]
    assert (constants[dag_id.id] if isinstance(dag_id, ast.Name) else ast.literal_eval(dag_id)) == DAG_ID
    assert ast.literal_eval(keywords["schedule"]) == SCHEDULE
    assert ast.literal_eval(keywords["catchup"]) is False
    assert "schedule_interval" not in keywords, "removed in Airflow 3"

    operators = {
        node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert "BashOperator" in operators
    assert operators & {"ShortCircuitOperator", "BranchPythonOperator"} or "@task" in source
    assert "xcom_pull" in source and '"decision"' in source

    commands = retune_commands(DAG_FILE)
    assert any("--run-key {{ ds }}" in rest for rest in commands), commands
    assert_scheduled_retune(DAG_FILE)


AIRFLOW_PYTHON = os.environ.get("MLTUNE_AIRFLOW_PYTHON") or (
    sys.executable if importlib.util.find_spec("airflow") is not None else None)
"""An interpreter with Apache Airflow: Airflow lives in its own environment (CI makes one), not mltune's."""

DAGBAG_CHECK = """
import inspect, json, sys
from airflow.models import DagBag
kwargs = {"dag_folder": sys.argv[1]}
if "include_examples" in inspect.signature(DagBag).parameters:  # Airflow 2 and 3.0; gone in later 3.x
    kwargs["include_examples"] = False
bag = DagBag(**kwargs)
dag = bag.dags.get(sys.argv[2])
print(json.dumps({"errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags),
                  "catchup": getattr(dag, "catchup", None), "tasks": sorted(dag.task_ids) if dag else [],
                  "upstream": sorted(dag.get_task("champion_changed").upstream_task_ids) if dag else []}))
"""


@pytest.mark.skipif(AIRFLOW_PYTHON is None, reason="no Apache Airflow: set MLTUNE_AIRFLOW_PYTHON (CI does)")
def test_airflow_dag_loads_in_a_dagbag(tmp_path: Path) -> None:
    assert AIRFLOW_PYTHON is not None
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([AIRFLOW_PYTHON, "-c", DAGBAG_CHECK, str(DAG_FILE.parent), DAG_ID], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    assert DAG_ID in loaded["dags"]
    assert loaded["catchup"] is False
    assert {"retune", "champion_changed", "on_new_champion"} <= set(loaded["tasks"])
    assert loaded["upstream"] == ["retune"]
