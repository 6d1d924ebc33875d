"""``tectum db``: lab roles (admin, analyst, viewer) on a shared database server.

Three roles cover the project's schemas, i.e. every schema whose name starts
with ``TECTUM_SCHEMA_PREFIX`` (default ``tectum_``):

``<prefix>admin``
    everything on the project's schemas, with the right to grant it on.
``<prefix>analyst``
    read and write rows (SELECT, INSERT, UPDATE, DELETE); never CREATE,
    DROP, ALTER or INDEX.
``<prefix>viewer``
    SELECT only (on PostgreSQL also REFERENCES, see below).

Analysts create nothing, so everything DataJoint creates must exist before
they start: ``create-roles`` declares the project's schemas and tables and
the job table (``~~name``, which DataJoint otherwise creates on first use of
``.jobs``) of every computed table, as the connected administrator.

Subcommands: ``create-roles`` (idempotent: re-running resets the roles to
this definition), ``add-user NAME --role ROLE [--password-env VAR]``,
``show``, ``drop-user NAME --yes`` and ``drop-roles --yes``. Every statement
runs on DataJoint's own connection (``dj.conn().query``), so the server and
the administrator's credentials are DataJoint's settings.

MySQL / MariaDB
    ``CREATE ROLE``; privileges on the schema wildcard ``<prefix>%`` with
    ``_`` and ``%`` of the prefix escaped (``tectum\\_%``: an unescaped ``_``
    would match any character); ``GRANT role TO user`` and the default role
    (``SET DEFAULT ROLE r FOR user`` on MariaDB, ``... TO user`` on MySQL 8;
    the flavour comes from ``SELECT VERSION()``). The wildcard grant covers
    schemas created later too. The privilege system cannot express "rows
    only, but create job tables": CREATE on the wildcard also allows
    ``CREATE DATABASE <prefix>x`` and INDEX also ``DROP INDEX``, hence the
    pre-created job tables.
PostgreSQL
    The schemas live in one database, privileges on objects that do not
    exist yet cannot be granted, and only an object's owner may DROP, ALTER
    or index it. So: ``NOLOGIN`` roles; the project's schemas and everything
    in them (tables, job tables, ``~lineage``, enum types) are handed to
    ``<prefix>admin``; the other roles get ``USAGE`` on those schemas and
    table privileges there, and per-schema ``ALTER DEFAULT PRIVILEGES``
    cover tables created there later. Nothing is granted database-wide: no
    role may create schemas (``CREATE`` on the database would allow any
    name, also outside the prefix), so the superuser's ``create-roles``
    declares them. A user's default role is set with ``ALTER ROLE user SET
    role``, so what an admin creates belongs to the admin role, not to the
    person. Viewers get ``REFERENCES`` too: DataJoint reads primary keys
    from ``information_schema.table_constraints``, which PostgreSQL shows
    only to roles holding a privilege other than SELECT.

Passwords are never taken from the command line: ``--password-env VAR`` or
a prompt. When they are ASCII they are hashed on the client (SCRAM-SHA-256
for PostgreSQL, ``mysql_native_password`` for MariaDB), so the plain text
never reaches the server's logs.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import re
import warnings
from dataclasses import dataclass

ROLES = ("admin", "analyst", "viewer")

#: MySQL/MariaDB privileges of each role on ``<prefix>%``.* -- analysts get rows only: CREATE would
#: also allow ``CREATE DATABASE <prefix>x`` and INDEX also ``DROP INDEX`` (a primary key too)
MYSQL_PRIVILEGES = {
    "admin": "ALL PRIVILEGES",
    "analyst": "SELECT, INSERT, UPDATE, DELETE",
    "viewer": "SELECT",
}
#: PostgreSQL table privileges of the non-owner roles. REFERENCES lets viewers see the constraints in
#: information_schema, where DataJoint reads primary keys; it cannot be used to create a foreign key
#: without a table of one's own (viewers may create none; temporary tables may not reference others)
PG_TABLE_PRIVILEGES = {"analyst": "SELECT, INSERT, UPDATE, DELETE", "viewer": "SELECT, REFERENCES"}

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_HOST = re.compile(r"^[A-Za-z0-9_.%:-]{1,255}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_]{1,24}$")

__all__ = [
    "ROLES",
    "DbError",
    "Server",
    "add_db_arguments",
    "add_user",
    "create_roles",
    "drop_roles",
    "drop_user",
    "role_names",
    "run_db_command",
    "schema_pattern",
    "show",
]


class DbError(ValueError):
    """A ``tectum db`` request that cannot be carried out; the message says why."""


# ---------------------------------------------------------------------------
# names


def project_prefix(prefix: str | None = None) -> str:
    """The schema prefix (default :func:`schemas.config.schema_prefix`), checked for use in role names."""
    if prefix is None:
        from schemas.config import schema_prefix

        prefix = schema_prefix()
    if not _PREFIX.match(prefix):
        raise DbError(f"schema prefix {prefix!r} (TECTUM_SCHEMA_PREFIX) must be 1-24 letters, digits or underscores")
    return prefix


def role_names(prefix: str | None = None) -> dict[str, str]:
    """``{"admin": "<prefix>admin", ...}``."""
    prefix = project_prefix(prefix)
    return {kind: f"{prefix}{kind}" for kind in ROLES}


def schema_pattern(prefix: str) -> str:
    r"""The LIKE / GRANT wildcard of the project's schemas: ``tectum_`` -> ``tectum\_%``."""
    return re.sub(r"([\\_%])", r"\\\1", prefix) + "%"


