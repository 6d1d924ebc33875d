"""Batch ingestion: every recording of a manifest into the database."""

from __future__ import annotations

from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .errors import InputError


@dataclass
class IngestReport:
    """What ``ingest_manifest`` did, entry by entry."""

    inserted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        return f"{len(self.inserted)} inserted, {len(self.skipped)} already ingested (unchanged), {len(self.failed)} failed"


def ingest_manifest(path, *, replace: bool = False, progress: bool = True, keep_going: bool = True) -> IngestReport:
    """Read a manifest and insert each recording, each one all or nothing.

    Parameters
    ----------
    path : path-like
        The manifest (TOML, one ``[[recording]]`` table per recording).
    replace : bool
        Delete and re-insert recordings that already exist (their computed
        results go with them). Without it an existing recording is reported and
        left unchanged.
    progress : bool
        Show a progress bar over the recordings.
    keep_going : bool
        Go on with the next entry after a bad one (default); the report lists
        the failures. With False the first failure is raised.

    Returns
    -------
    IngestReport
    """
    import schemas
    from schemas.ingest import IngestError

    schemas.activate()

    from .manifest import load_manifest, read_entry

    known_sensors = list(schemas.reference.Sensor().to_arrays("sensor"))
    known_stimuli = list(schemas.reference.StimulusType().to_arrays("stimulus"))
    raw_entries = load_manifest(path)
    report = IngestReport()
    bar = tqdm(raw_entries, desc="ingest", unit="recording", disable=not progress)
    for raw in bar:
        entry = raw.get("_entry", str(path))
        key = {"fish": str(raw.get("fish")), "recording": str(raw.get("recording"))}
        try:
            if not replace and "fish" in raw and "recording" in raw and (schemas.acquisition.Recording & key):
                report.skipped.append(f"{entry}: already ingested; nothing changed (use --replace to re-insert)")
                continue
            rec = read_entry(raw, known_sensors=known_sensors, known_stimuli=known_stimuli)
            # an NWB entry may name its fish only in the file, known only now
            if not replace and "fish" not in raw and (
                    schemas.acquisition.Recording & {"fish": rec.fish, "recording": rec.recording}):
                report.skipped.append(f"{entry}: already ingested as fish {rec.fish}; nothing changed "
                                      "(use --replace to re-insert)")
                continue
            schemas.insert_recording(
                fish=rec.fish,
                recording=rec.recording,
                region=rec.region,
                sensor=rec.sensor,
                frame_period_s=rec.frame_period_s,
                traces=rec.traces,
                events=rec.events,
                trace_kind=rec.traces_kind,
                roi_ids=rec.roi_ids,
                positions=rec.positions,
                neuropil=rec.neuropil,
                experiment=rec.experiment,
                genotype=rec.genotype,
                age_dpf=rec.age_dpf,
                notes=rec.notes,
                recorded_at=rec.recorded_at,
                metadata=rec.metadata,
                replace=replace,
                where=entry,
            )
            report.inserted.append(entry)
        except (InputError, IngestError) as err:
            if not keep_going:
                raise
            report.failed.append(str(err))
            bar.write(f"error: {err}")
    return report


__all__ = ["IngestReport", "ingest_manifest"]
