"""``tectum demo``: the whole pipeline on synthetic recordings, in schemas of its own.

The demo declares its tables under its own prefix (:data:`DEMO_PREFIX`,
``tectum_demo_``, or ``--prefix``), so it never writes next to a lab's
recordings; it refuses a prefix that holds recordings other than its own, and
populates and reports only the recordings of its manifest.
"""

from __future__ import annotations

import re
from pathlib import Path

import schemas

from .demo_data import write_demo_dataset
from .errors import TectumError
from .ingest import ingest_manifest
from .manifest import load_manifest
from .report import write_report
from .restriction import KeyRestriction

__all__ = ["DEMO_PREFIX", "run_demo", "demo_keys", "check_prefix"]

#: schema-name prefix of the demo's tables unless another is given
DEMO_PREFIX = "tectum_demo_"


def check_prefix(prefix: str) -> str:
    """Refuse a schema prefix that is not lower-case letters, digits and ``_`` (portable unquoted names)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", prefix):
        raise TectumError(
            f"schema prefix {prefix!r}: use lower-case letters, digits and _ (at most 40), "
            f"starting with a letter, e.g. {DEMO_PREFIX}"
        )
    return prefix


def demo_keys(manifest) -> list[dict]:
    """``{"fish", "recording"}`` of every entry of the demo's manifest."""
    return [{"fish": str(e["fish"]), "recording": str(e["recording"])} for e in load_manifest(manifest)]


def run_demo(
    out_dir="demo_out",
    *,
    prefix: str | None = DEMO_PREFIX,
    n_recordings: int = 3,
    n_rois: int = 300,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate synthetic recordings, ingest their manifest, populate them, write their report.

    Parameters
    ----------
    out_dir : path
        Receives ``data/`` (the recordings and ``manifest.toml``) and ``report/``.
    prefix : str or None
        Schema-name prefix of the demo's tables (default ``tectum_demo_``);
        None uses the prefix already active in this process, or
        ``TECTUM_SCHEMA_PREFIX``. :func:`schemas.activate` binds one prefix
        per process, so a process that activated another prefix must start
        a new one to run the demo.
    n_recordings, n_rois, seed : int
        Size and seed of the synthetic data set.
    progress : bool
        Progress bars and one line per step.

    Returns
    -------
    Path
        The report's ``index.html``.

    Raises
    ------
    TectumError
        If the prefix's schemas hold recordings that are not the demo's.
    """
    if prefix is not None:
        check_prefix(prefix)
    active = schemas.activate(prefix)
    out = Path(out_dir)
    manifest = write_demo_dataset(out / "data", n_recordings=n_recordings, n_rois=n_rois, seed=seed)
    keys = demo_keys(manifest)
    names = {(k["fish"], k["recording"]) for k in keys}
    foreign = [
        f"{k['fish']}/{k['recording']}"
        for k in schemas.acquisition.Recording.keys(order_by="KEY")
        if (k["fish"], k["recording"]) not in names
    ]
    if foreign:
        raise TectumError(
            f"schemas with prefix {active!r} hold recordings that are not the demo's ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); the demo runs only in schemas of its own: "
            f"give another --prefix (default {DEMO_PREFIX})"
        )
    report = ingest_manifest(manifest, progress=progress)
    print(f"ingest: {report.line()}")
    if report.failed:
        raise TectumError("demo data failed to ingest: " + "; ".join(report.failed))
    # only the demo's recordings, by name: what this (or an earlier) demo run inserted
    for table in schemas.populate_all(keys, display_progress=progress):
        print(table.line())
    return write_report(out / "report", KeyRestriction(keys, "the demo's recordings"), progress=progress)
