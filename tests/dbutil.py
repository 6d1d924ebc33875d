"""Helpers shared by the database tests."""

from __future__ import annotations

#: "<schema>.<table>" -> the table's quoted full name; DataJoint builds a table object slowly
_FULL_NAMES: dict[str, str] = {}


def row_counts(db) -> dict[str, int]:
    """Rows in every table of the project's schemas (parts and job tables too), in one query."""
    names = []
    for module in (db.reference, db.acquisition, db.analysis):
        schema = module.schema
        for name in schema.list_tables():  # listed every time: job tables appear on first use
            label = f"{schema.database}.{name}"
            if label not in _FULL_NAMES:
                _FULL_NAMES[label] = schema.get_table(name).full_table_name
            names.append(label)
    sql = " UNION ALL ".join(f"SELECT {i}, COUNT(*) FROM {_FULL_NAMES[label]}" for i, label in enumerate(names))
    counts = dict(db.reference.schema.connection.query(sql).fetchall())
    return {label: int(counts[i]) for i, label in enumerate(names)}


def synthetic_kwargs(rec, fish="F1", recording="R1", **extra) -> dict:
    """insert_recording keyword arguments for a pipeline.synthetic recording."""
    kwargs = dict(
        fish=fish,
        recording=recording,
        region="right_tectum",
        sensor=rec.sensor,
        frame_period_s=rec.frame_period_s,
        traces=rec.traces,
        events=rec.events,
        positions=rec.positions,
        genotype="wild type",
        stimulus_groups=rec.groups,
    )
    kwargs.update(extra)
    return kwargs


def overwrite_stored_traces(db, key, value: float = -5.0) -> None:
    """Overwrite a recording's traces file in the object store behind the database's back.

    Ingest refuses traces on which every ROI has a baseline <= 0, so a recording
    that fails ``DeltaF`` deterministically is made by changing the stored file
    after ingest (a corrupted store file is a fault a lab can meet, too).
    """
    import json
    import os
    from pathlib import Path

    import numpy as np

    table = db.acquisition.RoiTraces
    q = table.connection.adapter.quote_identifier
    sql = f"SELECT traces FROM {table.full_table_name} WHERE {q('fish')} = %s AND {q('recording')} = %s"
    ((raw,),) = table.connection.query(sql, args=(key["fish"], key["recording"])).fetchall()
    meta = raw if isinstance(raw, dict) else json.loads(raw)  # PostgreSQL's driver decodes JSON itself
    path = Path(os.environ["TECTUM_STORE_DIR"]) / meta["path"]
    np.save(path, np.full_like(np.load(path), value))
