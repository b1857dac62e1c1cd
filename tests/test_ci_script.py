""".ci/run installs what a fresh machine lacks (Python 3.11+ with venv among it), then tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _run(tmp_path: Path, *, python_ok: bool, ensurepip_ok: bool) -> tuple[int, str, str]:
    """Run .ci/run with the system's commands stubbed; (status, apt-get asks, make asks)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    _stub(
        bin_dir,
        "python3",
        'case "$*" in\n'
        f"  *version_info*) exit {0 if python_ok else 1} ;;\n"
        f"  *ensurepip*) exit {0 if ensurepip_ok else 1} ;;\n"
        "  *socket*) echo 6390 ;;\n"
        "esac\nexit 0",
    )
    # The servers the suite runs against are started, not installed, here: answer "up".
    for server in ("redis-server", "redis-cli"):
        _stub(bin_dir, server, f'echo "{server} $*" >> {log}')
    _stub(bin_dir, "postgres-ci", 'echo "postgresql://ci@127.0.0.1:5999/ci"')
    _stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}')
    _stub(bin_dir, "make", f'echo "make $*" >> {log}')
    _stub(bin_dir, "id", "echo 0")
    for present in ("chromium", "npm"):
        _stub(bin_dir, present, "exit 0")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "B24_CI_POSTGRES": str(bin_dir / "postgres-ci"),
    }
    done = subprocess.run(
        ["bash", str(ROOT / ".ci/run")], env=env, capture_output=True, text=True, timeout=30
    )
    lines = log.read_text().splitlines() if log.exists() else []
    apt = " | ".join(line for line in lines if line.startswith("apt-get install"))
    make = " | ".join(line for line in lines if line.startswith("make"))
    return done.returncode, apt, make


@pytest.mark.parametrize(
    ("python_ok", "ensurepip_ok", "installs"),
    [
        (False, False, "python3 python3-venv"),
        (True, False, "python3-venv"),
        (True, True, ""),
    ],
)
def test_ci_installs_python_and_venv_when_missing(
    tmp_path: Path, python_ok: bool, ensurepip_ok: bool, installs: str
) -> None:
    status, apt, make = _run(tmp_path, python_ok=python_ok, ensurepip_ok=ensurepip_ok)
    if installs:
        assert apt == f"apt-get install -y -qq {installs}"
    else:
        assert apt == ""
    if python_ok:
        assert (status, make) == (0, "make test")
    else:
        # the stub still answers "too old" after the install: the script says so and stops
        assert status == 1 and make == ""
