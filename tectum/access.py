"""One line for a database refusal that comes from the user's lab role (see :mod:`tectum.roles`).

The command line's error handler calls :func:`explain_refusal`; an error it
does not recognise is reported as before. :func:`require_write_access` lets
a command that writes only after long computations (``populate``) be
refused before it starts.
"""

from __future__ import annotations

import re

__all__ = ["READ_ONLY", "explain_refusal", "require_write_access"]

READ_ONLY = (
    "read-only role: use tectum status, tectum export or tectum report; tectum ingest and "
    "tectum populate need the analyst role (an admin runs: tectum db add-user NAME --role analyst)"
)
MISSING = (
    "{what} is missing and only the database administrator may create it: the administrator runs "
    "tectum db create-roles, which declares the project's schemas, tables and the job table ~~name "
    "of every computed table; then run this command again"
)
NO_SCHEMA = (
    "schema {schema} is not there for this database user: either the user has no lab role (an admin "
    "runs: tectum db add-user NAME --role viewer or analyst) or the schema was never declared (the "
    "database administrator runs tectum db create-roles)"
)
NO_READ = (
    "this database user may not read the project's tables: an admin gives it a role "
    "(tectum db add-user NAME --role viewer or analyst)"
)
OWNER_ONLY = "only the admin role may drop, alter or index the project's tables"
NO_KEYS = (
    "DataJoint cannot see the primary key of {table}: on PostgreSQL a role holding only SELECT on a "
    "table does not see its constraints; the database administrator re-runs tectum db create-roles "
    "(it grants the viewer role REFERENCES for this)"
)
DB_ADMIN = "tectum db must be run by the database administrator (MySQL/MariaDB root, the PostgreSQL superuser)"

# MySQL/MariaDB 1142/1143: "INSERT command denied to user 'u'@'h' for table `db`.`t`"
_MYSQL_COMMAND = re.compile(r"\b([A-Z]+(?: [A-Z]+)*) command denied to user ")
# MySQL/MariaDB 1044, e.g. CREATE DATABASE
_MYSQL_DATABASE = re.compile(r"Access denied for user \S+ to database ")
# DataJoint, when a schema is not there and cannot be created; a schema on which the user holds no
# privilege is invisible to it, so this is also what a user without a lab role meets first
_DJ_SCHEMA = re.compile(r"Schema `([^`]*)` does not exist and could not be created")
# PostgreSQL 42501 (insufficient_privilege)
_PG_DENIED = re.compile(r"permission denied for (table|relation|view|sequence|schema|database) ")
_PG_OWNER = re.compile(r"must be owner of ")
# what only the server's administrator may do: MySQL/MariaDB 1227, PostgreSQL roles
_ADMINISTRATION = re.compile(
    r"Access denied; you need|permission denied to (create|alter|drop|grant|set)"
    r"|must be member of role "
)
# the table that could not be created: MySQL's message names it, PostgreSQL's statement does
_CREATED = re.compile(r"(?:CREATE command denied to user \S+ for table|CREATE TABLE (?:IF NOT EXISTS )?)\s*(\S+)")
# a role that may only SELECT a PostgreSQL table sees no primary key: DataJoint then writes count(DISTINCT )
_NO_KEY = re.compile(r"count\(DISTINCT \)\s*FROM\s+(\S+)")


def explain_refusal(err: BaseException, command: str | None = None) -> str | None:
    """A one-line explanation of ``err`` if the database refused it for the user's role, else None.

    Parameters
    ----------
    err : BaseException
        What a ``tectum`` command raised.
    command : str, optional
        The ``tectum`` subcommand (``"populate"``, ``"db"``, ...).

    Returns
    -------
    str or None
        The explanation, followed by the server's own words in brackets.
    """
    chain = list(_chain(err))
    statements = " ".join(_statement(e) for e in chain)
    for e in chain:
        text = _text(e)
        found = _classify(text, command, statements)
        if found:
            return f"{found} [server: {text}]"
    return None


def _chain(err: BaseException):
    """``err`` and the errors it was raised from."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _text(err: BaseException) -> str:
    parts = dict.fromkeys(str(a) for a in err.args if a) or [str(err)]  # DataJoint repeats MySQL's message
    return " ".join(" ".join(parts).split())


def _statement(err: BaseException) -> str:
    """The statement a psycopg2 error came from (PostgreSQL's message quotes it cut short)."""
    query = getattr(getattr(err, "cursor", None), "query", None)
    return query.decode("utf-8", "replace") if isinstance(query, bytes) else str(query or "")


def _classify(text: str, command: str | None, statements: str) -> str | None:
    if _NO_KEY.search(text):
        return NO_KEYS.format(table=(_NO_KEY.search(statements) or _NO_KEY.search(text)).group(1))
    mysql, pg, schema = _MYSQL_COMMAND.search(text), _PG_DENIED.search(text), _DJ_SCHEMA.search(text)
    if not (
        mysql or pg or schema or _MYSQL_DATABASE.search(text) or _PG_OWNER.search(text) or _ADMINISTRATION.search(text)
    ):
        return None
    if command == "db" or _ADMINISTRATION.search(text):
        return DB_ADMIN
    if schema:
        return NO_SCHEMA.format(schema=schema.group(1))
    if mysql:
        verb = mysql.group(1)
        if verb in ("INSERT", "UPDATE", "DELETE"):
            return READ_ONLY
        if verb == "SELECT":
            return NO_READ
        if verb.startswith("CREATE"):
            return _missing(text, statements)
        return OWNER_ONLY  # DROP, ALTER, INDEX, ...
    if pg:
        # PostgreSQL does not say which privilege was missing. A lab role reads every table of the
        # project and uses every schema of it: refused on a table it was writing, in a schema creating.
        return READ_ONLY if pg.group(1) in ("table", "relation", "view", "sequence") else _missing(text, statements)
    if _PG_OWNER.search(text):
        return OWNER_ONLY
    return _missing(text, statements)  # MySQL: a schema that could not be created


def _missing(text: str, statements: str) -> str:
    created = _CREATED.search(statements) or _CREATED.search(text)
    return MISSING.format(what=f"table {created.group(1)}" if created else "a table or schema")


def require_write_access(tables) -> None:
    """Raise the server's refusal unless the connected user may insert rows into every table.

    ``EXPLAIN INSERT`` is checked for privileges like the insert itself, on
    MySQL/MariaDB and PostgreSQL alike, but writes nothing.

    Parameters
    ----------
    tables : iterable of DataJoint table classes or instances

    Raises
    ------
    datajoint.errors.AccessError
        For the first table the user may not write, e.g. as a viewer.
    """
    for table in tables:
        table = table() if isinstance(table, type) else table
        name = table.full_table_name
        table.connection.query(f"EXPLAIN INSERT INTO {name} SELECT * FROM {name} WHERE 1 = 0")
