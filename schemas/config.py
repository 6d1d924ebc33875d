"""Connection, schema-name and object-store settings shared by every schema module.

Connection settings are DataJoint's own (``DJ_HOST``, ``DJ_USER``, ``DJ_PASS``,
``DJ_PORT``, ``DJ_BACKEND``, ``datajoint.json``). This module adds only what the
project itself decides:

* ``TECTUM_SCHEMA_PREFIX`` (default ``tectum_``): every schema name starts with
  it, so tests and several analyses can share one server.
* the object store named ``tectum`` that holds the large arrays (ROI traces,
  ΔF/F matrices). A lab configures it in ``datajoint.json`` (a shared file
  system path or an S3/MinIO bucket); when it is not configured, a local file
  store under ``TECTUM_STORE_DIR`` (default ``~/.local/share/tectum/store``) is
  used so a single machine works out of the box.
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


def schema_prefix() -> str:
    """Return the schema-name prefix (``TECTUM_SCHEMA_PREFIX``, default ``tectum_``)."""
    return os.environ.get("TECTUM_SCHEMA_PREFIX", "tectum_")


def default_store_dir() -> Path:
    """Local directory used for the ``tectum`` store when none is configured."""
    env = os.environ.get("TECTUM_STORE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "tectum" / "store"


def ensure_store() -> dict:
    """Make sure the ``tectum`` object store is configured; return its spec.

    A store configured in ``datajoint.json`` or ``DJ_STORES`` is left alone.
    Otherwise (or when ``TECTUM_STORE_DIR`` is set explicitly) a file store in
    :func:`default_store_dir` is created.
    """
    stores = dj.config.stores
    if STORE not in stores or os.environ.get("TECTUM_STORE_DIR"):
        location = default_store_dir()
        location.mkdir(parents=True, exist_ok=True)
        stores[STORE] = {"protocol": "file", "location": str(location)}
    spec = stores[STORE]
    if spec.get("protocol") == "file":
        Path(spec["location"]).mkdir(parents=True, exist_ok=True)
    return spec
