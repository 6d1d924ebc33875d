"""``tectum demo``: the whole pipeline on synthetic recordings, through the manifest path."""

from __future__ import annotations

from pathlib import Path


def run_demo(out_dir="demo_out", *, n_recordings: int = 3, n_rois: int = 300, seed: int = 0, progress: bool = True) -> Path:
    """Generate synthetic recordings, ingest their manifest, populate, write the report.

    Returns the path of the report's ``index.html``.
    """
    import schemas

    schemas.activate()

    from .demo_data import write_demo_dataset
    from .ingest import ingest_manifest
    from .report import write_report

    out = Path(out_dir)
    manifest = write_demo_dataset(out / "data", n_recordings=n_recordings, n_rois=n_rois, seed=seed)
    report = ingest_manifest(manifest, progress=progress)
    print(f"ingest: {report.line()}")
    if report.failed:
        raise RuntimeError("demo data failed to ingest: " + "; ".join(report.failed))
    for table in schemas.populate_all(display_progress=progress):
        print(table.line())
    return write_report(out / "report", {}, progress=progress)
