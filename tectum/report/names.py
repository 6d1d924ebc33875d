"""File-system-safe, unique directory names for fish, recordings and parameter sets."""

from __future__ import annotations

import hashlib
import re

_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def safe_name(text, max_len: int = 48) -> str:
    """A file-system-safe, unique directory name for ``text``.

    Letters, digits, ``_`` and ``-`` are kept; any other run of characters
    becomes ``-``. When the name had to be changed (or is empty, too long or a
    reserved Windows device name) the first 8 hex digits of the MD5 of the
    original are appended, so two different names never map to the same
    directory.

    Examples
    --------
    >>> safe_name("F1")
    'F1'
    >>> safe_name("fish 1/2")  # doctest: +ELLIPSIS
    'fish-1-2-...'
    """
    text = str(text)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    slug = slug[:max_len].strip("-")
    if slug != text or not slug or slug.upper() in _RESERVED_NAMES:
        digest = hashlib.md5(text.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else f"_{digest}"
    return slug


class _Namer:
    """Directory names unique per parent, also on case-insensitive file systems."""

    def __init__(self):
        self._used: dict[tuple, dict[str, str]] = {}

    def name(self, parent: tuple, text: str) -> str:
        used = self._used.setdefault(parent, {})
        name = safe_name(text)
        folded = name.casefold()
        owner = used.get(folded)
        if owner is not None and owner != text:
            name = f"{name}-{hashlib.md5(text.encode('utf-8')).hexdigest()[:8]}"
            folded = name.casefold()
        used[folded] = text
        return name