def _check_user(name: str) -> str:
    if not _NAME.match(name or ""):
        raise DbError(f"user name {name!r}: use 1-32 letters, digits, '_', '.' or '-' (not starting with '.' or '-')")
    return name


def _check_host(host: str) -> str:
    if not _HOST.match(host or ""):
        raise DbError(f"host {host!r}: use a host name, an IP address or a pattern with %")
    return host


# ---------------------------------------------------------------------------
# password hashing on the client


def mysql_native_hash(password: str) -> str:
    """``mysql_native_password`` hash, as ``PASSWORD()`` computes it: ``*`` + hex SHA1(SHA1(pw))."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode("utf-8")).digest()).hexdigest().upper()


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802 / 7677).

    ``CREATE ROLE ... PASSWORD '<verifier>'`` sets the password without it
    ever reaching the server in plain text. Valid for ASCII passwords (for
    others PostgreSQL first applies SASLprep).
    """
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _hashable(password: str) -> bool:
    return password.isascii() and password.isprintable()


# ---------------------------------------------------------------------------
# the server


def _quiet() -> None:
    """No DataJoint warnings about the setup in the middle of the statements' log."""
    warnings.filterwarnings("ignore", message=".*MariaDB is not officially supported.*")
    warnings.filterwarnings("ignore", message=".*No datajoint.json found.*")


@dataclass
class Server:
    """A connection and what it talks to."""

    conn: object
    flavour: str  # "mariadb", "mysql" or "postgresql"
    version: str
    prefix: str

    @classmethod
    def connect(cls, conn=None, prefix: str | None = None) -> Server:
        if conn is None:
            import datajoint as dj

            _quiet()
            conn = dj.conn()
        version = str(conn.query("SELECT VERSION()").fetchone()[0])
        if conn.adapter.backend == "postgresql":
            flavour = "postgresql"
        else:
            flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
        return cls(conn, flavour, version, project_prefix(prefix))

    @property
    def postgres(self) -> bool:
        return self.flavour == "postgresql"

    @property
    def roles(self) -> dict[str, str]:
        return role_names(self.prefix)

    def q(self, name: str) -> str:
        """Quote an identifier."""
        if self.postgres:
            return '"' + name.replace('"', '""') + '"'
        return "`" + name.replace("`", "``") + "`"

    def run(self, sql: str, args=(), *, log: list | None = None, shown: str | None = None):
        if log is not None:
            log.append(shown or sql)
        # both drivers %-format the statement even without arguments: a literal % is written %%
        return self.conn.query(sql if args else sql.replace("%", "%%"), args)

    def rows(self, sql: str, args=()) -> list[tuple]:
        return list(self.run(sql, args).fetchall())

    @staticmethod
    def account(user: str, host: str) -> str:
        """An account as shown in messages; statements pass it as arguments: ``%s@%s``."""
        return f"'{user}'@'{host}'"

    # -- PostgreSQL helpers

    def pg_role_exists(self, name: str) -> bool:
        return bool(self.rows("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)))

    def pg_schemas(self) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY nspname",
                (schema_pattern(self.prefix),),
            )
        ]

    def pg_database(self) -> str:
        return self.rows("SELECT current_database()")[0][0]

    # -- MySQL helpers

    def mysql_role_exists(self, name: str) -> bool:
        if self.flavour == "mariadb":
            return bool(self.rows("SELECT 1 FROM mysql.user WHERE User = %s AND is_role = 'Y'", (name,)))
        return bool(self.rows("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (name,)))

    def mysql_schemas(self) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s ORDER BY 1",
                (schema_pattern(self.prefix),),
            )
        ]


