"""Batch ingestion: every recording of a manifest into the database."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .errors import InputError


@dataclass
class IngestReport:
    """What ``ingest_manifest`` did, entry by entry.

    Attributes
    ----------
    inserted : list of str
        The entries inserted.
    skipped : list of str
        One line per entry already in the database (left unchanged).
    failed : list of str
        One line per entry that could not be inserted: the error, naming
        the entry.
    warnings : list of str
        Inserted, but with something to look at (e.g. ROIs the default
        analysis leaves out), naming the entry.
    stimulus_types_added : list of str
        Stimulus types of the manifest's ``[stimulus_types]`` table that
        were new to the database.
    """

    inserted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stimulus_types_added: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        return f"{len(self.inserted)} inserted, {len(self.skipped)} already ingested (unchanged), {len(self.failed)} failed"


def declare_stimulus_types(manifest, reference) -> list[str]:
    """Add the manifest's ``[stimulus_types]`` to ``reference.StimulusType``; return the new names.

    Every declared type is checked against the database first, so a
    conflicting description (the name exists with another description) is
    an error naming it, raised before anything is written; the new ones
    are then added in one transaction.
    """
    declared = manifest.stimulus_types
    if not declared:
        return []
    table = reference.StimulusType
    existing = {
        row["stimulus"]: row["description"] for row in (table & [{"stimulus": name} for name in declared]).to_dicts()
    }
    for name, description in declared.items():
        have = existing.get(name)
        if have and description and have != description:
            raise InputError(
                f"[stimulus_types] '{name}': the database already has this stimulus type with the "
                f"description {have!r}, not {description!r}; use another name or the same description",
                path=manifest.path,
                role="manifest file",
            )
    added = []
    with table.connection.transaction:
        for name, description in declared.items():
            if table.add(name, description, exist_ok=True):
                added.append(name)
    return added


def ingest_manifest(
    path,
    *,
    replace: bool = False,
    progress: bool = True,
    keep_going: bool = True,
    absolute_paths: bool = False,
) -> IngestReport:
    """Read a manifest and insert each recording, each one all or nothing.

    The stimulus types the manifest declares (``[stimulus_types]``) are
    added first. Then every entry is attempted: a bad one is reported (its
    error names the entry and, where one is at fault, the file, stimulus,
    parameter or ROI) and leaves the database as it was, and the next entry
    is tried.

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
    absolute_paths : bool
        Store the source files' absolute paths in each recording's metadata
        (default: relative to the manifest's folder).

    Returns
    -------
    IngestReport

    Raises
    ------
    InputError
        Problems of the manifest as a whole (unreadable, invalid TOML, a bad
        or conflicting ``[stimulus_types]`` table), before anything is
        written; with ``keep_going=False`` also the first bad entry.
    """
    import schemas
    from schemas.ingest import IngestError, IngestWarning

    schemas.activate()

    from .manifest import parse_manifest, read_entry

    manifest = parse_manifest(path)
    report = IngestReport()
    report.stimulus_types_added = declare_stimulus_types(manifest, schemas.reference)
    known_sensors = list(schemas.reference.Sensor().to_arrays("sensor"))
    known_stimuli = list(schemas.reference.StimulusType().to_arrays("stimulus"))
    bar = tqdm(list(enumerate(manifest.entries)), desc="ingest", unit="recording", disable=not progress)
    for index, raw in bar:
        entry = raw["_entry"]
        try:
            if index in manifest.problems:
                raise manifest.problems[index]
            # names are checked (exact, no surrounding white space), so this finds only this recording
            key = {"fish": str(raw.get("fish")), "recording": str(raw.get("recording"))}
            if not replace and "fish" in raw and (schemas.acquisition.Recording & key):
                report.skipped.append(f"{entry}: already ingested; nothing changed (use --replace to re-insert)")
                continue
            rec = read_entry(
                raw, known_sensors=known_sensors, known_stimuli=known_stimuli, absolute_paths=absolute_paths
            )
            # an NWB entry may name its fish only in the file, known only now
            if (
                not replace
                and "fish" not in raw
                and (schemas.acquisition.Recording & {"fish": rec.fish, "recording": rec.recording})
            ):
                report.skipped.append(
                    f"{entry}: already ingested as fish {rec.fish}; nothing changed (use --replace to re-insert)"
                )
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", IngestWarning)
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
                    stimulus_groups=rec.groups,
                )
            for w in caught:
                if issubclass(w.category, IngestWarning):
                    report.warnings.append(str(w.message))
                else:  # not ours: let it reach the user as usual
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            report.inserted.append(entry)
        except (InputError, IngestError) as err:
            if not keep_going:
                raise
            report.failed.append(str(err))
            bar.write(f"error: {err}")
        except Exception as err:  # noqa: BLE001 - a bug or a lost connection must not stop the batch unreported
            if not keep_going:
                raise
            message = f"{entry}: {type(err).__name__}: {err}"
            report.failed.append(message)
            bar.write(f"error: {message}")
    return report


__all__ = ["IngestReport", "declare_stimulus_types", "ingest_manifest"]
