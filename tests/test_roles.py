"""``tectum db``: roles and users on the real server, checked by logging in as each user.

The module creates the three roles for this session's schema prefix and one
user per role (random names and passwords), logs in as each with a separate
raw connection (pymysql / psycopg2) and shows what each may and may not do.
A scratch schema ``<prefix>scratch`` (made before the roles, so they cover it)
is what gets dropped. The ``tectum`` command itself runs as each user in a
subprocess (``DJ_USER``/``DJ_PASS``). Users, roles and the scratch schemas
are removed at the end, also when a test fails.

Note: a server with ``trust`` authentication for 127.0.0.1 (the local
PostgreSQL here) accepts any password, so on such a server the log-ins prove
the privileges, not the password; MariaDB checks it, and the SCRAM verifier
is compared with the server's own computation instead.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tectum.roles import schema_pattern

ROLES = ("admin", "analyst", "viewer")
ROOT = Path(__file__).resolve().parents[1]
#: the recording the analyst populates (deleted at the end)
FISH = "roles-fish"


def cli(*argv) -> int:
    from tectum.cli import main

    return main(["-q", *argv])


@dataclass
class Lab:
    server: object  # tectum.roles.Server (root / postgres)
    prefix: str
    users: dict = field(default_factory=dict)  # role -> (name, password)
    tag: str = ""  # of this module's users and of the schema outside the prefix

    @property
    def postgres(self) -> bool:
        return self.server.postgres

    @property
    def scratch(self) -> str:
        return f"{self.prefix}scratch"

    @property
    def scratch2(self) -> str:
        return f"{self.prefix}scratch2"

    @property
    def outside(self) -> str:
        """A schema of this test, named outside the prefix."""
        return f"zz{self.tag}_outside"

    def tectum(self, role: str, *args, user: tuple | None = None) -> subprocess.CompletedProcess:
        """``tectum -q ARGS`` run as the user holding ``role`` (or ``user=(name, password)``), in a subprocess."""
        name, password = user or self.users[role]
        env = dict(os.environ, DJ_USER=name, DJ_PASS=password, PYTHONUNBUFFERED="1")
        return subprocess.run(
            [sys.executable, "-m", "tectum.cli", "-q", *args],
            cwd=ROOT,
            env=env,
            text=True,
            capture_output=True,
            timeout=600,
        )

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

            conn = psycopg2.connect(
                host=host, port=port, user=name, password=password, dbname=self.server.pg_database(), connect_timeout=10
            )
            conn.autocommit = True
            return conn
        import pymysql

        return pymysql.connect(host=host, port=port, user=name, password=password, connect_timeout=10, autocommit=True)


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
    tag = secrets.token_hex(3)
    lab = Lab(server, db.schema_prefix(), tag=tag)
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
        for schema in (lab.scratch, lab.scratch2, lab.outside):
            attempt(
                lab.root,
                f"DROP SCHEMA IF EXISTS {lab.q(schema)} CASCADE"
                if lab.postgres
                else f"DROP DATABASE IF EXISTS {lab.q(schema)}",
            )
        attempt(lambda: (db.acquisition.Fish & [{"fish": "roles-probe"}, {"fish": FISH}]).delete(prompt=False))
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


def _job_table(db, table_cls) -> str:
    from datajoint.jobs import Job

    return Job(table_cls()).full_table_name


def _primary_key_index(lab, table: str) -> str:
    """The statement dropping the primary key's index of ``table``."""
    if not lab.postgres:
        return f"DROP INDEX `PRIMARY` ON {table}"
    (index,) = lab.server.rows(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND x.indisprimary",
        (table,),
    )[0]
    schema = table.split(".")[0]
    return f"DROP INDEX {schema}.{lab.server.q(index)}"


