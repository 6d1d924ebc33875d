"""Reader of the Femtonics MES measurement-context text export: :func:`read_femtonics_metadata`."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._common import PathArg, _require_file

_KEY_VALUE = re.compile(r"^\s*([^=:\t]+?)\s*(?:=|:|\t)\s*(.*?)\s*$")
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*(\S*)")
# D3Step is written in ms; other units are honoured if given
_TIME_UNITS_MS = {"": 1.0, "ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0, "us": 1e-3, "µs": 1e-3}


def _parse_key_values(text: str) -> dict[str, str]:
    raw: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";", "[")):
            continue
        match = _KEY_VALUE.match(line)
        if match:
            key, value = match.groups()
        else:
            parts = line.split(None, 1)  # "Key   Value"
            if len(parts) != 2:
                continue
            key, value = parts[0], parts[1].strip()
        # the first occurrence wins: later ones are per-channel repeats
        raw.setdefault(key.strip(), value)
    return raw


def _lookup(raw: dict[str, str], key: str) -> str | None:
    if key in raw:
        return raw[key]
    lowered = {k.lower(): v for k, v in raw.items()}
    return lowered.get(key.lower())


def _number(text: str) -> tuple[float, str] | None:
    match = _NUMBER_UNIT.match(text)
    if not match:
        return None
    number, unit = match.groups()
    # the lab's Hungarian-locale exports may use a decimal comma
    return float(number.replace(",", ".")), unit


def read_femtonics_metadata(path: PathArg) -> dict[str, Any]:
    """Read a Femtonics MES measurement-context text export.

    The file is a list of ``Key = Value``, ``Key: Value``, ``Key<TAB>Value``
    or ``Key  Value`` lines; values may carry units (``1000 ms``).  Keys are
    matched exactly, falling back to any case.

    Parameters
    ----------
    path : str or path-like
        The text export.

    Returns
    -------
    dict
        ``frame_period_s`` (``D3Step`` in ms / 1000; a unit of ``s`` or
        ``us`` written after it is honoured), ``width``, ``height``,
        ``n_frames`` (``Width``, ``Height``, ``D3Size`` as int, None when
        absent) and ``raw`` (every key and value as strings).

    Raises
    ------
    InputError
        No key/value lines, no ``D3Step``, ``D3Step`` not a positive number,
        ``Width``/``Height``/``D3Size`` not integers.
    """
    path = _require_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older MES exports are Windows-1252/latin-1
    raw = _parse_key_values(text)
    if not raw:
        raise InputError("no 'Key = Value' lines found (not a Femtonics metadata export?)", path=path)

    step = _lookup(raw, "D3Step")
    if step is None:
        raise InputError("no D3Step (frame period, ms) in the Femtonics metadata", path=path)
    parsed = _number(step)
    factor = _TIME_UNITS_MS.get(parsed[1].lower()) if parsed else None
    if parsed is None or factor is None:
        raise InputError(f"D3Step = {step!r} is not a time in ms", path=path)
    step_ms = parsed[0] * factor
    if not (math.isfinite(step_ms) and step_ms > 0):
        raise InputError(f"D3Step = {step!r} must be a positive frame period in ms", path=path)

    return dict(
        frame_period_s=step_ms / 1000.0,
        width=_int_value(raw, "Width", path),
        height=_int_value(raw, "Height", path),
        n_frames=_int_value(raw, "D3Size", path),
        raw=raw,
    )


def _int_value(raw: dict[str, str], key: str, path: Path) -> int | None:
    text = _lookup(raw, key)
    if text is None:
        return None
    parsed = _number(text)
    if parsed is None or not parsed[0].is_integer() or parsed[0] < 0:
        raise InputError(f"{key} = {text!r} is not a whole number", path=path)
    return int(parsed[0])
