"""The batch manifest: which files make up which recording.

A manifest is a TOML file with one ``[[recording]]`` table per recording::

    [[recording]]
    fish = "F1"
    recording = "R1"
    experiment = "MF343"
    region = "right_tectum"
    sensor = "GCaMP6s"
    genotype = "gad1b:Gal4; UAS:NTR-mCherry"
    age_dpf = 7
    recorded_at = 2024-03-01T10:30:00
    traces = "data/F1_R1.npy"          # .npy, .csv/.tsv/.txt, or a suite2p plane folder
    frame_period_s = 1.0               # or femtonics_metadata = "data/F1_R1.txt"
    events = "data/F1_R1_events.csv"   # or protocol = "...pkl" with a stimuli table
    # or, instead of traces/frame period/events: nwb = "data/F1_R1.nwb" (see read_entry)

    [recording.stimuli]                # protocol column stem -> stimulus name
    stim1 = "prey"

    [recording.groups]                 # regressor -> stimuli it pools
    prey = ["prey-nasalward", "prey-temporalward"]

    [stimulus_types]                   # new stimulus names, added before the recordings
    flash = "whole-field flash of light"

Paths are relative to the manifest's folder.  :func:`parse_manifest` checks
the manifest as a whole (TOML, tables, ``[stimulus_types]``) and each entry's
keys and names; :func:`read_entry` then reads one recording's files.
:func:`read_manifest` raises the first problem of any entry before reading
(so a typo in entry #40 fails before entry #1 is processed);
``tectum ingest`` reports a bad entry and goes on with the others.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import os
import re
import tomllib
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas import plausibility
from schemas.names import check_identifier
from schemas.reference import RESERVED_CLASS_NAMES

from . import readers
from .errors import InputError

__all__ = [
    "MANIFEST_KEYS",
    "REQUIRED_KEYS",
    "TOP_LEVEL_KEYS",
    "Manifest",
    "RecordingInput",
    "check_entry",
    "load_manifest",
    "parse_manifest",
    "read_entry",
    "read_manifest",
]

#: the keys a ``[[recording]]`` table may have
MANIFEST_KEYS = (
    "fish",
    "recording",
    "experiment",
    "region",
    "sensor",
    "genotype",
    "notes",
    "age_dpf",
    "recorded_at",
    "frame_period_s",
    "femtonics_metadata",
    "traces",
    "traces_kind",
    "traces_header",
    "traces_index_column",
    "traces_orientation",
    "neuropil",
    "positions",
    "include_non_cells",
    "events",
    "protocol",
    "stimuli",
    "split_prey_direction",
    "protocol_time_tolerance_s",
    "groups",
    "nwb",
    "nwb_series",
    "nwb_stimulus_table",
    "nwb_stimulus_column",
)

#: the tables a manifest may have at its top level
TOP_LEVEL_KEYS = ("recording", "stimulus_types")

#: keys every ``[[recording]]`` table needs
REQUIRED_KEYS = ("fish", "recording", "region", "sensor", "traces")

#: keys a ``[[recording]]`` table with ``nwb`` needs; the file gives the fish and sensor
NWB_REQUIRED_KEYS = ("recording", "region")

#: keys that do not apply with ``nwb``: the file holds what they would give
_NOT_WITH_NWB = ("traces", "neuropil", "positions", "femtonics_metadata")
_NWB_STIMULUS_KEYS = ("nwb_stimulus_table", "nwb_stimulus_column")

#: manifest and NWB frame periods agree when they differ by at most this fraction
NWB_PERIOD_RTOL = 1e-3

TRACES_KINDS = ("raw", "dff")

# keys load_manifest adds; a user's TOML may not set them
_PRIVATE_KEYS = ("_entry", "_base")

_STRING_KEYS = (
    "fish",
    "recording",
    "experiment",
    "region",
    "sensor",
    "genotype",
    "notes",
    "femtonics_metadata",
    "traces",
    "traces_kind",
    "traces_orientation",
    "neuropil",
    "positions",
    "events",
    "protocol",
    "nwb",
    "nwb_series",
    "nwb_stimulus_table",
    "nwb_stimulus_column",
)
_BOOL_KEYS = ("include_non_cells", "split_prey_direction", "traces_header", "traces_index_column")
#: names the manifest gives that identify rows; checked like the database does
_IDENTIFIERS = {"fish": 64, "recording": 64}
_TEXT_TRACE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")


@dataclass(eq=False)
class RecordingInput:
    """One recording read from its files, ready for the database layer.

    Attributes
    ----------
    entry : str
        The manifest entry it came from, for messages.
    fish, recording, experiment, region, sensor, genotype, notes : str or None
        Identifiers and annotations as written (``sensor`` canonicalised
        when known sensors were given).
    age_dpf : float or None
    recorded_at : datetime.datetime or None
    frame_period_s : float
        Seconds between frames, > 0.
    traces : numpy.ndarray
        float32, ROIs x frames.
    traces_kind : {"raw", "dff"}
    roi_ids : numpy.ndarray
        int64, one unique id per ROI row (suite2p index, CSV label or row).
    positions : numpy.ndarray or None
        float64, ROIs x 3 (x, y, z) in pixels.
    neuropil : numpy.ndarray or None
        float32, same shape as ``traces``.
    events : pandas.DataFrame
        ``stimulus``, ``onset_s``, ``duration_s``, ``params``, by onset.
    metadata : dict
        JSON-compatible imaging metadata: source paths (relative to the
        manifest's folder unless asked otherwise), the frame period and where
        it came from, the traces layout, Femtonics fields, suite2p ops subset,
        protocol metadata.
    groups : dict of str to list of str, or None
        Regressor -> stimulus names it pools, from the manifest.
    """

    entry: str
    fish: str
    recording: str
    experiment: str | None
    region: str
    sensor: str
    genotype: str | None
    notes: str | None
    age_dpf: float | None
    recorded_at: _dt.datetime | None
    frame_period_s: float
    traces: np.ndarray = field(repr=False)
    traces_kind: str
    roi_ids: np.ndarray = field(repr=False)
    positions: np.ndarray | None = field(repr=False)
    neuropil: np.ndarray | None = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    metadata: dict = field(repr=False)
    groups: dict[str, list[str]] | None = None

    @property
    def n_rois(self) -> int:
        """Number of ROIs (rows of ``traces``)."""
        return int(self.traces.shape[0])

    @property
    def n_frames(self) -> int:
        """Number of frames (columns of ``traces``)."""
        return int(self.traces.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the recording, ``n_frames * frame_period_s``."""
        return self.n_frames * self.frame_period_s


# ---------------------------------------------------------------------------
# loading and structural checks


def _entry_name(manifest: str, number: int | None, table: Mapping) -> str:
    name = f"{manifest} entry #{number}" if number is not None else f"{manifest} entry"
    ids = [f"{key} {table[key]}" for key in ("fish", "recording") if table.get(key) not in (None, "")]
    return f"{name} ({', '.join(ids)})" if ids else name


def _toml_error(exc: tomllib.TOMLDecodeError) -> str:
    text = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", text)
    if match:
        return f"invalid TOML at line {match[1]}, column {match[2]}: {text[: match.start()]}"
    return f"invalid TOML: {text}"


@dataclass(eq=False)
class Manifest:
    """A parsed manifest: its recording entries and the stimulus types it declares.

    Attributes
    ----------
    path : pathlib.Path
    entries : list of dict
        The ``[[recording]]`` tables as written, each with two added private
        keys: ``_entry`` (e.g. ``"manifest.toml entry #2 (fish F1, recording
        R3)"``) and ``_base`` (the manifest's folder, against which relative
        paths resolve).
    problems : dict of int to InputError
        Entry index (0-based) -> what is wrong with its keys or names; such
        an entry cannot be read, the others can.
    stimulus_types : dict of str to str
        The ``[stimulus_types]`` table: stimulus name -> description.
    """

    path: Path
    entries: list[dict]
    problems: dict[int, InputError]
    stimulus_types: dict[str, str]


def parse_manifest(path: str | PathLike) -> Manifest:
    """Parse a manifest and check its structure, entry by entry.

    Parameters
    ----------
    path : str or path-like
        The TOML manifest.

    Returns
    -------
    Manifest

    Raises
    ------
    InputError
        Problems of the manifest as a whole: missing or unreadable file,
        invalid TOML (with the line), an unknown top-level table, no
        ``[[recording]]`` tables, a bad ``[stimulus_types]`` table. A bad
        entry (see :func:`check_entry`; also the same fish and recording as
        an earlier entry) is recorded in ``problems`` instead.
    """
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise InputError("manifest not found" if not path.exists() else "is a folder", path=path, role="manifest file")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(_toml_error(exc), path=path, role="manifest file") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path, role="manifest file"
        ) from None

    tables = data.get("recording")
    if tables is None:
        hint = difflib.get_close_matches("recording", list(data), n=1)
        extra = f"; did you mean [[{hint[0]}]]?" if hint else ""
        raise InputError(f"no [[recording]] tables{extra}", path=path, role="manifest file")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            hint = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (accepted: {', '.join(TOP_LEVEL_KEYS)})"
            raise InputError(f"unknown top-level key '{key}'{suggestion}", path=path, role="manifest file")
    if isinstance(tables, dict):
        raise InputError(
            "'recording' must be an array of tables: write [[recording]], not [recording]",
            path=path,
            role="manifest file",
        )
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError("'recording' must be an array of tables ([[recording]])", path=path, role="manifest file")
    if not tables:
        raise InputError("no [[recording]] tables", path=path, role="manifest file")
    stimulus_types = _stimulus_types(data.get("stimulus_types"), path)

    base = path.parent.resolve()
    entries, problems, seen = [], {}, {}
    for number, table in enumerate(tables, start=1):
        entry = _entry_name(label, number, table)
        raw = dict(table, _entry=entry, _base=base)
        entries.append(raw)
        try:
            for key in table:
                if key in _PRIVATE_KEYS:
                    raise InputError(f"unknown key '{key}'", entry=entry)
            check_entry(raw)
            ident = (str(raw.get("fish")), str(raw["recording"]))
            # an NWB entry without fish gets it from the file, so duplicates show only on insert
            if "fish" in raw and ident in seen:
                raise InputError(
                    f"fish '{ident[0]}', recording '{ident[1]}' is already entry #{seen[ident]}: "
                    "each recording may appear once per manifest",
                    entry=entry,
                )
            seen[ident] = number
        except InputError as err:
            problems[number - 1] = err
    return Manifest(path=path, entries=entries, problems=problems, stimulus_types=stimulus_types)


