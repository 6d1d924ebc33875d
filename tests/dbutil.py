"""Helpers shared by the database tests."""

from __future__ import annotations


def row_counts(db) -> dict[str, int]:
    """Rows in every table of the project's schemas (parts and job tables too)."""
    counts = {}
    for module in (db.reference, db.acquisition, db.analysis):
        schema = module.schema
        for name in schema.list_tables():
            counts[f"{schema.database}.{name}"] = len(schema.get_table(name))
    return counts


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
