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
import uuid

import pytest

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
    for module in (schemas.analysis, schemas.acquisition, schemas.reference):
        module.schema.drop(prompt=False)


@pytest.fixture
def clean_db(db):
    """The database with no fish (hence no recordings or results) left over."""
    db.acquisition.Fish.delete(prompt=False)
    yield db
    db.acquisition.Fish.delete(prompt=False)