def _stimulus_types(table: Any, path: Path) -> dict[str, str]:
    """The ``[stimulus_types]`` table checked: names as the database needs them, text descriptions."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise InputError(
            f'[stimulus_types] must be a table of name = "description", got {table!r}', path=path, role="manifest file"
        )
    out = {}
    for name, description in table.items():
        where = f"[stimulus_types] '{name}'"
        try:
            check_identifier("stimulus", name, max_len=64)
        except ValueError as err:
            raise InputError(f"{where}: {err}", path=path, role="manifest file") from None
        if name in RESERVED_CLASS_NAMES:
            raise InputError(
                f"{where}: the name is reserved for a response class "
                f"({', '.join(RESERVED_CLASS_NAMES)}); choose another",
                path=path,
                role="manifest file",
            )
        if not isinstance(description, str):
            raise InputError(
                f'{where}: the description must be text, e.g. {name} = "what it shows"; got {description!r}',
                path=path,
                role="manifest file",
            )
        if len(description) > 255:
            raise InputError(
                f"{where}: the description is {len(description)} characters long; at most 255 fit",
                path=path,
                role="manifest file",
            )
        out[name] = description
    return out


def load_manifest(path: str | PathLike) -> list[dict]:
    """Parse a manifest and check its structure; raise the first bad entry.

    Parameters
    ----------
    path : str or path-like
        The TOML manifest.

    Returns
    -------
    list of dict
        :attr:`Manifest.entries` of :func:`parse_manifest`.

    Raises
    ------
    InputError
        As :func:`parse_manifest`, and the first entry's problem if any
        entry has one.
    """
    manifest = parse_manifest(path)
    if manifest.problems:
        raise manifest.problems[min(manifest.problems)]
    return manifest.entries


def _resolve(base: Path, written: str) -> Path:
    path = Path(written).expanduser()
    return path if path.is_absolute() else base / path


def check_entry(raw: Mapping) -> None:
    """Check the keys and value types of one ``[[recording]]`` table.

    Only the file system's answer to "is ``traces`` a folder?" is consulted
    (it decides whether a suite2p ``ops.npy`` may supply the frame period);
    files are not opened.

    Raises
    ------
    InputError
        Unknown key (with the closest accepted key), missing required key,
        both or neither of ``events``/``protocol``, no frame period source,
        a value of the wrong type, an option that does not apply.
    """
    entry = raw.get("_entry") or _entry_name("manifest", None, raw)
    for key in raw:
        if key in MANIFEST_KEYS or key in _PRIVATE_KEYS:
            continue
        hint = difflib.get_close_matches(str(key), MANIFEST_KEYS, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (accepted: {', '.join(MANIFEST_KEYS)})"
        raise InputError(f"unknown key '{key}'{suggestion}", entry=entry)

    nwb = "nwb" in raw
    missing = [key for key in (NWB_REQUIRED_KEYS if nwb else REQUIRED_KEYS) if key not in raw]
    if missing:
        raise InputError(f"missing required key(s): {', '.join(missing)}", entry=entry)
    if nwb:
        _check_nwb_keys(raw, entry)
    else:
        for key in MANIFEST_KEYS:
            if key.startswith("nwb_") and key in raw:
                raise InputError(f"'{key}' only applies to an 'nwb' file", entry=entry)
    if "events" in raw and "protocol" in raw:
        raise InputError("give either 'events' or 'protocol', not both", entry=entry)
    if not nwb and "events" not in raw and "protocol" not in raw:
        raise InputError("missing stimuli: give 'events' (a CSV/TSV table) or 'protocol' (a pickle)", entry=entry)

    _check_types(raw, entry)

    if "protocol" in raw and "stimuli" not in raw:
        raise InputError(
            "'protocol' needs a stimuli table mapping protocol columns to names, "
            'e.g. stimuli = { stim1 = "prey", stim2 = "looming" }',
            entry=entry,
        )
    for key in ("stimuli", "split_prey_direction", "protocol_time_tolerance_s"):
        if key in raw and "protocol" not in raw:
            raise InputError(f"'{key}' only applies to a 'protocol' pickle", entry=entry)

    if nwb:
        return
    base = Path(raw.get("_base", "."))
    traces = _resolve(base, raw["traces"])
    suffix = traces.suffix.lower()
    for key in ("traces_header", "traces_index_column"):
        if key in raw and (suffix not in _TEXT_TRACE_SUFFIXES or traces.is_dir()):
            raise InputError(f"'{key}' only applies to text traces ({', '.join(_TEXT_TRACE_SUFFIXES)})", entry=entry)
    if "traces_orientation" in raw and (suffix not in _TEXT_TRACE_SUFFIXES + (".npy",) or traces.is_dir()):
        raise InputError("'traces_orientation' only applies to .npy or text traces", entry=entry)
    if traces.exists():  # a missing file is reported when the entry is read
        is_suite2p = traces.is_dir()
        if not is_suite2p:
            if "include_non_cells" in raw:
                raise InputError(
                    "'include_non_cells' only applies to suite2p traces folders and NWB files", entry=entry
                )
            if "frame_period_s" not in raw and "femtonics_metadata" not in raw:
                raise InputError(
                    "no frame period: give frame_period_s (seconds) or femtonics_metadata",
                    entry=entry,
                )
        elif "neuropil" in raw:
            raise InputError(
                "'neuropil' does not apply to suite2p traces: Fneu.npy in the folder is used",
                entry=entry,
            )


def _check_nwb_keys(raw: Mapping, entry: str) -> None:
    """Keys that conflict with ``nwb``: the file already holds what they give."""
    for key in _NOT_WITH_NWB:
        if key in raw:
            raise InputError(
                f"'{key}' does not apply with 'nwb': the NWB file holds the traces, ROIs and frame times", entry=entry
            )
    for key in _NWB_STIMULUS_KEYS:
        if key in raw and ("events" in raw or "protocol" in raw):
            source = "events" if "events" in raw else "protocol"
            raise InputError(f"'{key}' does not apply when the stimuli come from '{source}'", entry=entry)


def _check_types(raw: Mapping, entry: str) -> None:
    for key in _STRING_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        # integers are allowed for identifiers: `fish = 12` is a natural slip
        if key in ("fish", "recording") and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, str):
            raise InputError(f"'{key}' must be a string, got {value!r}", entry=entry)
        if key in ("fish", "recording", "region", "sensor", "traces", "nwb") and not value.strip():
            raise InputError(f"'{key}' must not be empty", entry=entry)
    for key, max_len in _IDENTIFIERS.items():
        if key in raw:
            try:
                check_identifier(key, str(raw[key]), max_len=max_len)
            except ValueError as err:
                raise InputError(str(err), entry=entry) from None
    for key in _BOOL_KEYS:
        if key in raw and not isinstance(raw[key], bool):
            raise InputError(f"'{key}' must be true or false, got {raw[key]!r}", entry=entry)
    if "traces_orientation" in raw and raw["traces_orientation"] not in readers.ORIENTATIONS:
        raise InputError(
            f"traces_orientation must be {' or '.join(map(repr, readers.ORIENTATIONS))}, "
            f"got {raw['traces_orientation']!r}",
            entry=entry,
        )
    if "protocol_time_tolerance_s" in raw:
        value = raw["protocol_time_tolerance_s"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise InputError(
                f"'protocol_time_tolerance_s' must be a number of seconds >= 0, got {value!r}", entry=entry
            )
    for key in ("age_dpf", "frame_period_s"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"'{key}' must be a number, got {value!r}", entry=entry)
    if "recorded_at" in raw and not isinstance(raw["recorded_at"], (str, _dt.date)):
        raise InputError(f"'recorded_at' must be a date-time, got {raw['recorded_at']!r}", entry=entry)
    stimuli = raw.get("stimuli")
    if stimuli is not None and (
        not isinstance(stimuli, dict)
        or not stimuli
        or not all(isinstance(v, str) and v.strip() for v in stimuli.values())
    ):
        raise InputError(
            f'stimuli must be a table of protocol column stem = "stimulus name", got {stimuli!r}',
            entry=entry,
        )
    for name in (stimuli or {}).values():
        _check_name("stimulus", name, entry, "in stimuli")
    groups = raw.get("groups")
    if groups is not None:
        ok = isinstance(groups, dict) and all(
            isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(s, str) for s in v))
            for v in groups.values()
        )
        if not ok:
            raise InputError(
                f'groups must be a table of regressor = ["stimulus", ...], got {groups!r}',
                entry=entry,
            )
        for name, members in groups.items():
            _check_name("group", name, entry, "in groups")
            for member in [members] if isinstance(members, str) else members:
                _check_name("stimulus", member, entry, f"in group '{name}'")


def _check_name(what: str, value: str, entry: str, context: str) -> None:
    try:
        check_identifier(what, value, max_len=64)
    except ValueError as err:
        raise InputError(f"{context}: {err}", entry=entry) from None


# ---------------------------------------------------------------------------
# reading one entry


@contextmanager
def _about(entry: str, role: str, written: str, resolved: Path):
    """Name the entry and the file, as the user wrote it, in reader errors."""
    try:
        yield
    except InputError as err:
        if err.entry:
            raise
        shown = _display(err.path, written, resolved)
        if shown != written:  # a file inside the folder the manifest names
            role = role.replace("folder", "file")
        raise InputError(err.message, entry=entry, path=shown, role=err.role or role) from err


def _display(path: str | None, written: str, resolved: Path) -> str:
    if path is None:
        return written
    path = Path(path)
    if path == resolved:
        return written
    try:  # a file inside a suite2p folder the manifest names
        return (Path(written) / path.relative_to(resolved)).as_posix()
    except ValueError:
        return str(path)


def _existing(entry: str, base: Path, written: str, role: str) -> Path:
    resolved = _resolve(base, written)
    if not resolved.exists():
        raise InputError(f"not found (looked for {resolved})", entry=entry, path=written, role=role)
    return resolved


def _fmt(seconds: float) -> str:
    """Seconds for messages: ``512.0``, ``0.25``, never 17 digits."""
    text = f"{seconds:.6g}"
    return text + ".0" if re.fullmatch(r"-?\d+", text) else text


def _canonical_sensor(name: str, known: Collection[str] | None, entry: str) -> str:
    if known is None:
        return name
    by_lower = {k.lower(): k for k in known}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    hint = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    suggestion = f"; did you mean '{by_lower[hint[0]]}'?" if hint else ""
    listed = ", ".join(sorted(known)) or "none"
    raise InputError(f"unknown sensor '{name}'{suggestion} (known: {listed})", entry=entry)


def _recorded_at(value: Any, entry: str) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        parsed = value
    elif isinstance(value, _dt.date):  # a TOML local date: midnight
        parsed = _dt.datetime.combine(value, _dt.time())
    else:
        try:
            parsed = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError(
                f"recorded_at {value!r} is not an ISO date-time (e.g. 2024-03-01T10:30:00)",
                entry=entry,
            ) from None
    try:
        plausibility.recorded_at_value(parsed)
    except ValueError as err:
        raise InputError(f"recorded_at {err}", entry=entry) from None
    return parsed


def _frame_period(value: Any, entry: str, source: str) -> float:
    period = float(value)
    if not (math.isfinite(period) and period > 0):
        raise InputError(
            f"frame_period_s must be a positive number of seconds, got {value!r} ({source})",
            entry=entry,
        )
    return period


#: where each source of the frame period is named in messages
_PERIOD_SOURCES = {
    "manifest": "frame_period_s",
    "femtonics": "D3Step of the Femtonics metadata",
    "suite2p": "1 / fs of the suite2p ops.npy",
}


def _source_path(path: Path, base: Path, absolute: bool) -> str:
    """A source path for the metadata: relative to the manifest's folder unless ``absolute``."""
    path = path.resolve()
    if absolute:
        return str(path)
    return Path(os.path.relpath(path, base.resolve())).as_posix()


