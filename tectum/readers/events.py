"""Reader of stimulus events as a CSV/TSV table, and the events frame.

:func:`read_events_table` reads the table; ``_events_frame`` builds the
DataFrame (columns :data:`EVENT_COLUMNS`, sorted by onset) that every reader
of stimuli returns, also :func:`~tectum.readers.protocol.read_protocol_pickle`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from schemas.plausibility import duplicate_presentations

from ..errors import InputError
from ._common import PathArg, _is_missing, _plain, _require_file, _sniff_delimiter

#: columns of the events frame every reader of stimuli returns
EVENT_COLUMNS = ("stimulus", "onset_s", "duration_s", "params")


def _events_frame(stimulus, onset_s, duration_s, params) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "stimulus": pd.Series(stimulus, dtype=object),
            "onset_s": pd.Series(onset_s, dtype=np.float64),
            "duration_s": pd.Series(duration_s, dtype=np.float64),
            "params": pd.Series(params, dtype=object),
        }
    )
    # stable sort keeps file order for simultaneous onsets
    return frame.sort_values("onset_s", kind="mergesort").reset_index(drop=True)


def read_events_table(path: PathArg) -> pd.DataFrame:
    """Read a table of stimulus presentations.

    Parameters
    ----------
    path : str or path-like
        A header row then one presentation per row, with the columns
        ``stimulus``, ``onset_s`` (seconds from the first frame) and
        ``duration_s`` (seconds); any further columns are stimulus
        parameters.  ``.tsv``/``.tab`` files are tab separated, ``.csv``
        comma separated, anything else is sniffed.

    Returns
    -------
    pandas.DataFrame
        ``stimulus``, ``onset_s``, ``duration_s``, ``params`` (per row a dict
        of the further columns, empty cells dropped, values as plain Python
        objects), sorted by onset.

    Raises
    ------
    InputError
        Missing columns (all listed), an empty stimulus name or a
        non-numeric/negative onset or duration (naming the line), the same
        presentation (stimulus and onset) twice (naming both lines), no rows
        ("no stimulus events").
    """
    path = _require_file(path)
    try:
        sample = path.read_text(encoding="utf-8-sig")[:65536]
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text file ({exc.reason} at byte {exc.start})", path=path) from None
    delimiter = _sniff_delimiter(path, sample)
    if not sample.strip():
        raise InputError("no stimulus events (the file is empty)", path=path)
    try:
        # blank lines are kept (and dropped below) so that row i is on line i + 2
        table = pd.read_csv(
            path,
            sep=delimiter if delimiter is not None else r"\s+",
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"cannot parse the table ({exc})", path=path) from None

    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in EVENT_COLUMNS[:3] if c not in table.columns]
    if missing:
        found = ", ".join(table.columns) or "none"
        raise InputError(f"missing required column(s) {', '.join(missing)} (found: {found})", path=path)
    table.index = table.index + 2  # header is line 1
    table = table.dropna(how="all")
    if table.empty:
        raise InputError("no stimulus events", path=path)

    onsets = _numeric_column(table, "onset_s", path)
    durations = _numeric_column(table, "duration_s", path)
    stimuli = []
    for line, name in table["stimulus"].items():
        if _is_missing(name) or not str(name).strip():
            raise InputError(f"line {line}: empty stimulus name", path=path)
        stimuli.append(str(name).strip())
    pairs = duplicate_presentations(stimuli, onsets)
    if pairs:
        first, again = pairs[0]
        more = f" ({len(pairs)} repeated rows)" if len(pairs) > 1 else ""
        raise InputError(
            f"lines {table.index[first]} and {table.index[again]} are the same presentation "
            f"({stimuli[first]!r} at {onsets[first]:g} s){more}; list each presentation once",
            path=path,
        )

    extra = [
        c
        for c in table.columns
        if c not in EVENT_COLUMNS[:3] and not (c.startswith("Unnamed:") and table[c].isna().all())
    ]
    params = [{c: _plain(v) for c, v in row.items() if not _is_missing(v)} for row in table[extra].to_dict("records")]
    return _events_frame(stimuli, onsets, durations, params)


def _numeric_column(table: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = _plain(table[column].iloc[i])
        what = "missing" if _is_missing(raw) else f"{raw!r} is not a non-negative number"
        raise InputError(f"line {table.index[i]}: {column} {what}", path=path)
    return values