def _error_line(proc, command: str) -> str:
    """The one line a failed ``tectum COMMAND`` printed about its error (checked: exit code 1, no traceback)."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.startswith(f"tectum {command}: error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "count(DISTINCT" not in lines[0].split("[server:")[0]
    return lines[0]


# ---------------------------------------------------------------------------


def test_pattern_escapes_underscores():
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

        # no CREATE: no table, no schema named with the prefix (MySQL's CREATE would allow CREATE DATABASE)
        denied(conn, f"CREATE TABLE {_probe_table(lab, db)} (id INT PRIMARY KEY)")
        denied(
            conn,
            f"CREATE SCHEMA {lab.q(lab.prefix + 'x')}"
            if lab.postgres
            else f"CREATE DATABASE {lab.q(lab.prefix + 'x')}",
        )
    finally:
        conn.close()


def test_analyst_cannot_drop_alter_or_index_job_tables(lab, db):
    """Job tables exist from create-roles, belong to the admin (PostgreSQL) and allow analysts rows only."""
    jobs = _job_table(db, db.analysis.Fit)
    drop_primary_key = _primary_key_index(lab, jobs)
    conn = lab.login("analyst")
    try:
        assert _count(conn, jobs) >= 0
        denied(conn, drop_primary_key)
        denied(conn, f"CREATE INDEX roles_probe ON {jobs} ({lab.server.q('status')})")
        denied(conn, f"DROP TABLE {jobs}")
        denied(conn, f"ALTER TABLE {jobs} ADD COLUMN extra INT")
        denied(conn, f"TRUNCATE TABLE {jobs}")
        denied(conn, f"DROP TABLE {lab.q(db.analysis.schema.database, '~lineage')}")
    finally:
        conn.close()
    if lab.postgres:
        owners = set(
            lab.server.rows(
                "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (db.analysis.schema.database,),
            )
        )
        assert owners == {(f"{lab.prefix}admin",)}


def test_analyst_populates_with_reserved_jobs(lab, db):
    """Rows only are enough: the job tables exist, the analyst's ``tectum populate --reserve-jobs`` works."""
    from dbutil import synthetic_kwargs

    from pipeline.synthetic import make_recording

    rec = make_recording(n_rois=40, seed=5)
    db.insert_recording(**synthetic_kwargs(rec, fish=FISH, recording="R1"))
    key = {"fish": FISH, "paramset": "default"}
    done = lab.tectum("analyst", "populate", f"fish={FISH}", "--paramset", "default", "--reserve-jobs")
    assert done.returncode == 0, done.stderr[-3000:]
    for table in db.analysis.COMPUTED_TABLES:
        remaining, total = table().progress(key, display=False)
        assert (remaining, total) == (0, 1), table.__name__