def read_entry(
    raw: Mapping,
    *,
    known_sensors: Collection[str] | None = None,
    known_stimuli: Collection[str] | None = None,
    absolute_paths: bool = False,
) -> RecordingInput:
    """Read the files of one manifest entry and check them against each other.

    Parameters
    ----------
    raw : mapping
        One table from :func:`load_manifest` (or a dict of the same keys;
        relative paths then resolve against ``_base`` or the working folder).
    known_sensors : collection of str, optional
        Sensor names the database knows; ``sensor`` must match one of them
        ignoring case and is replaced by its canonical spelling.
    known_stimuli : collection of str, optional
        Stimulus names the database knows; every event's stimulus must be
        one of them (the error names the events or protocol file).
    absolute_paths : bool
        Record the source files in ``metadata["sources"]`` by their absolute
        paths; by default they are relative to the manifest's folder (the
        metadata is readable by every user of the database, absolute paths
        show the folders of whoever ingested).

    Returns
    -------
    RecordingInput

    Notes
    -----
    With ``nwb = "file.nwb"`` the traces, ROI ids and centroids, frame
    period, ``traces_kind``, fish (``subject_id``), genotype, age, sensor
    (imaging plane indicator), ``recorded_at`` (session start, wall-clock)
    and, unless ``events`` or ``protocol`` is given, the stimulus
    presentations come from the file (see :func:`tectum.readers.read_nwb`;
    ``nwb_series``, ``nwb_stimulus_table``, ``nwb_stimulus_column`` choose
    among several).  A value the manifest gives as well must agree with the
    file (frame periods to within :data:`NWB_PERIOD_RTOL`); otherwise the
    error names both values.

    Raises
    ------
    InputError
        Naming the entry and, where one is at fault, the file: see
        :func:`check_entry` and the readers, plus a missing file, unknown
        sensor, bad ``traces_kind``, a frame period <= 0 or outside 1 ms –
        60 s, an implausible age or recording time, no ROIs or frames,
        duplicate ROI ids, neuropil/positions not matching the traces, a
        frame-count mismatch with the Femtonics metadata or the protocol
        (and whether the matrix looks transposed), an event starting outside
        the recording, the same presentation twice, every stimulus in the
        last second, an unknown stimulus, fewer frames than the regression
        needs (distinct stimuli + 2).
    """
    raw = dict(raw)
    entry = raw.get("_entry") or _entry_name("manifest", None, raw)
    base = Path(raw.get("_base", "."))
    check_entry(raw)

    sensor = _canonical_sensor(raw["sensor"], known_sensors, entry) if "sensor" in raw else None
    traces_kind = raw.get("traces_kind", "raw").strip().lower()
    if traces_kind not in TRACES_KINDS:
        raise InputError(f"traces_kind must be 'raw' or 'dff', got {raw['traces_kind']!r}", entry=entry)
    # the cheap checks first: a typo should not wait for a large file to load
    age_dpf = _age(raw.get("age_dpf"), entry)
    recorded_at = _recorded_at(raw.get("recorded_at"), entry)
    groups = raw.get("groups")
    if groups is not None:
        groups = {str(k): [v] if isinstance(v, str) else list(v) for k, v in groups.items()}

    sources: dict[str, str] = {}
    if absolute_paths:
        sources["manifest_dir"] = str(base.resolve())
    metadata: dict[str, Any] = {"sources": sources}
    periods: dict[str, float] = {}
    if "frame_period_s" in raw:
        periods["manifest"] = _frame_period(raw["frame_period_s"], entry, "manifest")

    nwb = None
    if "nwb" in raw:
        nwb, found = _read_nwb(
            raw,
            entry,
            base,
            metadata,
            periods,
            absolute_paths=absolute_paths,
            sensor=sensor,
            age_dpf=age_dpf,
            recorded_at=recorded_at,
            known_sensors=known_sensors,
        )
        raw["fish"], raw["genotype"] = found["fish"], found["genotype"]
        sensor, age_dpf, recorded_at, traces_kind = (
            found[k] for k in ("sensor", "age_dpf", "recorded_at", "traces_kind")
        )

    femtonics = None
    if "femtonics_metadata" in raw:
        written = raw["femtonics_metadata"]
        fem_path = _existing(entry, base, written, "Femtonics metadata file")
        with _about(entry, "Femtonics metadata file", written, fem_path):
            femtonics = readers.read_femtonics_metadata(fem_path)
        sources["femtonics_metadata"] = _source_path(fem_path, base, absolute_paths)
        metadata["femtonics"] = femtonics
        periods["femtonics"] = femtonics["frame_period_s"]

    if nwb is not None:
        traces, roi_ids, positions, neuropil = nwb["traces"], nwb["roi_ids"], nwb["positions"], None
        traces_written, traces_role = raw["nwb"], "NWB file"
    else:
        traces, roi_ids, positions, neuropil = _read_traces(raw, entry, base, metadata, periods, absolute_paths)
        traces_written = raw["traces"]
        traces_role = "traces folder" if _resolve(base, traces_written).is_dir() else "traces file"
    n_rois, n_frames = traces.shape
    orientation = raw.get("traces_orientation", readers.ORIENTATIONS[0])
    other = readers.ORIENTATIONS[1 - readers.ORIENTATIONS.index(orientation)]

    def transposed(**evidence) -> str:
        """' — the matrix looks transposed: ...' when the other orientation fits the evidence."""
        if traces_role != "traces file":  # suite2p folders and NWB series are ROIs x frames by construction
            return ""
        reason = plausibility.transposed_fit(n_rois, n_frames, frame_period_s, **evidence)
        return f'; the matrix looks transposed: {reason}; set traces_orientation = "{other}"' if reason else ""

    if not periods:
        raise InputError(
            "no frame period: the suite2p ops.npy has no 'fs'; give frame_period_s or femtonics_metadata",
            entry=entry,
        )
    source = next(s for s in ("nwb", "manifest", "femtonics", "suite2p") if s in periods)
    frame_period_s = periods[source]
    problem = plausibility.frame_period_problem(frame_period_s, unit_hint=source == "manifest")
    if problem:
        if source == "femtonics":  # its unit is written in the file: show what it says
            step = next((v for k, v in femtonics["raw"].items() if k.lower() == "d3step"), "?")
            problem += f" (the file says D3Step = {step!r})"
        raise InputError(
            f"frame period ({_PERIOD_SOURCES[source]}) {problem}",
            entry=entry,
            path=raw.get("femtonics_metadata") if source == "femtonics" else None,
            role="Femtonics metadata file" if source == "femtonics" else None,
        )
    metadata["frame_period"] = {"used_s": frame_period_s, "source": source, **{f"{k}_s": v for k, v in periods.items()}}
    duration = n_frames * frame_period_s
    extent = f"{n_frames} frames x {_fmt(frame_period_s)} s = {_fmt(duration)} s"

    if femtonics is not None and femtonics["n_frames"] is not None and femtonics["n_frames"] != n_frames:
        raise InputError(
            f"frame-count mismatch: D3Size = {femtonics['n_frames']} frames but the traces "
            f"'{raw['traces']}' have {n_frames}" + transposed(expected_frames=femtonics["n_frames"]),
            entry=entry,
            path=raw["femtonics_metadata"],
            role="Femtonics metadata file",
        )

    if nwb is not None and "events" not in raw and "protocol" not in raw:
        events, stim_written, stim_role = nwb["events"], raw["nwb"], "NWB file"
    else:
        events, stim_written = _read_stimuli(raw, entry, base, metadata, absolute_paths)
        stim_role = "events file" if "events" in raw else "protocol file"
    protocol_s = metadata.get("protocol", {}).get("protocol_duration_s")
    if protocol_s is not None and protocol_s > duration + frame_period_s:
        raise InputError(
            f"frame-count mismatch: the protocol runs for {_fmt(protocol_s)} s but the traces "
            f"cover only {extent}" + transposed(protocol_s=protocol_s),
            entry=entry,
            path=stim_written,
            role=stim_role,
        )
    for stimulus, onset in zip(events["stimulus"], events["onset_s"]):
        if onset < 0:
            problem = "is before the start of the recording"
        elif onset >= duration:
            problem = f"is after the end of the recording ({extent})" + transposed(
                last_onset_s=float(events["onset_s"].max())
            )
        else:
            continue
        raise InputError(
            f"event '{stimulus}' at {_fmt(onset)} s {problem}", entry=entry, path=stim_written, role=stim_role
        )
    pairs = plausibility.duplicate_presentations(events["stimulus"], events["onset_s"])
    if pairs:
        first = pairs[0][0]
        raise InputError(
            f"the same presentation twice: '{events['stimulus'][first]}' at {_fmt(events['onset_s'][first])} s "
            f"({len(pairs)} repeated); each presentation may be listed once",
            entry=entry,
            path=stim_written,
            role=stim_role,
        )
    if known_stimuli is not None:
        known = set(known_stimuli)
        unknown = [name for name in dict.fromkeys(events["stimulus"]) if name not in known]
        if unknown:
            raise InputError(
                f"unknown stimulus {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known_stimuli))} "
                f'(declare it in the manifest\'s [stimulus_types] table, e.g. {unknown[0]} = "what it shows", '
                f"or run `tectum stimulus add {unknown[0]}`)",
                entry=entry,
                path=stim_written,
                role=stim_role,
            )
    # at most one regressor per distinct stimulus; the fit needs n_frames > n_regressors + 1
    n_stimuli = int(events["stimulus"].nunique())
    if n_frames < n_stimuli + 2:
        raise InputError(
            f"only {n_frames} frame(s): the regression on up to {n_stimuli} stimulus regressor(s) needs "
            f"more frames than regressors + 1 (at least {n_stimuli + 2})",
            entry=entry,
            path=traces_written,
            role=traces_role,
        )
    problem = plausibility.late_stimuli_problem(events["onset_s"], n_frames, frame_period_s)
    if problem:
        raise InputError(problem, entry=entry, path=stim_written, role=stim_role)

    return RecordingInput(
        entry=entry,
        fish=str(raw["fish"]),
        recording=str(raw["recording"]),
        experiment=raw.get("experiment"),
        region=raw["region"],
        sensor=sensor,
        genotype=raw.get("genotype"),
        notes=raw.get("notes"),
        age_dpf=age_dpf,
        recorded_at=recorded_at,
        frame_period_s=frame_period_s,
        traces=traces,
        traces_kind=traces_kind,
        roi_ids=roi_ids,
        positions=positions,
        neuropil=neuropil,
        events=events,
        metadata=readers.to_jsonable(metadata),
        groups=groups,
    )