# ---------------------------------------------------------------------------
# create-roles


def create_roles(conn=None, prefix: str | None = None, *, computed=()) -> list[str]:
    """Create (or reset) the three roles; return the statements run.

    Idempotent: an existing role is kept and its privileges are set again.

    Parameters
    ----------
    conn : datajoint connection, optional
        Default: ``dj.conn()``.
    prefix : str, optional
        Default: :func:`project_prefix`.
    computed : sequence of DataJoint Computed/Imported table classes
        Tables whose job tables (``~~name``) are created here, by the
        connected administrator, so that analysts need no CREATE privilege
        (``tectum db create-roles`` passes ``schemas.analysis.COMPUTED_TABLES``).
        Each must live in a schema of the project.
    """
    server = Server.connect(conn, prefix)
    tables = [table() if isinstance(table, type) else table for table in computed]
    outside = [t.full_table_name for t in tables if not t.database.startswith(server.prefix)]
    if outside:  # checked before any change
        raise DbError(
            f"computed table(s) {', '.join(outside)} not in a schema named {server.prefix}*: "
            "their job tables would not be covered by the roles"
        )
    log: list[str] = []
    _create_job_tables(tables, log)
    if server.postgres:
        _pg_create_roles(server, log)
    else:
        _mysql_create_roles(server, log)
    return log


def _create_job_tables(tables, log: list) -> None:
    """Declare DataJoint's job table of each table, as DataJoint would on first use of ``.jobs``."""
    from datajoint.jobs import Job

    for table in tables:
        job = Job(table)
        if job.is_declared:
            log.append(f"-- job table {job.full_table_name} exists")
        else:
            job.declare()
            log.append(f"-- created job table {job.full_table_name}")


