"""Readers for the file formats a recording arrives in.

Each reader returns plain NumPy arrays / pandas frames and raises
:class:`~tectum.errors.InputError` naming the file (and the line, ROI row or
key where it helps) when the file cannot be used.  Readers know nothing about
manifests; :mod:`tectum.manifest` adds the manifest entry to the message.

Formats
-------
* traces as a ``.npy`` matrix (ROIs x frames): :func:`read_traces_npy`
* traces as CSV/TSV text, one ROI per row: :func:`read_traces_csv`
* ROI positions as a ``.npy`` array: :func:`read_positions_npy`
* a suite2p plane folder (``F.npy``, ``Fneu.npy``, ``iscell.npy``,
  ``stat.npy``, ``ops.npy``): :func:`read_suite2p`
* stimulus events as a CSV/TSV table: :func:`read_events_table`
* the lab's stimulus protocol pickle: :func:`read_protocol_pickle`
* the Femtonics MES measurement-context text export:
  :func:`read_femtonics_metadata`

Stimulus events always come back as a DataFrame with the columns
``stimulus`` (str), ``onset_s`` (float), ``duration_s`` (float) and
``params`` (a dict of plain Python values per row), sorted by onset.

The readers live in one module per format (:mod:`.traces`,
:mod:`.suite2p`, :mod:`.events`, :mod:`.protocol`, :mod:`.femtonics`) with
shared helpers in :mod:`._common`; every name is re-exported here, so
``from tectum.readers import read_traces_npy`` and
``tectum.readers.read_traces_npy`` work as before the split.
"""

from ._common import (  # noqa: F401
    PathArg,
    _check_finite,
    _is_missing,
    _load_npy,
    _numeric_matrix,
    _plain,
    _require_file,
    _sniff_delimiter,
    to_jsonable,
)
from .events import EVENT_COLUMNS, _events_frame, _numeric_column, read_events_table  # noqa: F401
from .femtonics import (  # noqa: F401
    _KEY_VALUE,
    _NUMBER_UNIT,
    _TIME_UNITS_MS,
    _int_value,
    _lookup,
    _number,
    _parse_key_values,
    read_femtonics_metadata,
)
from .protocol import (  # noqa: F401
    PREY_DIRECTIONS,
    _presentations,
    _prey_direction,
    _protocol_time,
    read_protocol_pickle,
)
from .suite2p import _OPS_KEYS, _find_plane_dir, _load_ops, _positions_from_stat, read_suite2p  # noqa: F401
from .traces import (  # noqa: F401
    _ROI_LABEL_HEADERS,
    _integer_labels,
    _is_number,
    _looks_like_header,
    _parse_traces_table,
    _split_lines,
    read_positions_npy,
    read_traces_csv,
    read_traces_npy,
)

__all__ = [
    "EVENT_COLUMNS",
    "read_traces_npy",
    "read_traces_csv",
    "read_positions_npy",
    "read_suite2p",
    "read_events_table",
    "read_protocol_pickle",
    "read_femtonics_metadata",
    "to_jsonable",
]