def test_analyst_runs_a_worker_with_a_heartbeat(lab, db):
    """Rows only are enough for ``tectum worker``: its heartbeat row in the operations schema is written
    and updated by the analyst; a viewer reads the workers' status but may not pose as one."""
    import platform

    from dbutil import synthetic_kwargs

    from pipeline.synthetic import make_recording

    fish = "roles-worker"
    rec = make_recording(n_rois=40, seed=6)
    db.insert_recording(**synthetic_kwargs(rec, fish=fish, recording="R1"))
    try:
        done = lab.tectum("analyst", "worker", "--once", f"fish={fish}", "--paramset", "default")
    finally:
        (db.acquisition.Fish & {"fish": fish}).delete(prompt=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "worker stopped:" in done.stdout, done.stdout
    rows = (db.operations.WorkerHeartbeat & {"host": platform.node()} & "state = 'stopped'").to_dicts()
    assert rows and max(row["jobs_done"] for row in rows) >= 1
    shown = lab.tectum("viewer", "worker", "--once")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr, shown.stderr[-3000:]
    viewer = subprocess.run(
        [
            sys.executable,
            "-c",
            "import schemas; from tectum.heartbeat import worker_lines; "
            "schemas.activate(create_tables=False); print(len(worker_lines()))",
        ],
        cwd=ROOT,
        env=dict(os.environ, DJ_USER=lab.users["viewer"][0], DJ_PASS=lab.users["viewer"][1]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert viewer.returncode == 0 and int(viewer.stdout.split()[-1]) >= 1, viewer.stderr[-3000:]


def test_missing_job_table_is_explained(lab, db):
    """A job table that is not there (a table added after create-roles): one line naming the cure."""
    from datajoint.jobs import Job

    job = Job(db.analysis.ClassSummary())
    key = {"fish": FISH, "paramset": "default"}
    lab.root(f"DROP TABLE {job.full_table_name}")
    (db.analysis.ClassSummary & key).delete(prompt=False)
    try:
        line = _error_line(lab.tectum("analyst", "populate", f"fish={FISH}", "--reserve-jobs"), "populate")
        assert job.table_name in line and "only the database administrator may create it" in line
        assert "tectum db create-roles" in line
        # status only reads: it works without the job table, says so and creates nothing (not even as admin)
        for role in ("viewer", "admin"):
            status = lab.tectum(role, "status", f"fish={FISH}")
            assert status.returncode == 0, status.stderr[-3000:]
            assert "job tables not declared yet for ClassSummary" in status.stdout, status.stdout
            assert re.search(r"^ClassSummary\s+0/\d+ made, ", status.stdout, re.M), status.stdout
            assert not job.is_declared
        # the administrator declares it, and analysts then use it
        assert cli("db", "create-roles") == 0 and job.is_declared
        done = lab.tectum("analyst", "populate", f"fish={FISH}", "--paramset", "default", "--reserve-jobs")
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(db.analysis.ClassSummary & key) == 1
    finally:
        assert cli("db", "create-roles") == 0
    if lab.postgres:  # what the admin created belongs to the admin role
        owner = lab.server.rows(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", (job.full_table_name,)
        )[0][0]
        assert owner == f"{lab.prefix}admin"


def test_viewer_status_on_a_database_without_job_tables(lab, db):
    """As on a fresh database: no job table at all. A viewer's status counts every table and declares nothing."""
    from datajoint.jobs import Job

    jobs = [Job(table()) for table in db.analysis.COMPUTED_TABLES]
    for job in jobs:
        lab.root(f"DROP TABLE IF EXISTS {job.full_table_name}")
    try:
        status = lab.tectum("viewer", "status", "--keys", "--stale")
        assert status.returncode == 0, status.stderr[-3000:]
        names = ", ".join(table.__name__ for table in db.analysis.COMPUTED_TABLES)
        assert f"job tables not declared yet for {names}:" in status.stdout, status.stdout
        for table in db.analysis.COMPUTED_TABLES:
            assert re.search(rf"^{table.__name__}\s+\d+/\d+ made", status.stdout, re.M), status.stdout
            assert re.search(rf"^stale {table.__name__}\s+\d+ row", status.stdout, re.M), status.stdout
        assert not any(job.is_declared for job in jobs)
    finally:
        assert cli("db", "create-roles") == 0
    assert all(job.is_declared for job in jobs)
    # retrying failures writes to the job tables: a viewer is refused in one line
    assert "read-only role" in _error_line(lab.tectum("viewer", "status", "--retry-failed"), "status")


def test_user_without_role_is_told_to_get_one(lab, db):
    from tectum import roles

    name, password = f"tt{lab.tag}_nobody", secrets.token_urlsafe(18)
    if lab.postgres:
        lab.server.run(f"CREATE ROLE {lab.q(name)} LOGIN PASSWORD %s", (password,))
    else:
        lab.server.run("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
    try:
        line = _error_line(lab.tectum(None, "status", user=(name, password)), "status")
        assert f"schema {db.reference.schema.database} is not there for this database user" in line
        assert "tectum db add-user NAME --role viewer or analyst" in line
    finally:
        roles.drop_user(name)


def test_viewer_commands_say_what_the_role_allows(lab, db, tmp_path):
    from tectum.access import explain_refusal
    from tectum.demo_data import write_demo_dataset

    status = lab.tectum("viewer", "status")
    assert status.returncode == 0, status.stderr[-3000:]
    for table in db.analysis.COMPUTED_TABLES:
        assert f"{table.__name__} " in status.stdout
    export = lab.tectum("viewer", "export", "--out", str(tmp_path / "results.csv"))
    assert export.returncode == 0 and (tmp_path / "results.csv").is_file(), export.stderr[-3000:]

    read_only = (
        "error: read-only role: use tectum status, tectum export or tectum report; tectum ingest and "
        "tectum populate need the analyst role"
    )
    fish_before = len(db.acquisition.Fish())
    for args in (("populate",), ("ingest", str(write_demo_dataset(tmp_path / "data", n_recordings=1, n_rois=20)))):
        line = _error_line(lab.tectum("viewer", *args), args[0])
        assert line.startswith(f"tectum {args[0]}: {read_only}"), line
    assert len(db.acquisition.Fish()) == fish_before
    line = _error_line(lab.tectum("viewer", "db", "create-roles"), "db")
    assert "tectum db must be run by the database administrator" in line
    assert explain_refusal(ValueError("row 3 contains NaN")) is None  # other errors are reported as they are


def test_postgres_viewer_that_sees_no_keys_gets_a_hint(lab, db):
    """PostgreSQL hides constraints from SELECT-only roles; DataJoint then writes ``count(DISTINCT )``."""
    if not lab.postgres:
        pytest.skip("MySQL/MariaDB show primary keys to SELECT-only users")
    sensor = db.reference.Sensor.full_table_name
    lab.root(f"REVOKE REFERENCES ON {sensor} FROM {lab.q(lab.prefix + 'viewer')}")
    try:
        line = _error_line(lab.tectum("viewer", "status"), "status")
        assert line.startswith(f"tectum status: error: DataJoint cannot see the primary key of {sensor}"), line
        assert "tectum db create-roles" in line
    finally:
        assert cli("db", "create-roles") == 0
    assert lab.tectum("viewer", "status").returncode == 0


def test_admin_can_drop_and_create(lab, db):
    conn = lab.login("admin")
    try:
        execute(conn, f"DELETE FROM {lab.q(lab.scratch, 'keep')} WHERE id = 2")
        execute(conn, f"DROP TABLE {lab.q(lab.scratch, 'doomed')}")
        # a schema of the project created later is covered too: on MySQL/MariaDB the admin creates it
        # (wildcard grant); on PostgreSQL no role may create schemas (CREATE on the database would allow
        # any name), the superuser does and re-runs create-roles
        if lab.postgres:
            denied(conn, f"CREATE SCHEMA {lab.q(lab.scratch2)}")
            lab.root(f"CREATE SCHEMA {lab.q(lab.scratch2)}")
            assert cli("db", "create-roles") == 0
        else:
            execute(conn, f"CREATE DATABASE {lab.q(lab.scratch2)}")
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
        execute(
            conn,
            f"DROP SCHEMA {lab.q(lab.scratch2)} CASCADE" if lab.postgres else f"DROP DATABASE {lab.q(lab.scratch2)}",
        )
        execute(
            conn, f"DROP SCHEMA {lab.q(lab.scratch)} CASCADE" if lab.postgres else f"DROP DATABASE {lab.q(lab.scratch)}"
        )
    finally:
        conn.close()
    schemas = lab.server.pg_schemas() if lab.postgres else lab.server.mysql_schemas()
    assert lab.scratch not in schemas and lab.scratch2 not in schemas


def test_admin_stays_inside_the_prefix(lab, db):
    """Nothing outside the prefix: the admin cannot create or grant there, the others get no access."""
    outside = lab.q(lab.outside)
    lab.root(f"CREATE SCHEMA {outside}" if lab.postgres else f"CREATE DATABASE {outside}")
    lab.root(f"CREATE TABLE {lab.q(lab.outside, 't')} (id INT PRIMARY KEY)")
    lab.root(f"INSERT INTO {lab.q(lab.outside, 't')} (id) VALUES (1)")
    viewer = lab.q(f"{lab.prefix}viewer")
    conn = lab.login("admin")
    try:
        denied(
            conn,
            f"CREATE SCHEMA {lab.q(lab.outside + 'x')}"
            if lab.postgres
            else f"CREATE DATABASE {lab.q(lab.outside + 'x')}",
        )
        denied(conn, f"CREATE TABLE {lab.q(lab.outside, 'u')} (id INT PRIMARY KEY)")
        denied(conn, f"GRANT SELECT ON {lab.q(lab.outside, 't')} TO {viewer}")
        if lab.postgres:
            denied(conn, f"GRANT USAGE ON SCHEMA {outside} TO {viewer}")
            denied(conn, f"CREATE TABLE public.{lab.q(lab.outside)} (id INT)")
        else:
            denied(conn, f"GRANT SELECT ON {outside}.* TO {viewer}")
    finally:
        conn.close()
    for role in ("viewer", "analyst"):
        conn = lab.login(role)
        try:
            denied(conn, f"SELECT * FROM {lab.q(lab.outside, 't')}")
        finally:
            conn.close()
    if lab.postgres:  # and no database-wide default privileges that would grant what is created later
        lab_roles = [f"{lab.prefix}{role}" for role in ROLES]
        assert not lab.server.rows(
            "SELECT 1 FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE d.defaclnamespace = 0 "
            "AND a.grantee IN (SELECT oid FROM pg_roles WHERE rolname = ANY(%s))",
            (lab_roles,),
        )


def test_create_roles_resets_the_old_definition(lab, db, capsys):
    """Roles made by an earlier create-roles (with the gaps) lose what they should not have."""
    roles = {role: lab.q(f"{lab.prefix}{role}") for role in ROLES}
    jobs = _job_table(db, db.analysis.Fit)
    if lab.postgres:
        outside = lab.q(lab.outside, "t")
        lab.root(f"CREATE SCHEMA IF NOT EXISTS {lab.q(lab.outside)}")
        lab.root(f"CREATE TABLE IF NOT EXISTS {outside} (id INT PRIMARY KEY)")
        lab.root(f"GRANT CREATE ON SCHEMA {lab.q(lab.outside)} TO PUBLIC")  # create-roles warns about this
        for sql in (
            f"GRANT {roles['analyst']} TO {roles['admin']}",
            f"GRANT CREATE ON DATABASE {lab.q(lab.server.pg_database())} TO {roles['admin']}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {roles['admin']} GRANT USAGE ON SCHEMAS TO {roles['viewer']}",
            f"GRANT USAGE ON SCHEMA {lab.q(lab.outside)} TO {roles['viewer']}",
            f"GRANT SELECT ON {outside} TO {roles['viewer']}",
            f"GRANT CREATE ON SCHEMA {lab.q(db.analysis.schema.database)} TO {roles['analyst']}",
            f"ALTER TABLE {jobs} OWNER TO {roles['analyst']}",
        ):
            lab.root(sql)
    else:
        lab.root(f"GRANT CREATE, INDEX ON {lab.q(schema_pattern(lab.prefix))}.* TO {roles['analyst']}")
    assert cli("db", "create-roles") == 0
    out = capsys.readouterr().out
    conn = lab.login("analyst")
    try:
        denied(conn, f"DROP TABLE {jobs}")
        denied(conn, _primary_key_index(lab, jobs))
        denied(conn, f"CREATE TABLE {_probe_table(lab, db)} (id INT PRIMARY KEY)")
    finally:
        conn.close()
    if lab.postgres:
        assert f"REVOKE {roles['analyst']} FROM {roles['admin']}" in out
        for role in ("analyst", "viewer"):
            assert f"-- warning: {lab.prefix}{role} may create tables in schema(s) {lab.outside} " in out
        conn = lab.login("admin")
        try:
            denied(conn, f"CREATE SCHEMA {lab.q(lab.prefix + 'x')}")
        finally:
            conn.close()
        conn = lab.login("viewer")
        try:
            denied(conn, f"SELECT * FROM {outside}")
        finally:
            conn.close()


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
