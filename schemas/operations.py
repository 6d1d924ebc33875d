"""Operations: the running workers (``tectum worker``) and their heartbeats.

One row per worker process, keyed by host and pid (a restarted container with
the same host name and pid replaces its old row). The worker inserts its row
when it starts, updates ``last_seen`` and its counts as it works and sets
``state`` to ``'stopped'`` when it exits cleanly; a worker killed outright
(SIGKILL, a lost machine) leaves ``'running'`` with an old ``last_seen``,
which :func:`tectum.heartbeat.worker_lines` reports as stale.

The table is declared by :func:`schemas.activate` (an administrator's or the
first analyst's run); the roles give analysts rows only, which is what a
worker needs.
"""

from __future__ import annotations

import datajoint as dj

schema = dj.Schema()


@schema
class WorkerHeartbeat(dj.Manual):
    definition = """
    # a populate worker (tectum worker) and when it was last seen alive
    host          : varchar(255)        # platform.node() of the worker's machine (container id in docker)
    pid           : int32               # process id on that host
    ---
    started       : datetime(3)         # database time the worker started
    last_seen     : datetime(3)         # database time of its last heartbeat
    poll_s        : float64             # its poll interval: a heartbeat is due at least this often
    jobs_done     : int32               # makes it completed
    jobs_failed   : int32               # makes that failed (errors, not stops)
    state         : varchar(16)         # running | stopped
    restriction = "" : varchar(1000)    # what it populates (RESTRICTION and --paramset), '' for everything
    """
