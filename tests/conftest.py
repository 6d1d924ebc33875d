"""Test configuration: a real database server, a private schema prefix per session.

The database is DataJoint's usual settings; when none are given the local
MariaDB (127.0.0.1:3306, root, empty password) is used. ``DJ_BACKEND=postgresql``
selects the local PostgreSQL instead. Every session declares its schemas under
a fresh prefix and drops them afterwards, so sessions never see each other.

Every test that uses the ``db`` fixture (directly or through ``clean_db`` or
another fixture) is marked ``db`` here, so ``pytest -m "not db"`` runs the
rest without a database server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_PREFIX = os.environ.get("TECTUM_TEST_PREFIX") or f"test_{uuid.uuid4().hex[:8]}_"
os.environ["TECTUM_SCHEMA_PREFIX"] = _PREFIX
os.environ.setdefault("DJ_HOST", "127.0.0.1")
os.environ.setdefault("DJ_USER", "root")
os.environ.setdefault("DJ_PASS", "")
os.environ.setdefault("DJ_LOG_LEVEL", "WARNING")


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs the database server (it uses the ``db`` fixture) with ``db``."""
    for item in items:
        if "db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tectum_store")
    os.environ["TECTUM_STORE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def db(store_dir):
    """The imported ``schemas`` package, declared under this session's prefix."""
    import warnings

    warnings.filterwarnings("ignore", message=".*MariaDB is not officially supported.*")
    import schemas

    schemas.activate()
    yield schemas
    for module in (schemas.operations, schemas.analysis, schemas.acquisition, schemas.reference):
        module.schema.drop(prompt=False)


@pytest.fixture
def clean_db(db):
    """The database with no fish (hence no recordings or results) left over."""
    db.acquisition.Fish.delete(prompt=False)
    yield db
    db.acquisition.Fish.delete(prompt=False)


def cli_env(**extra) -> dict:
    """Environment of a ``python -m tectum.cli`` subprocess: this session's settings, this checkout first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def drop_schemas(prefix: str) -> None:
    """Drop the project's schemas named with ``prefix`` (downstream first: foreign keys point upstream)."""
    import datajoint as dj

    from schemas.config import SCHEMA_SUFFIXES

    conn = dj.conn()
    existing = set(dj.list_schemas(connection=conn))
    q = conn.adapter.quote_identifier
    for suffix in reversed(SCHEMA_SUFFIXES):
        name = prefix + suffix
        if name in existing:
            drop = "DROP DATABASE {}" if conn.adapter.backend == "mysql" else "DROP SCHEMA {} CASCADE"
            conn.query(drop.format(q(name)))


@dataclass
class Demo:
    prefix: str  # schema-name prefix of the demo's tables
    cwd: Path  # the demo ran here, writing demo_out/
    stdout: str


@pytest.fixture(scope="session")
def demo(db, tmp_path_factory):
    """``tectum demo`` run once, as a user would, under the prefix ``<session prefix>demo_``; dropped at the end."""
    cwd = tmp_path_factory.mktemp("demo_cwd")
    prefix = f"{_PREFIX}demo_"
    argv = [sys.executable, "-m", "tectum.cli", "-q", "demo", "--prefix", prefix, "--recordings", "2", "--rois", "60"]
    try:
        proc = subprocess.run(argv, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield Demo(prefix=prefix, cwd=cwd, stdout=proc.stdout)
    finally:
        drop_schemas(prefix)
