"""DataJoint schemas of the tectum pipeline.

Importing this package defines the tables and nothing else: no connection is
made, no schema or folder is created and DataJoint's settings are not
changed. :func:`activate` (as in DataJoint Elements) connects with DataJoint's
own settings, creates the object store's folder where it is local, and binds
the tables to the four schemas named with ``TECTUM_SCHEMA_PREFIX`` (default
``tectum_``): ``reference``, ``acquisition``, ``analysis`` and ``operations``
(the workers' heartbeats)::

    import schemas
    schemas.activate()                      # or activate(create_tables=False) to only read
    schemas.acquisition.Recording()
"""

from __future__ import annotations

import datajoint as dj

from . import acquisition, analysis, operations, reference  # noqa: F401  (defined in dependency order)
from .config import create_databases, ensure_store, schema_names, schema_prefix
from .ingest import IngestError, insert_recording
from .populate import populate_all

__all__ = [
    "activate",
    "is_active",
    "active_prefix",
    "acquisition",
    "analysis",
    "operations",
    "reference",
    "insert_recording",
    "IngestError",
    "populate_all",
    "schema_prefix",
    "SchemasMissing",
]

#: the schema modules, in the order they are activated
MODULES = (reference, acquisition, analysis, operations)

#: schemas a read-only user can do without: a database from before they existed still opens
#: (``operations`` is created by the next ``activate()`` with ``create_tables``, e.g. an admin's)
OPTIONAL_WHEN_READING = (operations,)

_active: dict = {}


class SchemasMissing(dj.DataJointError):
    """The project's schemas do not exist on the server and may not be created here."""


def activate(prefix: str | None = None, *, create_tables: bool = True, connection=None) -> str:
    """Connect and bind every table to its schema; return the prefix used.

    Parameters
    ----------
    prefix : str, optional
        Schema-name prefix; default :func:`schemas.config.schema_prefix`
        (``TECTUM_SCHEMA_PREFIX``, default ``tectum_``).
    create_tables : bool, default True
        Create missing schemas and tables (and fill the lookup tables). With
        False nothing is created: what a read-only user (viewer) needs; missing
        schemas raise :class:`SchemasMissing`.
    connection : datajoint.Connection, optional
        Default: DataJoint's connection from its own settings.

    Calling it again without a prefix or with the same prefix does nothing
    (so library functions may call ``activate()`` after a user activated
    another prefix, e.g. the demo's); another explicit prefix in the same
    process is an error (DataJoint binds each table class once).
    """
    if _active:
        if prefix is not None and _active["prefix"] != prefix:
            raise dj.DataJointError(
                f"the tectum schemas are already active with prefix {_active['prefix']!r}; "
                f"start a new Python process to use prefix {prefix!r}"
            )
        return _active["prefix"]
    prefix = schema_prefix() if prefix is None else prefix
    ensure_store(create=create_tables)
    conn = connection or dj.conn()
    names = schema_names(prefix)
    if create_tables:
        create_databases(conn, [names[m.__name__.rsplit(".", 1)[1]] for m in MODULES])
        missing = []
    else:
        missing = [m for m in MODULES if not _schema_exists(conn, names[m.__name__.rsplit(".", 1)[1]])]
        if any(m not in OPTIONAL_WHEN_READING for m in missing):
            missing = [names[m.__name__.rsplit(".", 1)[1]] for m in missing if m not in OPTIONAL_WHEN_READING]
            raise SchemasMissing(
                f"schema(s) {', '.join(missing)} do not exist on {conn.conn_info.get('host', 'the server')}: "
                "nothing has been ingested under this prefix yet (an analyst's `tectum ingest` creates them); "
                "check TECTUM_SCHEMA_PREFIX"
            )
    for module in MODULES:
        if not create_tables and module in missing:
            continue  # optional and absent: its tables stay unbound (see is_bound)
        module.schema.activate(
            names[module.__name__.rsplit(".", 1)[1]],
            connection=conn,
            create_schema=create_tables,
            create_tables=create_tables,
        )
    _active["prefix"] = prefix
    return prefix


def _schema_exists(conn, name: str) -> bool:
    return name in dj.list_schemas(connection=conn)


def is_bound(module) -> bool:
    """Whether ``module``'s schema (e.g. :mod:`schemas.operations`) is bound to the server."""
    return bool(_active) and module.schema.is_activated()


def is_active() -> bool:
    """Whether :func:`activate` has bound the tables in this process."""
    return bool(_active)


def active_prefix() -> str | None:
    """The prefix the tables are bound to, or None before :func:`activate`."""
    return _active.get("prefix")
