"""Nightly ``mltune retune`` under Airflow (2.4+ and 3.x).

Copy this file into the DAGs folder. The workers need:

- the project checked out at ``MLTUNE_HOME`` (default ``/opt/mltune``) with a virtual environment in ``.venv``
  (``python3 -m venv .venv && .venv/bin/pip install -e . psycopg2-binary``);
- ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` if the server asks) and
  ``MLTUNE_STORAGE_URL`` (``postgresql://USER:PASSWORD@HOST:5432/optuna``) in their environment, e.g. from a
  Kubernetes Secret or the worker's service file. The shell expands them at run time, so the password never
  appears in the DAG, its rendered templates or the task log.

The run key is the run's logical date (``{{ ds }}``): a retried task, or a cleared and rerun DAG run, reports the
result of the first attempt instead of tuning again. Exit codes other than 0 fail the task (2 configuration,
3 no trial completed, 4 MLflow, 5 promotion lock, 1 unexpected); Airflow retries it.

``retune`` pushes its JSON result to XCom; ``champion_changed`` reads the decision and lets ``on_new_champion``
run only when a new model became champion (decision "promoted" or "first champion").
"""

from __future__ import annotations

import json
from datetime import timedelta

import pendulum
from airflow import DAG

try:  # Airflow 3 (and Airflow 2 with apache-airflow-providers-standard)
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import ShortCircuitOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import ShortCircuitOperator

DAG_ID = "mltune_retune"
NEW_CHAMPION = ("promoted", "first champion")

# XCom keeps the last line of stdout, so the result is printed again on one line. When mltune fails, its output goes
# to the log and the task fails with mltune's own exit code.
RETUNE_COMMAND = """\
set -euo pipefail
cd "${MLTUNE_HOME:-/opt/mltune}"
result="$(.venv/bin/mltune retune {{ params.recipe }} --storage "$MLTUNE_STORAGE_URL" \
--output json --run-key {{ ds }})" || { status=$?; echo "$result"; exit "$status"; }
.venv/bin/python -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$result"
"""


def _champion_changed(ti, **_) -> bool:
    """Read the retune result from XCom; True (run downstream) only when the champion changed."""
    result = json.loads(ti.xcom_pull(task_ids="retune"))
    print(
        f"decision={result.get('decision')} model={result.get('model_name')} "
        f"champion {result.get('champion_before')} -> {result.get('champion_after')} "
        f"repeated={result.get('repeated')} reason={result.get('reason')}"
    )
    return result.get("decision") in NEW_CHAMPION


with DAG(
    dag_id=DAG_ID,
    description="Nightly Optuna retune of a Keras model; promote the challenger if it beats the champion",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"recipe": "recipes/digits_mlp.yaml"},
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["mltune", "mlflow", "optuna"],
) as dag:
    retune = BashOperator(
        task_id="retune",
        bash_command=RETUNE_COMMAND,
        do_xcom_push=True,
        execution_timeout=timedelta(hours=3),
    )

    champion_changed = ShortCircuitOperator(
        task_id="champion_changed",
        python_callable=_champion_changed,
    )

    # Replace with what a new champion should trigger: reload a serving deployment, notify a channel, ...
    # The result reaches the shell as an environment variable, never spliced into the command line.
    on_new_champion = BashOperator(
        task_id="on_new_champion",
        bash_command='echo "new champion: $RETUNE_RESULT"',
        env={"RETUNE_RESULT": "{{ ti.xcom_pull(task_ids='retune') }}"},
        append_env=True,
    )

    retune >> champion_changed >> on_new_champion