def _mysql_create_roles(server: Server, log: list) -> None:
    on = f"{server.q(schema_pattern(server.prefix))}.*"
    for kind, role in server.roles.items():
        if server.mysql_role_exists(role):
            # start from nothing, so re-running resets a role to this definition
            server.run(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {server.q(role)}", log=log)
        else:
            server.run(f"CREATE ROLE {server.q(role)}", log=log)
        grant_option = " WITH GRANT OPTION" if kind == "admin" else ""
        server.run(f"GRANT {MYSQL_PRIVILEGES[kind]} ON {on} TO {server.q(role)}{grant_option}", log=log)
    if server.flavour == "mysql":
        partial = server.rows("SELECT @@GLOBAL.partial_revokes")
        if partial and str(partial[0][0]) in ("1", "ON"):
            log.append(
                "-- warning: partial_revokes is ON: MySQL reads the schema wildcard literally; "
                "grant per schema instead (see docs/security.md)"
            )


def _pg_create_roles(server: Server, log: list) -> None:
    roles = server.roles
    admin, analyst, viewer = (server.q(roles[k]) for k in ROLES)
    for kind in ROLES:
        if not server.pg_role_exists(roles[kind]):
            server.run(f"CREATE ROLE {server.q(roles[kind])} NOLOGIN", log=log)
    _pg_reset(server, log)
    database = server.q(server.pg_database())
    server.run(f"GRANT CONNECT ON DATABASE {database} TO {admin}, {analyst}, {viewer}", log=log)
    for schema in server.pg_schemas():
        _pg_adopt_schema(server, schema, log)
    if not server.pg_schemas():
        log.append(
            f"-- no schemas named {schema_pattern(server.prefix)} yet: re-run create-roles after they are declared"
        )
    for kind in ("analyst", "viewer"):
        creatable = [
            s
            for (s,) in server.rows(
                "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(%s, oid, 'CREATE') ORDER BY 1",
                (roles[kind],),
            )
        ]
        if creatable:
            log.append(
                f"-- warning: {roles[kind]} may create tables in schema(s) {', '.join(creatable)} "
                "(granted to it or to PUBLIC): revoke that, see docs/security.md"
            )


def _pg_reset(server: Server, log: list) -> None:
    """Withdraw what earlier versions of create-roles granted beyond the current definition.

    Those granted CREATE on the database to the admin role (a schema of any
    name, also outside the prefix), made the admin role a member of the
    analyst role, gave analysts CREATE on the schemas (they owned the job
    tables they created, so could drop them) and set database-wide default
    privileges (what the admin role created anywhere was granted to the lab).
    """
    roles = server.roles
    admin, analyst, viewer = (server.q(roles[k]) for k in ROLES)
    if server.rows(
        """
            SELECT 1 FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
            WHERE r.rolname = %s AND m.rolname = %s""",
        (roles["analyst"], roles["admin"]),
    ):
        server.run(f"REVOKE {analyst} FROM {admin}", log=log)
    database = server.pg_database()
    for kind in ROLES:
        if server.rows("SELECT has_database_privilege(%s, %s, 'CREATE')", (roles[kind], database))[0][0]:
            server.run(f"REVOKE CREATE ON DATABASE {server.q(database)} FROM {server.q(roles[kind])}", log=log)
    defaults = server.rows(
        """
        SELECT DISTINCT pg_get_userbyid(d.defaclrole), d.defaclobjtype
        FROM pg_default_acl d, aclexplode(d.defaclacl) a
        WHERE d.defaclnamespace = 0 AND a.grantee IN (SELECT oid FROM pg_roles WHERE rolname IN (%s, %s))
        ORDER BY 1, 2
        """,
        (roles["analyst"], roles["viewer"]),
    )
    kinds = {"r": "TABLES", "S": "SEQUENCES", "n": "SCHEMAS", "T": "TYPES", "f": "FUNCTIONS"}
    for creator, objtype in defaults:
        server.run(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {server.q(creator)} REVOKE ALL ON {kinds[objtype]} "
            f"FROM {analyst}, {viewer}",
            log=log,
        )
    # schemas outside the prefix where the lab roles got privileges that way
    lab = "(SELECT oid FROM pg_roles WHERE rolname IN (%s, %s))"
    for (schema,) in server.rows(
        f"""
        SELECT n.nspname FROM pg_namespace n, aclexplode(n.nspacl) a
        WHERE n.nspname NOT LIKE %s AND a.grantee IN {lab}
        UNION
        SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
        WHERE n.nspname NOT LIKE %s AND a.grantee IN {lab}
        ORDER BY 1
        """,
        (schema_pattern(server.prefix), roles["analyst"], roles["viewer"]) * 2,
    ):
        s = server.q(schema)
        server.run(f"REVOKE ALL ON SCHEMA {s} FROM {analyst}, {viewer}", log=log)
        server.run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {analyst}, {viewer}", log=log)
        server.run(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {analyst}, {viewer}", log=log)
    for (schema,) in server.rows(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE %s AND pg_get_userbyid(nspowner) = %s ORDER BY 1",
        (schema_pattern(server.prefix), roles["admin"]),
    ):
        log.append(
            f"-- warning: schema {schema} is outside the prefix but owned by {roles['admin']}: "
            f"hand it to its owner (ALTER SCHEMA {server.q(schema)} OWNER TO ...) or drop it"
        )


def _pg_adopt_schema(server: Server, schema: str, log: list) -> None:
    """Hand an existing project schema to the admin role and grant on its tables."""
    roles = server.roles
    admin, analyst, viewer = (server.q(roles[k]) for k in ROLES)
    s = server.q(schema)
    if (
        server.rows("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (schema,))[0][0]
        != roles["admin"]
    ):
        server.run(f"ALTER SCHEMA {s} OWNER TO {admin}", log=log)
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    objects = server.rows(
        """
        SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d  -- sequences owned by a column follow their table
                          WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
        ORDER BY c.relname
        """,
        (schema, roles["admin"]),
    )
    for name, kind in objects:
        server.run(f"ALTER {kinds[kind]} {s}.{server.q(name)} OWNER TO {admin}", log=log)
    types = server.rows(
        """
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %s AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) <> %s
        ORDER BY t.typname
        """,
        (schema, roles["admin"]),
    )
    for (name,) in types:
        server.run(f"ALTER TYPE {s}.{server.q(name)} OWNER TO {admin}", log=log)
    # start from nothing on the schema and its tables, so re-running resets them to this definition
    # (earlier versions granted analysts CREATE here and REFERENCES on the tables)
    server.run(f"REVOKE ALL ON SCHEMA {s} FROM {analyst}, {viewer}", log=log)
    server.run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {analyst}, {viewer}", log=log)
    server.run(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {analyst}, {viewer}", log=log)
    server.run(f"GRANT USAGE ON SCHEMA {s} TO {viewer}, {analyst}", log=log)
    server.run(f"GRANT {PG_TABLE_PRIVILEGES['viewer']} ON ALL TABLES IN SCHEMA {s} TO {viewer}", log=log)
    server.run(f"GRANT {PG_TABLE_PRIVILEGES['analyst']} ON ALL TABLES IN SCHEMA {s} TO {analyst}", log=log)
    server.run(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {analyst}", log=log)
    # tables created here later, by the admin role (a new table, a new computed table's job table)
    # or by the connected superuser; only in this schema: nothing outside the prefix is granted
    creators = [roles["admin"]]
    current = server.rows("SELECT current_user")[0][0]
    if current != roles["admin"]:
        creators.append(current)
    for creator in creators:
        default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {server.q(creator)} IN SCHEMA {s}"
        server.run(f"{default} REVOKE ALL ON TABLES FROM {analyst}, {viewer}", log=log)
        server.run(f"{default} REVOKE ALL ON SEQUENCES FROM {analyst}, {viewer}", log=log)
        if creator != roles["admin"]:
            server.run(f"{default} GRANT ALL ON TABLES TO {admin} WITH GRANT OPTION", log=log)
        server.run(f"{default} GRANT {PG_TABLE_PRIVILEGES['viewer']} ON TABLES TO {viewer}", log=log)
        server.run(f"{default} GRANT {PG_TABLE_PRIVILEGES['analyst']} ON TABLES TO {analyst}", log=log)
        server.run(f"{default} GRANT USAGE, SELECT ON SEQUENCES TO {analyst}", log=log)


# ---------------------------------------------------------------------------
# users


def read_password(env_var: str | None = None, *, prompt=getpass.getpass) -> str:
    """The new user's password: from ``$env_var``, or asked twice at the terminal."""
    if env_var:
        password = os.environ.get(env_var)
        if password is None:
            raise DbError(f"environment variable {env_var} is not set")
    else:
        password = prompt("password for the new user: ")
        if prompt("repeat the password: ") != password:
            raise DbError("the passwords differ")
    if not password:
        raise DbError("the password is empty")
    return password


def add_user(
    name: str, role: str, password: str, *, host: str = "%", conn=None, prefix: str | None = None
) -> list[str]:
    """Create a login for ``name`` holding ``<prefix><role>`` as its default role.

    ``host`` (MySQL/MariaDB only) limits where the user may connect from.
    Returns the statements run, the password shown as ``***``.
    """
    if role not in ROLES:
        raise DbError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not password:
        raise DbError("the password is empty")
    _check_user(name)
    server = Server.connect(conn, prefix)
    role_name = server.roles[role]
    log: list[str] = []
    if server.postgres:
        if not server.pg_role_exists(role_name):
            raise DbError(f"role {role_name} does not exist: run 'tectum db create-roles' first")
        if server.pg_role_exists(name):
            raise DbError(f"user {name} already exists")
        secret = scram_sha256_verifier(password) if _hashable(password) else password
        server.run(
            f"CREATE ROLE {server.q(name)} LOGIN PASSWORD %s",
            (secret,),
            log=log,
            shown=f"CREATE ROLE {server.q(name)} LOGIN PASSWORD ***",
        )
        server.run(f"GRANT {server.q(role_name)} TO {server.q(name)}", log=log)
        # the "default role": the session acts as the role, so what it creates belongs to the role
        server.run(
            f"ALTER ROLE {server.q(name)} SET role = %s",
            (role_name,),
            log=log,
            shown=f"ALTER ROLE {server.q(name)} SET role = '{role_name}'",
        )
        return log

    _check_host(host)
    if not server.mysql_role_exists(role_name):
        raise DbError(f"role {role_name} does not exist: run 'tectum db create-roles' first")
    if server.rows("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s", (name, host)):
        raise DbError(f"user {name}@{host} already exists")
    account, user_host = server.account(name, host), (name, host)
    if server.flavour == "mariadb" and _hashable(password):
        server.run(
            "CREATE USER %s@%s IDENTIFIED BY PASSWORD %s",
            user_host + (mysql_native_hash(password),),
            log=log,
            shown=f"CREATE USER {account} IDENTIFIED BY PASSWORD ***",
        )
    else:
        server.run(
            "CREATE USER %s@%s IDENTIFIED BY %s",
            user_host + (password,),
            log=log,
            shown=f"CREATE USER {account} IDENTIFIED BY ***",
        )
    try:
        server.run(
            f"GRANT {server.q(role_name)} TO %s@%s",
            user_host,
            log=log,
            shown=f"GRANT {server.q(role_name)} TO {account}",
        )
        keyword = "FOR" if server.flavour == "mariadb" else "TO"
        server.run(
            f"SET DEFAULT ROLE {server.q(role_name)} {keyword} %s@%s",
            user_host,
            log=log,
            shown=f"SET DEFAULT ROLE {server.q(role_name)} {keyword} {account}",
        )
    except Exception:
        server.run("DROP USER %s@%s", user_host)  # no half-made users
        raise
    return log


def drop_user(name: str, *, host: str = "%", conn=None, prefix: str | None = None) -> list[str]:
    """Remove a user made by :func:`add_user` (on PostgreSQL what it owns goes to the connected user)."""
    _check_user(name)
    server = Server.connect(conn, prefix)
    log: list[str] = []
    if server.postgres:
        if server.pg_role_exists(name):
            server.run(f"REASSIGN OWNED BY {server.q(name)} TO CURRENT_USER", log=log)
            server.run(f"DROP OWNED BY {server.q(name)}", log=log)
            server.run(f"DROP ROLE {server.q(name)}", log=log)
        return log
    _check_host(host)
    server.run(
        "DROP USER IF EXISTS %s@%s", (name, host), log=log, shown=f"DROP USER IF EXISTS {server.account(name, host)}"
    )
    return log


def drop_roles(conn=None, prefix: str | None = None) -> list[str]:
    """Drop the three roles (their users keep their logins but lose the privileges).

    On PostgreSQL what the roles own (the project's schemas, tables) is handed
    to the connected user first, in this database.
    """
    server = Server.connect(conn, prefix)
    log: list[str] = []
    for kind in ROLES:
        role = server.roles[kind]
        if server.postgres:
            if server.pg_role_exists(role):
                server.run(f"REASSIGN OWNED BY {server.q(role)} TO CURRENT_USER", log=log)
                server.run(f"DROP OWNED BY {server.q(role)}", log=log)
                server.run(f"DROP ROLE {server.q(role)}", log=log)
        elif server.mysql_role_exists(role):
            server.run(f"DROP ROLE {server.q(role)}", log=log)
    return log


# ---------------------------------------------------------------------------
# show


def show(conn=None, prefix: str | None = None) -> list[str]:
    """The roles, their members and their grants, as text lines."""
    server = Server.connect(conn, prefix)
    pattern = schema_pattern(server.prefix)
    if server.postgres:
        schemas = server.pg_schemas()
        lines = [
            f"server: {server.version.split(' on ')[0]}; database {server.pg_database()}; "
            f"project schemas ({pattern}): {', '.join(schemas) or 'none'}"
        ]
        for kind in ROLES:
            lines += _pg_show_role(server, server.roles[kind], schemas)
        return lines
    lines = [
        f"server: {server.flavour} {server.version}; project schemas ({pattern}): "
        f"{', '.join(server.mysql_schemas()) or 'none'}"
    ]
    for kind in ROLES:
        role = server.roles[kind]
        if not server.mysql_role_exists(role):
            lines.append(f"role {role}: missing (run 'tectum db create-roles')")
            continue
        lines.append(f"role {role}: members {', '.join(_mysql_members(server, role)) or 'none'}")
        for (grant,) in server.rows(f"SHOW GRANTS FOR {server.q(role)}"):
            lines.append(f"  {grant}")
    return lines


def _mysql_members(server: Server, role: str) -> list[str]:
    if server.flavour == "mariadb":
        members = server.rows(
            "SELECT User, Host, Admin_option FROM mysql.roles_mapping WHERE Role = %s ORDER BY User, Host", (role,)
        )
        defaults = {
            (u, h) for u, h in server.rows("SELECT User, Host FROM mysql.user WHERE default_role = %s", (role,))
        }
    else:
        members = [
            (u, h, "N")
            for u, h in server.rows(
                "SELECT TO_USER, TO_HOST FROM mysql.role_edges WHERE FROM_USER = %s ORDER BY 1, 2", (role,)
            )
        ]
        defaults = {
            (u, h)
            for u, h in server.rows("SELECT USER, HOST FROM mysql.default_roles WHERE DEFAULT_ROLE_USER = %s", (role,))
        }
    out = []
    for user, host, admin_option in members:
        if admin_option == "Y" and (user, host) not in defaults:
            continue  # the creator of the role, not a member
        out.append(f"{user}@{host}" + (" (default role)" if (user, host) in defaults else ""))
    return out


def _pg_show_role(server: Server, role: str, schemas: list[str]) -> list[str]:
    if not server.pg_role_exists(role):
        return [f"role {role}: missing (run 'tectum db create-roles')"]
    members = server.rows(
        """
        SELECT m.rolname, COALESCE(
                 (SELECT true FROM pg_db_role_setting s, unnest(s.setconfig) c
                  WHERE s.setrole = m.oid AND c = 'role=' || r.rolname LIMIT 1), false)
        FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
        WHERE r.rolname = %s ORDER BY 1
        """,
        (role,),
    )
    shown = [f"{name}" + (" (default role)" if default else "") for name, default in members]
    lines = [f"role {role}: members {', '.join(shown) or 'none'}"]
    owned = [
        s
        for (s,) in server.rows(
            "SELECT nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) = %s ORDER BY 1", (role,)
        )
    ]
    if owned:
        lines.append(f"  owns schemas (all privileges, may drop): {', '.join(owned)}")
    database = server.rows(
        """
        SELECT string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
        FROM pg_database d, aclexplode(d.datacl) a
        WHERE d.datname = current_database() AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
        """,
        (role,),
    )[0][0]
    if database:
        lines.append(f"  database: {database}")
    for schema in schemas:
        schema_privs = server.rows(
            """
            SELECT string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
            FROM pg_namespace n, aclexplode(n.nspacl) a
            WHERE n.nspname = %s AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
            """,
            (schema, role),
        )[0][0]
        table_privs = server.rows(
            """
            SELECT p, count(*) FROM (
              SELECT c.oid, string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS p
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
              WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')
                AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
              GROUP BY c.oid) t
            GROUP BY p ORDER BY p
            """,
            (schema, role),
        )
        if schema_privs or table_privs:
            tables = "; ".join(f"{p} on {n} tables" for p, n in table_privs) or "no tables"
            lines.append(f"  schema {schema}: {schema_privs or '-'}; {tables}")
    defaults = server.rows(
        """
        SELECT pg_get_userbyid(d.defaclrole), COALESCE(n.nspname, '(all schemas)'),
               CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'n' THEN 'schemas'
                    WHEN 'T' THEN 'types' WHEN 'f' THEN 'functions' ELSE d.defaclobjtype::text END,
               string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
        WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        (role,),
    )
    for creator, schema, objtype, privs in defaults:
        lines.append(f"  future {objtype} created by {creator} in {schema}: {privs}")
    return lines


# ---------------------------------------------------------------------------
# command line


def add_db_arguments(parser) -> None:
    """Add the ``tectum db`` subcommands to ``parser``."""
    parser.description = (
        "Roles for a shared server: <prefix>admin (everything on the project's schemas), <prefix>analyst "
        "(read and write rows only), <prefix>viewer (read only); the prefix is TECTUM_SCHEMA_PREFIX. Run as "
        "the database administrator (gc: a user who may delete files in the object store). See docs/security.md "
        "and docs/object-store.md."
    )
    sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = sub.add_parser(
        "create-roles",
        help="create (or reset) the admin, analyst and viewer roles",
        description="Create the three roles, or reset existing ones to their definition. "
        "The project's schemas, tables and the job tables (~~name) of every computed table "
        "are declared first when missing, so that analysts need not create any. On "
        "PostgreSQL the project's schemas and tables are handed to the admin role. Re-run "
        "after the pipeline gained tables or schemas.",
    )
    p.set_defaults(db_func=_cmd_create_roles)

    p = sub.add_parser(
        "add-user",
        help="create a login holding one role (password from an env var or a prompt)",
        description="Create a user with the role as its default role. The password is read "
        "from the environment variable given by --password-env, or asked for; it is never "
        "an argument.",
        allow_abbrev=False,
    )
    p.add_argument("name", help="the login name")
    p.add_argument("--role", required=True, choices=ROLES, help="the role to grant")
    p.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    p.add_argument("--host", default="%", help="MySQL/MariaDB: where the user may connect from (default %%)")
    p.add_argument("--password", "-p", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)
    p.set_defaults(db_func=_cmd_add_user)

    p = sub.add_parser("show", help="list the roles, their members and grants")
    p.set_defaults(db_func=_cmd_show)

    p = sub.add_parser("drop-user", help="remove a user")
    p.add_argument("name")
    p.add_argument("--host", default="%", help="MySQL/MariaDB: the user's host (default %%)")
    p.add_argument("--yes", action="store_true", help="really do it")
    p.set_defaults(db_func=_cmd_drop_user)

    p = sub.add_parser("drop-roles", help="remove the three roles (the data stays)")
    p.add_argument("--yes", action="store_true", help="really do it")
    p.set_defaults(db_func=_cmd_drop_roles)

    from .commands.gc import add_db_action

    add_db_action(sub)  # tectum db gc: the store's housekeeping, with the database's
    from .commands.worker import add_db_action as add_forget_workers

    add_forget_workers(sub)


class _RefusePassword(argparse.Action):
    """``--password``: refused, so that no password ends up in the shell history or ``ps``."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(
            "a password is never given on the command line (it would stay in the shell history): "
            "use --password-env VAR or answer the prompt"
        )


def _print(lines) -> None:
    for line in lines:
        print(line)


def _declare_project() -> tuple:
    """Declare the project's schemas and tables (as the connected administrator); its computed tables."""
    _quiet()
    import schemas

    schemas.activate()
    return tuple(schemas.analysis.COMPUTED_TABLES)


def _cmd_create_roles(args) -> int:
    _print(create_roles(computed=_declare_project()))
    print(f"db: roles {', '.join(role_names().values())} ready")
    return 0


def _cmd_add_user(args) -> int:
    password = read_password(args.password_env)
    _print(add_user(args.name, args.role, password, host=args.host))
    print(f"db: user {args.name} has role {role_names()[args.role]}")
    return 0


def _cmd_show(args) -> int:
    _print(show())
    return 0


def _confirm(args, what: str) -> None:
    if not args.yes:
        raise DbError(f"this would {what}; add --yes to do it")


def _cmd_drop_user(args) -> int:
    _confirm(args, f"drop the user {args.name}")
    _print(drop_user(args.name, host=args.host))
    return 0


def _cmd_drop_roles(args) -> int:
    _confirm(args, f"drop the roles {', '.join(role_names().values())}")
    _print(drop_roles())
    return 0


def run_db_command(args) -> int:
    """Run a ``tectum db`` subcommand; return the exit code."""
    return int(args.db_func(args) or 0)
