"""The tables each command lets a restriction name besides its own."""

from __future__ import annotations

from schemas import acquisition, analysis

__all__ = ["recording_tables", "roi_tables"]


def recording_tables() -> tuple:
    """Tables any recording-level restriction may also name: the recording's and the fish's attributes."""
    return (acquisition.Recording(), acquisition.Fish())


def roi_tables() -> tuple:
    """Tables a per-ROI restriction (export) may also name: the recording, fish, ROI, class and flat cluster.

    ``cluster`` is the flat cluster among all ROIs (``Clustering.Member`` of ``roi_set='all'``), as exported.
    """
    return (
        acquisition.RoiTraces.Roi.proj("source_id", "x", "y", "z"),
        analysis.Classification.Roi.proj("roi_class", "score", "margin"),
        (analysis.Clustering.Member & {"roi_set": "all"}).proj("cluster", "leaf_rank"),
        *recording_tables(),
    )
