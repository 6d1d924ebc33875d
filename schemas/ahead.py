"""Compute a later table's result in a background thread while this process inserts rows.

``populate_all`` fills the tables one after the other, and a ``make()``
spends much of its time waiting for the server to insert its part rows.
While ``Fit.make()`` inserts its rows, the clustering of the same key, which
needs only the dF/F and the fit's r² and selection it already holds, is
computed in a thread (NumPy, fastcluster and SciPy release the GIL for most
of it: a pure-Python loop kept ~75 % of its speed beside it);
``Clustering.make()`` of that key then takes the result instead
of computing it again.

A result is filed under the key and the ``(recording_version, params_hash)``
of the upstream row it was computed from, like the memo in
:mod:`schemas.analysis`, and is taken only when the stored upstream row has
that same provenance. The computations are deterministic, so it is exactly
what the later ``make()`` would compute; an exception is raised there, as if
it had been raised by computing it in place.

Only inside :func:`computing_ahead`, which ``populate_all`` enters when the
process makes every key it is given (no job reservation, where another worker
could take the later key and the work would be wasted) and the later table is
among those it fills. One computation at a time (each holds a dF/F matrix);
whatever has not been taken when the populate ends is dropped. The thread is a
daemon: a stop signal never waits for it.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from contextlib import contextmanager

_lock = threading.Lock()
_pending: dict = {}  # (kind, key..., provenance...) -> Future
_enabled: set[str] = set()  # kinds that may be computed ahead in this process now


def _slot(kind: str, key: dict, provenance) -> tuple:
    return (kind, key["fish"], key["recording"], key["paramset"], *provenance)


@contextmanager
def computing_ahead(kinds):
    """Allow :func:`submit` of the given kinds (e.g. ``{"clustering"}``) inside the block; drop leftovers after."""
    with _lock:
        before = set(_enabled)
        _enabled.update(kinds)
    try:
        yield
    finally:
        with _lock:
            _enabled.clear()
            _enabled.update(before)
            if not _enabled:
                _pending.clear()


def wanted(kind: str) -> bool:
    """Whether a result of ``kind`` may be computed ahead now (enabled and no other computation pending)."""
    with _lock:
        return kind in _enabled and not any(not f.done() for f in _pending.values())


def submit(kind: str, key: dict, provenance, compute) -> bool:
    """Start ``compute()`` in a daemon thread, filed for ``take(kind, key, provenance)``; False if not wanted now."""
    with _lock:
        if kind not in _enabled or any(not f.done() for f in _pending.values()):
            return False
        future: Future = Future()
        _pending[_slot(kind, key, provenance)] = future

    def run():
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(compute())
        except BaseException as err:  # handed to the make() that takes it
            future.set_exception(err)

    threading.Thread(target=run, name=f"tectum-ahead-{kind}", daemon=True).start()
    return True


def take(kind: str, key: dict, provenance):
    """The Future computed ahead for this key and provenance (removed from the store), or None."""
    with _lock:
        return _pending.pop(_slot(kind, key, provenance), None)
