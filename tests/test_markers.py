"""``pytest -m "not db"`` needs no database server: run it with DJ_HOST on a port where nothing listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import ROOT

INNER = "TECTUM_TEST_NOT_DB_INNER"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound once by us, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(INNER)), reason="this is the inner run")
@pytest.mark.skipif(
    os.environ.get("DJ_BACKEND") == "postgresql",
    reason="independent of the backend: `make test` runs it in the MySQL pass",
)
def test_not_db_runs_without_a_server(tmp_path):
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "TECTUM_"))}
    env.update(
        {
            INNER: "1",
            "DJ_HOST": "127.0.0.1",
            "DJ_PORT": str(port),
            "DJ_USER": "nobody",
            "DJ_PASS": "x",
            "PYTHONPATH": str(ROOT),
        }
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "not db",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "inner"),
            str(ROOT / "tests"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in summary and "deselected" in summary and "error" not in summary, summary
    with socket.socket() as s:  # still nothing there: the run could not have used a server
        assert s.connect_ex(("127.0.0.1", port)) != 0
