"""Secrets in URLs: whatever wrote the text, mltune prints no password."""

from __future__ import annotations

import pytest

from mltune.config.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://ada:p%40ss@db:5432/optuna", "postgresql://ada:***@db:5432/optuna"),
        ("postgresql://ada:p@ss@db/optuna", "postgresql://ada:***@db/optuna"),
        ("postgresql+psycopg://ada:p@ss@w@rd@db:5432/x", "postgresql+psycopg://ada:***@db:5432/x"),
        ("mysql://ada:a/b@db/optuna", "mysql://ada:***@db/optuna"),
        ("no such run in 'http://u:PASSWORD@127.0.0.1:1', but got 'x'",
         "no such run in 'http://u:***@127.0.0.1:1', but got 'x'"),
        ("API request to http://user:PASSWORD@127.0.0.1:1/api/2.0/mlflow/runs/get failed",
         "API request to http://user:***@127.0.0.1:1/api/2.0/mlflow/runs/get failed"),
        ("postgresql://db/optuna?password=s3cret", "postgresql://db/optuna?password=***"),
        ("postgresql://ada@db/optuna?sslmode=require&password=s3cret&x=1",
         "postgresql://ada@db/optuna?sslmode=require&password=***&x=1"),
        ("https://host/api?token=abc123", "https://host/api?token=***"),
        ("https://host/api?access_token=abc&client_secret=xyz", "https://host/api?access_token=***&client_secret=***"),
        ("https://host/x?api_key=k1&sslpassword=k2&X-Amz-Signature=k3",
         "https://host/x?api_key=***&sslpassword=***&X-Amz-Signature=***"),
        ("two: http://a:one@h1/x and mysql://b:two@h2/y", "two: http://a:***@h1/x and mysql://b:***@h2/y"),
    ],
)
def test_redact_hides_every_secret_in_a_url(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    ["journal:optuna-journal.log", "sqlite:///mlflow.db", "http://127.0.0.1:5000/#/experiments/1/runs",
     "postgresql://ada@db/optuna?sslmode=require", "models:/digits-mlp@champion", "https://host/?page=2&sort=name"],
)
def test_redact_leaves_text_without_secrets_alone(text: str) -> None:
    assert redact(text) == text
