"""``tectum status``: what is ingested, made, running, failed, waiting or stale; store checks.

Read-only: nothing here creates a table. DataJoint declares a computed
table's job table (``~~name``) on the first access of ``table.jobs``, so
job tables are only ever looked at through :func:`existing_jobs`, which
answers None for one that is not there (a fresh database, or a viewer on a
schema whose job tables the administrator has not declared yet).

The report is a list of sections (:data:`SECTIONS`), each a function of one
:class:`StatusQuery` returning lines; a command that wants more (e.g. the
workers' heartbeats) appends its own section there.

Every analysis task (a recording and a parameter set assigned to it, within
the restriction) is counted exactly once per computed table, in the first of
these states that applies (:data:`STATES`):

``made``
    the table has its row;
``failed``
    its job row holds an error (recorded by ``populate --reserve-jobs`` only);
``running``
    reserved by a worker that is alive, or that cannot be judged from here
    (another host);
``left by a dead worker``
    reserved by a process of this host that no longer exists, or by this very
    process (:func:`tectum.workers.find_stale_jobs`: status reserves nothing,
    so such a row is from an earlier process with the same pid); the next
    ``populate --reserve-jobs`` re-queues it;
``ignored``
    marked ``ignore`` in DataJoint's job table;
``waiting for upstream``
    not in the table's key source: an upstream row is missing;
``not started``
    ready to compute, no row and no job (or a queued one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "STATES",
    "SECTIONS",
    "StatusQuery",
    "TableStatus",
    "status_lines",
    "table_status",
    "stale_rows",
    "retry_failed",
    "existing_jobs",
]

#: the states of an analysis task in one computed table, in the order they are decided and printed
STATES = ("made", "failed", "running", "left by a dead worker", "ignored", "waiting for upstream", "not started")

#: the primary key of every computed table (and of AnalysisTask)
KEY = ("fish", "recording", "paramset")


@dataclass
class StatusQuery:
    """What ``tectum status`` was asked: the options every section sees.

    Parameters
    ----------
    restriction : str
        A recording-level restriction (as ``tectum populate`` takes), or "".
    keys : bool
        List the keys behind the counts.
    stale : bool
        Check every computed row's provenance against the current inputs.
    store : bool or None
        Check the object store; None: only when it is a file store (listing
        a bucket of a big project takes a long time).
    """

    restriction: str = ""
    keys: bool = False
    stale: bool = False
    store: bool | None = None
    #: the restriction bound to AnalysisTask (set by :func:`status_lines`)
    tasks: object = None


@dataclass
class TableStatus:
    """The analysis tasks of one computed table, by state."""

    table: str
    total: int
    keys: dict = field(default_factory=dict)  # state -> [(key dict, detail)]
    queued: int = 0  # of the not-started keys, how many have a pending job
    jobs_declared: bool = True

    def count(self, state: str) -> int:
        return len(self.keys.get(state, ()))

    def line(self) -> str:
        parts = [f"{self.count('made')}/{self.total} made"]
        for state in STATES[1:]:
            n = self.count(state)
            if n:
                parts.append(
                    f"{n} {state}" + (f" ({self.queued} queued)" if state == "not started" and self.queued else "")
                )
        return f"{self.table:<18} " + ", ".join(parts)


def _tuple(row: dict) -> tuple:
    return tuple(row[k] for k in KEY)


def _key_text(key: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def _one_line(text) -> str:
    return " ".join(str(text or "").split())


def existing_jobs(table):
    """The DataJoint job table of ``table`` if it is declared, else None (never declares it)."""
    from datajoint.jobs import Job

    jobs = Job(table)
    return jobs if jobs.is_declared else None


def _restricted(expr, tasks):
    return expr & tasks if tasks is not None else expr


def _upstream_detail(table, tasks):
    """A function telling which upstream input of ``table`` a waiting key lacks (one query per parent table)."""
    from schemas import acquisition, analysis

    computed = {cls().full_table_name: cls for cls in analysis.COMPUTED_TABLES}
    parents = [
        (computed[name].__name__, {_tuple(k) for k in _restricted(computed[name]().proj(), tasks).keys()})
        for name in table.parents(primary=True)
        if name in computed
    ]

    def detail(key: dict) -> str:
        missing = [name for name, made in parents if _tuple(key) not in made]
        if missing:
            return "no " + " and no ".join(f"{name} row" for name in missing)
        # the key sources that add a condition on the recording (rare: one query each)
        recording = {"fish": key["fish"], "recording": key["recording"]}
        if isinstance(table, analysis.DeltaF) and not (acquisition.RoiTraces & recording):
            return "the recording has no traces"
        if isinstance(table, analysis.Regressors) and not (acquisition.Presentation & recording):
            return "the recording has no stimulus presentations"
        return "an upstream input is missing"

    return detail


def table_status(table_cls, tasks=None, *, task_keys=None) -> TableStatus:
    """Classify every analysis task within ``tasks`` (a restriction, or None) for one computed table.

    ``task_keys`` (the tasks' keys, as dicts) may be passed when already fetched.
    """
    from schemas import analysis

    from .workers import find_stale_jobs

    table = table_cls()
    name = table_cls.__name__
    if task_keys is None:
        task_keys = _restricted(analysis.AnalysisTask(), tasks).keys(order_by=KEY)
    made = {_tuple(k) for k in _restricted(table.proj(), tasks).keys()}
    ready = {_tuple(k) for k in _restricted(table.key_source.proj(), tasks).keys()}
    jobs = existing_jobs(table)
    job_rows, dead = {}, set()
    if jobs is not None:
        columns = ("status", "host", "pid", "reserved_time", "error_message")
        wanted = {_tuple(k) for k in task_keys}
        # filtered here: DataJoint refuses to join a job table (attributes of its own lineage) with the tasks
        # (success rows, which DJ_JOBS_KEEP_COMPLETED keeps, say nothing a made row does not)
        for row in (jobs & "status != 'success'").proj(*columns).to_dicts():
            if _tuple(row) in wanted:
                job_rows[_tuple(row)] = row
        if any(row["status"] == "reserved" for row in job_rows.values()):
            # the rule populate --reserve-jobs re-queues by (a dead process of this host)
            dead = {_tuple(s.key) for s in find_stale_jobs(table, lost_connections=False)}
    status = TableStatus(name, len(task_keys), {state: [] for state in STATES}, jobs_declared=jobs is not None)
    upstream = None  # made when the first waiting key needs it
    for key in task_keys:
        t = _tuple(key)
        job = job_rows.get(t)
        job_status = job["status"] if job else None
        if t in made:
            state, detail = "made", ""
        elif job_status == "error":
            state, detail = "failed", _one_line(job["error_message"])
        elif job_status == "reserved":
            who = f"pid {job['pid']} on {job['host'] or '?'}, reserved {job['reserved_time']}"
            if t in dead:
                state, detail = "left by a dead worker", f"{who} (the next populate --reserve-jobs re-queues it)"
            else:
                state, detail = "running", who
        elif job_status == "ignore":
            state, detail = "ignored", "marked 'ignore' in the job table"
        elif t not in ready:
            upstream = upstream or _upstream_detail(table, tasks)
            state, detail = "waiting for upstream", upstream(key)
        else:
            state, detail = "not started", "queued" if job_status == "pending" else ""
            status.queued += job_status == "pending"
        status.keys[state].append((dict(key), detail))
    return status


# --------------------------------------------------------------------------- sections


def header_lines(query: StatusQuery) -> list[str]:
    """The schemas, what is ingested and the parameter sets."""
    from schemas import acquisition, analysis, reference

    return [
        f"schemas: {reference.schema.database}, {acquisition.schema.database}, {analysis.schema.database}",
        f"ingested: {len(acquisition.Fish())} fish, {len(acquisition.Recording())} recordings, "
        f"{len(acquisition.RoiTraces.Roi())} ROIs; parameter sets: "
        + ", ".join(reference.ParamSet().to_arrays("paramset")),
    ]


def table_lines(query: StatusQuery) -> list[str]:
    """One line per computed table (its keys by state), then with ``keys`` the keys not made."""
    from schemas import analysis

    task_keys = _restricted(analysis.AnalysisTask(), query.tasks).keys(order_by=KEY)
    where = f" matching {query.restriction!r}" if query.tasks is not None else ""
    lines = [f"analysis tasks (recording x parameter set){where}: {len(task_keys)}"]
    statuses = []
    for table_cls in analysis.COMPUTED_TABLES:
        if not table_cls().is_declared:
            lines.append(f"{table_cls.__name__:<18} not declared (the administrator runs tectum db create-roles)")
            continue
        status = table_status(table_cls, query.tasks, task_keys=task_keys)
        statuses.append(status)
        lines.append(status.line())
    undeclared = [s.table for s in statuses if not s.jobs_declared]
    if undeclared:
        lines.append(
            f"job tables not declared yet for {', '.join(undeclared)}: failures and reservations are "
            "recorded there only by populate --reserve-jobs, which (or tectum db create-roles) declares them"
        )
    if any(s.count("failed") for s in statuses) and not query.keys:
        lines.append(
            "failed keys and their errors: tectum status --keys; "
            "tectum status --retry-failed lets the next populate retry them"
        )
    if query.keys:
        for status in statuses:
            for state in STATES[1:]:
                for key, detail in status.keys[state]:
                    lines.append(f"  {status.table} [{_key_text(key)}] {state}" + (f": {detail}" if detail else ""))
    return lines


def stale_rows(table_cls, tasks=None) -> list[tuple[dict, list[str]]]:
    """The rows of a computed table (within ``tasks``) whose provenance differs from the inputs now.

    A row is stale when it was computed by another ``tectum`` version, with
    parameters whose hash differs from the one its parameter set stores now,
    or from a recording version that is not the recording's current one.
    Returns ``[(key, [reason, ...]), ...]``.
    """
    from schemas import acquisition, analysis, reference

    version = analysis.pipeline_version()
    hashes = dict(zip(*reference.ParamSet().to_arrays("paramset", "params_hash")))
    recordings = {(f, r): v for f, r, v in zip(*acquisition.Recording().to_arrays("fish", "recording", "version"))}
    stale = []
    rows = _restricted(table_cls.Provenance(), tasks).to_dicts(order_by=KEY)
    for row in rows:
        reasons = []
        if row["pipeline_version"] != version:
            reasons.append(f"computed by tectum {row['pipeline_version']} (this is {version})")
        if row["params_hash"] != hashes.get(row["paramset"]):
            reasons.append(
                f"parameter set {row['paramset']} changed since (params_hash {row['params_hash']}, "
                f"now {hashes.get(row['paramset'])})"
            )
        if row["recording_version"] != recordings.get((row["fish"], row["recording"])):
            reasons.append("the recording was replaced since")
        if reasons:
            stale.append(({k: row[k] for k in KEY}, reasons))
    return stale


def delete_stale(tasks=None) -> dict[str, int]:
    """Delete the stale rows (within ``tasks``) of every computed table, with their downstream rows.

    Tables are visited upstream first, each checked after the deletions
    above it (a deleted row's downstream rows are gone with it, by
    DataJoint's cascade). Only computed rows are deleted; what was ingested
    stays. Returns the stale rows deleted per table (downstream rows that went
    with them not counted); the next populate computes them again.
    """
    from schemas import analysis

    from .access import require_write_access

    require_write_access(analysis.COMPUTED_TABLES)
    deleted = {}
    for table_cls in analysis.COMPUTED_TABLES:
        keys = [key for key, _ in stale_rows(table_cls, tasks)]
        if keys:
            (table_cls & keys).delete(prompt=False)
            deleted[table_cls.__name__] = len(keys)
    return deleted


def stale_lines(query: StatusQuery) -> list[str]:
    """With ``stale``: per table the rows computed from other inputs, parameters or versions than now."""
    if not query.stale:
        return []
    from schemas import analysis

    lines, found = [], 0
    for table_cls in analysis.COMPUTED_TABLES:
        rows = stale_rows(table_cls, query.tasks)
        found += len(rows)
        kinds = {
            "another tectum version": sum(any(r.startswith("computed by") for r in rs) for _, rs in rows),
            "changed parameters": sum(any(r.startswith("parameter set") for r in rs) for _, rs in rows),
            "replaced recording": sum(any(r.startswith("the recording") for r in rs) for _, rs in rows),
        }
        detail = ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)
        lines.append(f"stale {table_cls.__name__:<18} {len(rows)} row(s)" + (f" ({detail})" if detail else ""))
        if query.keys:
            lines += [f"  {table_cls.__name__} [{_key_text(key)}] stale: {'; '.join(rs)}" for key, rs in rows]
    if found:
        lines.append(
            "stale rows stay until recomputed: tectum populate --recompute-stale [RESTRICTION] deletes them "
            "(their downstream rows go with them) and computes them again"
        )
    return lines


def store_lines(query: StatusQuery) -> list[str]:
    """Files no row refers to, and rows whose file is missing (see :func:`tectum.store.check_store`)."""
    from .store import check_store, is_file_store, size_text

    if query.store is False or (query.store is None and not is_file_store()):
        return (
            ["store: not checked (listing a bucket can take long: tectum status --store)"]
            if query.store is None
            else []
        )
    check = check_store()
    if check.scan_errors:
        return [f"store: could not be listed, not checked: {check.scan_errors[0]}"]
    line = (
        f"store: {check.stored} file(s) ({size_text(check.stored_bytes)}), {len(check.orphaned)} not referenced "
        f"by any row ({size_text(check.orphaned_bytes)})"
    )
    if check.orphaned:
        line += "; tectum db gc removes them"
    lines = [line]
    if check.missing:
        tables = sorted({m.table for m in check.missing})
        lines.append(
            f"store: {len(check.missing)} row(s) refer to a missing file ({', '.join(tables)})"
            + ("" if query.keys else "; tectum status --store --keys lists them")
        )
        if query.keys:
            lines += [f"  {m.table} [{_key_text(m.key)}] {m.attribute}: file missing ({m.path})" for m in check.missing]
    return lines


def worker_section(query: StatusQuery) -> list[str]:
    """Running and stale ``tectum worker`` processes (heartbeats); stopped ones counted, or listed with --keys."""
    from .heartbeat import worker_lines

    lines = worker_lines()
    shown = [line for line in lines if query.keys or "  stopped  " not in line]
    n_stopped = sum("  stopped  " in line for line in lines) if not query.keys else 0
    if n_stopped:
        shown.append(f"workers: {n_stopped} stopped (tectum status --keys lists them)")
    return shown


#: the sections of the report, in order; each takes the StatusQuery and returns lines
SECTIONS = [header_lines, table_lines, worker_section, stale_lines, store_lines]


def bind_restriction(text: str):
    """``text`` bound to AnalysisTask as ``tectum populate`` binds it (strict names), or None when blank."""
    from schemas import analysis

    from .restriction import key_restriction, recording_tables

    return key_restriction(analysis.AnalysisTask, text, allowed_extra=recording_tables())


def status_lines(
    restriction: str = "", *, keys: bool = False, stale: bool = False, store: bool | None = None, sections=None
) -> list[str]:
    """The status report, one line per item (read-only; see :class:`StatusQuery` for the options)."""
    import schemas

    schemas.activate(create_tables=False)
    query = StatusQuery(restriction=restriction, keys=keys, stale=stale, store=store)
    query.tasks = bind_restriction(restriction)
    lines = []
    for section in SECTIONS if sections is None else sections:
        lines += section(query)
    return lines


def retry_failed(tasks=None) -> dict[str, int]:
    """Delete the error job rows (within ``tasks``) so the next ``populate --reserve-jobs`` computes them again.

    Returns the number deleted per table. Tables without a job table are skipped (nothing failed there).
    """
    from schemas import analysis

    from .access import require_write_access

    deleted = {}
    tables = [(table_cls.__name__, existing_jobs(table_cls())) for table_cls in analysis.COMPUTED_TABLES]
    tables = [(name, jobs) for name, jobs in tables if jobs is not None]
    require_write_access([jobs for _, jobs in tables])  # a viewer is refused even when nothing has failed
    for name, jobs in tables:
        failed = jobs.errors.keys()
        if tasks is not None:  # by key: a job table does not join with the tasks (see table_status)
            wanted = {_tuple(k) for k in (analysis.AnalysisTask & tasks).keys()}
            failed = [k for k in failed if _tuple(k) in wanted]
        n = 0
        for start in range(0, len(failed), 500):
            n += (jobs.errors & failed[start : start + 500]).delete_quick(get_count=True)
        if n:
            deleted[name] = int(n)
    return deleted
