"""Command-line restrictions: ``fish=F1,paramset=default`` or a SQL condition."""

from __future__ import annotations

import re

_PAIR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_restriction(text: str | None):
    """Turn a command-line restriction into a DataJoint restriction.

    ``None`` or ``""`` -> no restriction (``{}``). Comma-separated
    ``name=value`` pairs -> a dict (all must hold). Anything else is passed on
    as a SQL condition, e.g. ``"r2 > 0.2"`` or ``"fish LIKE 'F%'"``.

    Examples
    --------
    >>> parse_restriction("fish=F1, paramset=default")
    {'fish': 'F1', 'paramset': 'default'}
    >>> parse_restriction("n_rois > 100")
    'n_rois > 100'
    """
    if not text or not text.strip():
        return {}
    pairs = [_PAIR.match(part) for part in text.split(",")]
    if all(pairs) and not any(op in text for op in ("<", ">", "!", " LIKE ", " like ")):
        return {m.group(1): m.group(2).strip("'\"") for m in pairs}
    return text