def _age(value: Any, entry: str) -> float | None:
    if value is None:
        return None
    problem = plausibility.age_problem(value)
    if problem:
        raise InputError(f"age_dpf {problem}", entry=entry)
    return float(value)


def _read_nwb(
    raw, entry, base, metadata, periods, *, sensor, age_dpf, recorded_at, known_sensors, absolute_paths=False
):
    """Read the entry's NWB file and reconcile it with the values the manifest gives.

    A value given in both places must agree (the error names both); one
    given in one place only is used from there.

    Returns
    -------
    (dict, dict)
        What :func:`tectum.readers.read_nwb` returned, and the resolved
        ``fish``, ``genotype``, ``sensor``, ``age_dpf``, ``recorded_at``,
        ``traces_kind``.
    """
    written = raw["nwb"]
    path = _existing(entry, base, written, "NWB file")
    stimuli = "events" not in raw and "protocol" not in raw
    with _about(entry, "NWB file", written, path):
        nwb = readers.read_nwb(
            path,
            series=raw.get("nwb_series"),
            stimulus_table=raw.get("nwb_stimulus_table"),
            stimulus_column=raw.get("nwb_stimulus_column"),
            stimuli=stimuli,
            cells_only=not raw.get("include_non_cells", False),
        )
    metadata["sources"]["nwb"] = _source_path(path, base, absolute_paths)
    metadata["nwb"] = nwb["metadata"]

    def conflict(what: str, given, in_file: str) -> InputError:
        return InputError(
            f"{what} = {given!r} in the manifest disagrees with the NWB file's {in_file}",
            entry=entry,
            path=written,
            role="NWB file",
        )

    def absent(what: str, where: str) -> InputError:
        return InputError(
            f"no {what}: the NWB file has no {where}; give {what} in the manifest",
            entry=entry,
            path=written,
            role="NWB file",
        )

    subject = nwb["subject"]
    found = {}
    fish = raw.get("fish")
    if fish is not None and subject["subject_id"] is not None and str(fish) != subject["subject_id"]:
        raise conflict("fish", str(fish), f"subject_id {subject['subject_id']!r}")
    if fish is None and subject["subject_id"] is None:
        raise absent("fish", "subject_id")
    found["fish"] = str(fish) if fish is not None else subject["subject_id"]

    genotype = raw.get("genotype")
    if genotype is not None and subject["genotype"] is not None and genotype.strip() != subject["genotype"]:
        raise conflict("genotype", genotype, f"subject genotype {subject['genotype']!r}")
    found["genotype"] = genotype if genotype is not None else subject["genotype"]

    if age_dpf is not None and subject["age_dpf"] is not None and abs(age_dpf - subject["age_dpf"]) > 1e-6:
        raise conflict("age_dpf", age_dpf, f"subject age {subject['age']!r} ({subject['age_dpf']:g} days)")
    found["age_dpf"] = age_dpf if age_dpf is not None else subject["age_dpf"]

    indicator = nwb["indicator"]
    if sensor is None:
        if indicator is None:
            raise absent("sensor", "imaging plane indicator")
        try:
            found["sensor"] = _canonical_sensor(indicator, known_sensors, entry)
        except InputError as err:
            raise InputError(
                f"imaging plane indicator: {err.message}; give sensor in the manifest",
                entry=entry,
                path=written,
                role="NWB file",
            ) from None
    else:
        if indicator is not None and indicator.lower() != sensor.lower():
            raise conflict("sensor", sensor, f"imaging plane indicator {indicator!r}")
        found["sensor"] = sensor

    if "traces_kind" in raw and raw["traces_kind"].strip().lower() != nwb["traces_kind"]:
        raise conflict("traces_kind", raw["traces_kind"], f"series '{nwb['series']}' ({nwb['traces_kind']!r})")
    found["traces_kind"] = nwb["traces_kind"]

    start = nwb["session_start_time"]
    found["recorded_at"] = recorded_at
    if start is not None:
        local = start.replace(tzinfo=None)  # the lab's wall-clock time, as the manifest writes it
        if recorded_at is None:
            found["recorded_at"] = local
        elif (recorded_at != start) if recorded_at.tzinfo is not None else (recorded_at != local):
            raise conflict("recorded_at", recorded_at.isoformat(), f"session_start_time {start.isoformat()!r}")

    period = nwb["frame_period_s"]
    given = periods.get("manifest")
    if given is not None and abs(given - period) > NWB_PERIOD_RTOL * period:
        raise conflict("frame_period_s", given, f"frame period {_fmt(period)} s (series '{nwb['series']}')")
    periods["nwb"] = period
    return nwb, found


