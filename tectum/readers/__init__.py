"""Readers for the file formats a recording arrives in.

Each reader returns plain NumPy arrays / pandas frames and raises
:class:`~tectum.errors.InputError` naming the file (and the line, ROI row or
key where it helps) when the file cannot be used.  Readers know nothing about
manifests; :mod:`tectum.manifest` adds the manifest entry to the message.

Formats
-------
* traces as a ``.npy`` matrix (ROIs x frames): :func:`read_traces_npy`
* traces as CSV/TSV text, laid out as stated (header, index column,
  orientation): :func:`read_traces_csv`
* ROI positions as a ``.npy`` array: :func:`read_positions_npy`
* a suite2p plane folder (``F.npy``, ``Fneu.npy``, ``iscell.npy``,
  ``stat.npy``, ``ops.npy``): :func:`read_suite2p`
* stimulus events as a CSV/TSV table: :func:`read_events_table`
* the lab's stimulus protocol pickle: :func:`read_protocol_pickle`
* the Femtonics MES measurement-context text export:
  :func:`read_femtonics_metadata`
* an NWB file (traces, ROIs, frame times, subject, stimulus table; needs
  the optional ``pynwb``): :func:`read_nwb`

Stimulus events always come back as a DataFrame with the columns
``stimulus`` (str), ``onset_s`` (float), ``duration_s`` (float) and
``params`` (a dict of plain Python values per row), sorted by onset.

The readers live in one module per format (:mod:`.traces`,
:mod:`.suite2p`, :mod:`.events`, :mod:`.protocol`, :mod:`.femtonics`,
:mod:`.nwb`) with
shared helpers in :mod:`._common`; the public readers are re-exported here
(``from tectum.readers import read_traces_npy``).
"""

from ._common import to_jsonable
from .events import EVENT_COLUMNS, read_events_table
from .femtonics import read_femtonics_metadata
from .nwb import parse_iso_age_days, read_nwb
from .protocol import DEFAULT_TIME_TOLERANCE_S, PREY_DIRECTIONS, read_protocol_pickle
from .suite2p import read_suite2p
from .traces import ORIENTATIONS, read_positions_npy, read_traces_csv, read_traces_npy

__all__ = [
    "DEFAULT_TIME_TOLERANCE_S",
    "EVENT_COLUMNS",
    "ORIENTATIONS",
    "PREY_DIRECTIONS",
    "read_traces_npy",
    "read_traces_csv",
    "read_positions_npy",
    "read_suite2p",
    "read_events_table",
    "read_protocol_pickle",
    "read_femtonics_metadata",
    "read_nwb",
    "parse_iso_age_days",
    "to_jsonable",
]
