"""Settings that decide where jobs run."""

from __future__ import annotations

import pytest

from b24app.config import ConfigError, load_settings

REQUIRED = {
    "B24_CLIENT_ID": "local.x",
    "B24_CLIENT_SECRET": "s",
    "B24_APP_URL": "https://app.example.com",
    "SECRET_KEY": "k",
}


@pytest.mark.parametrize(
    ("env", "embedded"),
    [
        ({}, True),  # one gunicorn is a complete install
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, False),  # the worker: line runs the jobs
        ({"REDIS_URL": "redis://127.0.0.1:6379/0", "B24_EMBEDDED_WORKER": "1"}, True),
        ({"B24_EMBEDDED_WORKER": "0"}, False),
        ({"B24_NO_WORKER": "1"}, False),  # the earlier name
        ({"B24_NO_WORKER": "1", "B24_EMBEDDED_WORKER": "1"}, True),  # the explicit one wins
    ],
)
def test_where_jobs_run(env: dict[str, str], embedded: bool) -> None:
    settings = load_settings({**REQUIRED, **env})
    assert settings.embedded_worker is embedded


@pytest.mark.parametrize(
    "env",
    [
        {"B24_JOB_STALE_AFTER": "0"},
        {"B24_QUEUE_POLL": "-1"},
        {"B24_WORKER_THREADS": "0"},
        {"B24_WORKER_THREADS": "two"},
    ],
)
def test_a_malformed_worker_setting_stops_the_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings({**REQUIRED, **env})