def _read_traces(raw, entry, base, metadata, periods, absolute_paths=False):
    """Read traces (+ neuropil, positions) by the kind of path ``traces`` names."""
    written = raw["traces"]
    path = _existing(entry, base, written, "traces file")
    metadata["sources"]["traces"] = _source_path(path, base, absolute_paths)
    role = "traces folder" if path.is_dir() else "traces file"
    neuropil = positions = roi_ids = None
    n_segmented = None
    orientation = raw.get("traces_orientation", readers.ORIENTATIONS[0])
    with _about(entry, role, written, path):
        if path.is_dir():
            s2p = readers.read_suite2p(path, iscell_only=not raw.get("include_non_cells", False))
            traces, neuropil, roi_ids = s2p["traces"], s2p["neuropil"], s2p["roi_ids"]
            positions = s2p["positions"]
            metadata["suite2p"] = s2p["metadata"]
            n_segmented = s2p["metadata"]["n_rois_segmented"]
            if s2p["frame_period_s"] is not None:
                periods["suite2p"] = s2p["frame_period_s"]
        elif path.suffix.lower() == ".npy":
            traces = readers.read_traces_npy(path, orientation=orientation)
            metadata["traces_layout"] = {"orientation": orientation}
        elif path.suffix.lower() in _TEXT_TRACE_SUFFIXES:
            traces, roi_ids = readers.read_traces_csv(
                path,
                header=raw.get("traces_header"),
                index_column=raw.get("traces_index_column"),
                orientation=orientation,
            )
            metadata["traces_layout"] = {
                "orientation": orientation,
                "header": bool(raw.get("traces_header", False)),
                "index_column": bool(raw.get("traces_index_column", False)),
            }
        else:
            raise InputError(
                f"unsupported traces format '{path.suffix}': expected a suite2p plane folder, "
                ".npy, or " + ", ".join(_TEXT_TRACE_SUFFIXES),
                path=path,
            )
        n_rois, n_frames = traces.shape
        if n_rois == 0:
            hint = ""
            if n_segmented:
                hint = (
                    f" (all {n_segmented} suite2p ROIs are non-cells in iscell.npy; "
                    "include_non_cells = true keeps them)"
                )
            raise InputError("no ROIs" + hint, path=path)
        if n_frames == 0:
            raise InputError("no frames", path=path)
        roi_ids = np.arange(n_rois, dtype=np.int64) if roi_ids is None else np.asarray(roi_ids, np.int64)
        unique, counts = np.unique(roi_ids, return_counts=True)
        if (counts > 1).any():
            dup = unique[counts > 1]
            shown = ", ".join(map(str, dup[:5])) + (", ..." if len(dup) > 5 else "")
            raise InputError(f"duplicate ROI ids: {shown}", path=path)

    if "neuropil" in raw:
        neuropil = _read_neuropil(raw["neuropil"], entry, base, traces.shape, orientation)
        metadata["sources"]["neuropil"] = _source_path(_resolve(base, raw["neuropil"]), base, absolute_paths)
    if "positions" in raw:
        positions = _read_positions(raw["positions"], entry, base, roi_ids, n_segmented)
        metadata["sources"]["positions"] = _source_path(_resolve(base, raw["positions"]), base, absolute_paths)
    return traces, roi_ids, positions, neuropil


