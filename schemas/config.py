"""Schema names, activation and the object store: the project's own settings.

Connection settings are DataJoint's own (``DJ_HOST``, ``DJ_USER``, ``DJ_PASS``,
``DJ_PORT``, ``DJ_BACKEND``, ``datajoint.json``). This module adds only what the
project itself decides, and importing it has no side effects:

* ``TECTUM_SCHEMA_PREFIX`` (default ``tectum_``): every schema name starts with
  it, so tests and several analyses can share one server. It is read here and
  nowhere else (:func:`schema_prefix`).
* the object store named ``tectum`` that holds the large arrays (ROI traces,
  ΔF/F matrices). A lab configures it in ``datajoint.json`` (a shared file
  system path or an S3/MinIO bucket); when it is not configured, a local file
  store under ``TECTUM_STORE_DIR`` (default ``~/.local/share/tectum/store``) is
  used so a single machine works out of the box.
* on MySQL/MariaDB the schemas are created with a binary collation
  (``utf8mb4_bin``), so names that differ only by case or accent (``F1`` and
  ``f1``, ``Müller`` and ``Muller``) are different recordings, as they are on
  PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

import datajoint as dj

#: name of the DataJoint store that holds trace matrices (``<npy@tectum>``)
STORE = "tectum"

#: rows per INSERT statement for per-ROI part tables; keeps every statement far
#: below MariaDB's default 16 MB ``max_allowed_packet``
INSERT_CHUNK_ROWS = 5000

#: bytes per such INSERT statement at most (on MySQL/MariaDB also at most half
#: the server's ``max_allowed_packet``), whatever the length of the rows
INSERT_CHUNK_BYTES = 4 * 1024 * 1024

#: the project's schemas, in dependency order (full name = prefix + suffix)
SCHEMA_SUFFIXES = ("reference", "acquisition", "analysis", "operations")

#: collation of the project's schemas on MySQL/MariaDB: exact, case- and accent-sensitive names
MYSQL_COLLATION = "utf8mb4_bin"


def schema_prefix() -> str:
    """Return the schema-name prefix (``TECTUM_SCHEMA_PREFIX``, default ``tectum_``)."""
    return os.environ.get("TECTUM_SCHEMA_PREFIX", "tectum_")


def schema_names(prefix: str | None = None) -> dict[str, str]:
    """``{"reference": "<prefix>reference", ...}`` for every schema of the project."""
    prefix = schema_prefix() if prefix is None else prefix
    return {suffix: prefix + suffix for suffix in SCHEMA_SUFFIXES}


def default_store_dir() -> Path:
    """Local directory used for the ``tectum`` store when none is configured."""
    env = os.environ.get("TECTUM_STORE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "tectum" / "store"


def ensure_store(*, create: bool = True) -> dict:
    """Make sure the ``tectum`` object store is configured; return its spec.

    A store configured in ``datajoint.json`` or ``DJ_STORES`` is left alone.
    Otherwise (or when ``TECTUM_STORE_DIR`` is set explicitly) a file store in
    :func:`default_store_dir` is configured, and created when ``create``.
    """
    stores = dj.config.stores
    if STORE not in stores or os.environ.get("TECTUM_STORE_DIR"):
        stores[STORE] = {"protocol": "file", "location": str(default_store_dir())}
    spec = stores[STORE]
    if create and spec.get("protocol") == "file":
        Path(spec["location"]).mkdir(parents=True, exist_ok=True)
    return spec


def create_databases(connection, names) -> None:
    """Create missing MySQL/MariaDB schemas with :data:`MYSQL_COLLATION` (no-op on PostgreSQL)."""
    if connection.adapter.backend != "mysql":
        return
    quote = connection.adapter.quote_identifier
    existing = {row[0] for row in connection.query(connection.adapter.list_schemas_sql())}
    for name in names:
        if name in existing:
            continue  # MySQL checks the CREATE privilege even with IF NOT EXISTS: users without it get here
        try:
            connection.query(
                f"CREATE DATABASE IF NOT EXISTS {quote(name)} CHARACTER SET utf8mb4 COLLATE {MYSQL_COLLATION}"
            )
        except dj.errors.AccessError as err:
            # a schema the user holds no privilege on is invisible to it: say so as DataJoint does
            raise dj.DataJointError(
                f"Schema `{name}` does not exist and could not be created. Check permissions."
            ) from err
