"""``tectum db``: roles and users on the real server, checked by logging in as each user.

The module creates the three roles for this session's schema prefix and one
user per role (random names and passwords), logs in as each with a separate
raw connection (pymysql / psycopg2) and shows what each may and may not do.
A scratch schema ``<prefix>scratch`` (made before the roles, so they cover it)
is what gets dropped. Users, roles and the scratch schemas are removed at the
end, also when a test fails.

Note: a server with ``trust`` authentication for 127.0.0.1 (the local
PostgreSQL here) accepts any password, so on such a server the log-ins prove
the privileges, not the password; MariaDB checks it, and the SCRAM verifier
is compared with the server's own computation instead.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

import pytest

ROLES = ("admin", "analyst", "viewer")


def cli(*argv) -> int:
    from tectum.cli import main

    return main(["-q", *argv])


@dataclass
class Lab:
    server: object  # tectum.roles.Server (root / postgres)
    prefix: str
    users: dict = field(default_factory=dict)  # role -> (name, password)

    @property
    def postgres(self) -> bool:
        return self.server.postgres

    @property
    def scratch(self) -> str:
        return f"{self.prefix}scratch"

    @property
    def scratch2(self) -> str:
        return f"{self.prefix}scratch2"

    def q(self, *names) -> str:
        return ".".join(self.server.q(n) for n in names)

    def root(self, sql: str):
        return self.server.run(sql)

    def login(self, role: str):
        """A new raw connection as the user holding ``role`` (autocommit)."""
        import datajoint as dj

        name, password = self.users[role]
        host, port = dj.config["database.host"], int(dj.config["database.port"])
        if self.postgres:
            import psycopg2

            conn = psycopg2.connect(host=host, port=port, user=name, password=password,
                                    dbname=self.server.pg_database(), connect_timeout=10)
            conn.autocommit = True
            return conn
        import pymysql

        return pymysql.connect(host=host, port=port, user=name, password=password, connect_timeout=10,
                               autocommit=True)


def execute(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else None


def denied(conn, sql) -> str:
    """Run ``sql`` and assert the server refuses it for lack of privileges; return the message."""
    try:
        execute(conn, sql)
    except Exception as err:  # noqa: BLE001 - checked below
        code = getattr(err, "pgcode", None) or (err.args[0] if err.args else None)
        # PostgreSQL: 42501 insufficient_privilege (also "must be owner");
        # MySQL/MariaDB: 1142 command denied for table, 1044 for database, 1227 needs a privilege
        assert code in ("42501", 1142, 1044, 1227, 1143), f"{sql}: not a privilege error: {err!r}"
        return str(err)
    raise AssertionError(f"allowed but should be refused: {sql}")


@pytest.fixture(scope="module")
def lab(db):
    from tectum import roles

    server = roles.Server.connect()
    lab = Lab(server, db.schema_prefix())
    tag = secrets.token_hex(3)
    try:
        # a scratch schema with two tables, made before the roles so that they cover it
        if lab.postgres:
            lab.root(f"CREATE SCHEMA {lab.q(lab.scratch)}")
        else:
            lab.root(f"CREATE DATABASE {lab.q(lab.scratch)}")
        for table in ("keep", "doomed"):
            lab.root(f"CREATE TABLE {lab.q(lab.scratch, table)} (id INT PRIMARY KEY)")
            lab.root(f"INSERT INTO {lab.q(lab.scratch, table)} (id) VALUES (1), (2)")

        assert cli("db", "create-roles") == 0
        for role in ROLES:
            name, password = f"tt{tag}_{role}", secrets.token_urlsafe(18)
            var = f"TECTUM_TEST_PASSWORD_{role.upper()}"
            os.environ[var] = password
            try:
                assert cli("db", "add-user", name, "--role", role, "--password-env", var) == 0
            finally:
                del os.environ[var]
            lab.users[role] = (name, password)
        yield lab
    finally:
        problems = []

        def attempt(step, *args):
            try:
                step(*args)
            except Exception as err:  # noqa: BLE001 - go on cleaning, report at the end
                problems.append(f"{getattr(step, '__name__', step)}{args}: {err!r}")

        for role in ROLES:
            attempt(roles.drop_user, f"tt{tag}_{role}")
        attempt(roles.drop_roles)
        for schema in (lab.scratch, lab.scratch2):
            attempt(lab.root, f"DROP SCHEMA IF EXISTS {lab.q(schema)} CASCADE" if lab.postgres
                    else f"DROP DATABASE IF EXISTS {lab.q(schema)}")
        attempt(lambda: (db.acquisition.Fish & {"fish": "roles-probe"}).delete(prompt=False))
        attempt(_drop_probe, lab, db)
        left = [a for a in _accounts(lab) if a.startswith(lab.prefix) or a.startswith(f"tt{tag}_")]
        assert not problems and not left, (problems, left)


def _probe_table(lab, db) -> str:
    return lab.q(db.analysis.schema.database, "~~roles_probe")


def _drop_probe(lab, db):
    lab.root(f"DROP TABLE IF EXISTS {_probe_table(lab, db)}")


def _accounts(lab) -> list[str]:
    if lab.postgres:
        return [r[0] for r in lab.server.rows("SELECT rolname FROM pg_roles")]
    return [r[0] for r in lab.server.rows("SELECT User FROM mysql.user")]


def _count(conn, table) -> int:
    return execute(conn, f"SELECT COUNT(*) FROM {table}")[0][0]


# ---------------------------------------------------------------------------


def test_pattern_escapes_underscores():
    from tectum.roles import schema_pattern

    assert schema_pattern("tectum_") == r"tectum\_%"
    assert schema_pattern("a_b%c") == r"a\_b\%c%"


def test_each_user_logs_in_with_its_role_active(lab):
    for role in ROLES:
        conn = lab.login(role)
        try:
            sql = "SELECT current_user" if lab.postgres else "SELECT CURRENT_ROLE()"
            assert execute(conn, sql)[0][0] == f"{lab.prefix}{role}"
        finally:
            conn.close()


def test_viewer_reads_but_cannot_write_or_drop(lab, db):
    sensor = db.reference.Sensor.full_table_name
    fish = db.acquisition.Fish.full_table_name
    conn = lab.login("viewer")
    try:
        n = _count(conn, sensor)
        assert n >= 7
        assert _count(conn, lab.q(lab.scratch, "keep")) == 2
        denied(conn, f"INSERT INTO {fish} (fish) VALUES ('roles-probe')")
        denied(conn, f"DELETE FROM {sensor}")
        denied(conn, f"UPDATE {sensor} SET tau_decay_s = 0")
        denied(conn, f"DROP TABLE {lab.q(lab.scratch, 'keep')}")
        denied(conn, f"DROP SCHEMA {lab.q(lab.scratch)}" if lab.postgres else f"DROP DATABASE {lab.q(lab.scratch)}")
        denied(conn, f"CREATE TABLE {_probe_table(lab, db)} (id INT)")
        assert _count(conn, sensor) == n
        assert not (db.acquisition.Fish & {"fish": "roles-probe"})
    finally:
        conn.close()


def test_analyst_writes_rows_but_cannot_drop_or_alter(lab, db):
    fish = db.acquisition.Fish.full_table_name
    keep = lab.q(lab.scratch, "keep")
    quote = lab.server.q
    conn = lab.login("analyst")
    try:
        execute(conn, f"INSERT INTO {fish} ({quote('fish')}, {quote('genotype')}) VALUES ('roles-probe', 'wt')")
        assert (db.acquisition.Fish & {"fish": "roles-probe"}).fetch1("genotype") == "wt"
        execute(conn, f"UPDATE {fish} SET {quote('genotype')} = 'mutant' WHERE {quote('fish')} = 'roles-probe'")
        assert (db.acquisition.Fish & {"fish": "roles-probe"}).fetch1("genotype") == "mutant"
        execute(conn, f"DELETE FROM {fish} WHERE {quote('fish')} = 'roles-probe'")
        assert not (db.acquisition.Fish & {"fish": "roles-probe"})

        denied(conn, f"DROP TABLE {keep}")
        denied(conn, f"DROP TABLE {db.acquisition.Fish.full_table_name}")
        denied(conn, f"DROP SCHEMA {lab.q(lab.scratch)}" if lab.postgres else f"DROP DATABASE {lab.q(lab.scratch)}")
        denied(conn, f"ALTER TABLE {keep} ADD COLUMN extra INT")
        assert _count(conn, keep) == 2

        # DataJoint's job tables (~~name) are created by whoever populates first
        try:
            execute(conn, f"CREATE TABLE {_probe_table(lab, db)} (id INT PRIMARY KEY)")
            execute(conn, f"INSERT INTO {_probe_table(lab, db)} (id) VALUES (1)")
        finally:
            _drop_probe(lab, db)
    finally:
        conn.close()


def test_admin_can_drop_and_create(lab, db):
    conn = lab.login("admin")
    try:
        execute(conn, f"DELETE FROM {lab.q(lab.scratch, 'keep')} WHERE id = 2")
        execute(conn, f"DROP TABLE {lab.q(lab.scratch, 'doomed')}")
        # a schema of the project created later is covered too (wildcard / default privileges)
        execute(conn, f"CREATE SCHEMA {lab.q(lab.scratch2)}" if lab.postgres
                else f"CREATE DATABASE {lab.q(lab.scratch2)}")
        execute(conn, f"CREATE TABLE {lab.q(lab.scratch2, 'fresh')} (id INT PRIMARY KEY)")
        execute(conn, f"INSERT INTO {lab.q(lab.scratch2, 'fresh')} (id) VALUES (7)")
    finally:
        conn.close()

    viewer, analyst = lab.login("viewer"), lab.login("analyst")
    try:
        assert _count(viewer, lab.q(lab.scratch2, "fresh")) == 1
        denied(viewer, f"INSERT INTO {lab.q(lab.scratch2, 'fresh')} (id) VALUES (8)")
        execute(analyst, f"INSERT INTO {lab.q(lab.scratch2, 'fresh')} (id) VALUES (8)")
        denied(analyst, f"DROP TABLE {lab.q(lab.scratch2, 'fresh')}")
    finally:
        viewer.close()
        analyst.close()

    conn = lab.login("admin")
    try:
        execute(conn, f"DROP SCHEMA {lab.q(lab.scratch2)} CASCADE" if lab.postgres
                else f"DROP DATABASE {lab.q(lab.scratch2)}")
        execute(conn, f"DROP SCHEMA {lab.q(lab.scratch)} CASCADE" if lab.postgres
                else f"DROP DATABASE {lab.q(lab.scratch)}")
    finally:
        conn.close()
    schemas = lab.server.pg_schemas() if lab.postgres else lab.server.mysql_schemas()
    assert lab.scratch not in schemas and lab.scratch2 not in schemas


def test_show_lists_roles_and_members(lab, capsys):
    assert cli("db", "show") == 0
    out = capsys.readouterr().out
    for role in ROLES:
        assert f"role {lab.prefix}{role}: members" in out
        assert lab.users[role][0] in out
    assert "(default role)" in out
    assert lab.users["viewer"][1] not in out  # never a password


def test_create_roles_is_idempotent(lab, capsys):
    assert cli("db", "create-roles") == 0
    conn = lab.login("viewer")
    try:
        sql = "SELECT current_user" if lab.postgres else "SELECT CURRENT_ROLE()"
        assert execute(conn, sql)[0][0] == f"{lab.prefix}viewer"
    finally:
        conn.close()


def test_add_user_refusals(lab, capsys, monkeypatch):
    name = lab.users["viewer"][0]
    monkeypatch.setenv("TECTUM_TEST_PW", "x-" + secrets.token_hex(8))
    assert cli("db", "add-user", name, "--role", "viewer", "--password-env", "TECTUM_TEST_PW") == 1
    assert "already exists" in capsys.readouterr().err
    monkeypatch.delenv("TECTUM_TEST_PW")
    assert cli("db", "add-user", "tt_nobody", "--role", "viewer", "--password-env", "TECTUM_TEST_PW") == 1
    assert "TECTUM_TEST_PW is not set" in capsys.readouterr().err
    assert cli("db", "add-user", "bad name;", "--role", "viewer", "--password-env", "PATH") == 1
    assert "user name" in capsys.readouterr().err
    for option in ("--password", "-p", "--pass"):  # no way to give a password on the command line
        with pytest.raises(SystemExit):
            cli("db", "add-user", "tt_nobody", "--role", "viewer", option, "secret")
        err = capsys.readouterr().err
        assert "never given on the command line" in err or "unrecognized arguments: --pass" in err
    assert "tt_nobody" not in _accounts(lab)


def test_client_side_password_hash_matches_the_server(lab):
    from tectum.roles import mysql_native_hash, scram_sha256_verifier

    password = "correct horse " + secrets.token_hex(4)
    if not lab.postgres:
        if lab.server.flavour != "mariadb":
            pytest.skip("PASSWORD() exists on MariaDB only")
        assert lab.server.rows("SELECT PASSWORD(%s)", (password,))[0][0] == mysql_native_hash(password)
        return
    import base64

    role = f"tt_scram_{secrets.token_hex(3)}"
    lab.server.run(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (password,))  # hashed by the server
    try:
        stored = lab.server.rows("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))[0][0]
        iterations, salt = stored.split("$")[1].split(":")
        assert scram_sha256_verifier(password, salt=base64.b64decode(salt), iterations=int(iterations)) == stored
    finally:
        lab.server.run(f'DROP ROLE "{role}"')