def _read_neuropil(written, entry, base, shape, orientation):
    path = _existing(entry, base, written, "neuropil file")
    with _about(entry, "neuropil file", written, path):
        if path.suffix.lower() != ".npy":
            raise InputError("neuropil must be a .npy matrix (laid out as the traces)", path=path)
        neuropil = readers.read_traces_npy(path, orientation=orientation)
        if neuropil.shape != shape:
            raise InputError(f"shape {neuropil.shape} does not match the traces {shape}", path=path)
    return neuropil


def _read_positions(written, entry, base, roi_ids, n_segmented):
    """Positions for the kept ROIs.

    For suite2p traces the file may cover every segmented ROI (the kept ones
    are then picked by suite2p index) or only the kept ones.
    """
    path = _existing(entry, base, written, "positions file")
    with _about(entry, "positions file", written, path):
        positions = readers.read_positions_npy(path)
        if n_segmented is not None and len(positions) == n_segmented:
            positions = positions[roi_ids]
        if len(positions) != len(roi_ids):
            raise InputError(f"{len(positions)} positions for {len(roi_ids)} ROIs", path=path)
        problem = plausibility.position_problem(positions, roi_ids)
        if problem:
            raise InputError(problem, path=path)
    return positions


def _read_stimuli(raw, entry, base, metadata, absolute_paths=False):
    if "events" in raw:
        written = raw["events"]
        path = _existing(entry, base, written, "events file")
        with _about(entry, "events file", written, path):
            events = readers.read_events_table(path)
        metadata["sources"]["events"] = _source_path(path, base, absolute_paths)
        return events, written
    written = raw["protocol"]
    path = _existing(entry, base, written, "protocol file")
    with _about(entry, "protocol file", written, path):
        events, protocol_meta = readers.read_protocol_pickle(
            path,
            raw["stimuli"],
            split_prey_direction=raw.get("split_prey_direction", False),
            time_tolerance_s=raw.get("protocol_time_tolerance_s", readers.DEFAULT_TIME_TOLERANCE_S),
        )
    metadata["sources"]["protocol"] = _source_path(path, base, absolute_paths)
    metadata["protocol"] = protocol_meta
    return events, written


# ---------------------------------------------------------------------------


def read_manifest(
    path: str | PathLike, *, known_sensors: Collection[str] | None = None, absolute_paths: bool = False
) -> Iterator[RecordingInput]:
    """Read a manifest's recordings one at a time.

    The manifest itself (structure, keys, duplicates and, when
    ``known_sensors`` is given, sensor names) is checked before this
    returns; each recording's files are read only when the iterator reaches
    it, so a large batch needs the memory of one recording.

    Parameters
    ----------
    path : str or path-like
        The TOML manifest.
    known_sensors : collection of str, optional
        As in :func:`read_entry`.
    absolute_paths : bool
        As in :func:`read_entry`.

    Returns
    -------
    iterator of RecordingInput
    """
    entries = load_manifest(path)
    if known_sensors is not None:
        for raw in entries:
            if "sensor" in raw:  # an NWB entry may take it from the file
                _canonical_sensor(raw["sensor"], known_sensors, raw["_entry"])
    return (read_entry(raw, known_sensors=known_sensors, absolute_paths=absolute_paths) for raw in entries)
