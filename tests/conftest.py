"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import databases
from tests.helpers import Stack, build_stack


def pytest_report_header() -> str:
    """Say which database this run uses."""
    return databases.describe()


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """On PostgreSQL, drop the schemas a test created (and end its leftover connections)."""
    yield
    if databases.ON_POSTGRES:
        databases.drop_created()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The emulator (seeded, limits off) and the app, not yet installed."""
    running = build_stack(tmp_path)
    yield running
    running.close()


@pytest.fixture
def installed(stack: Stack) -> Stack:
    """The same, with the app installed by the portal's admin through the wizard."""
    response = stack.install(1)
    assert response.status_code == 200, response.text
    return stack
