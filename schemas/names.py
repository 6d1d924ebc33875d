"""Checks of the names that identify rows: fish, recordings, stimuli, parameter sets, sensors.

Names are exact: the MySQL/MariaDB schemas use a binary collation and
PostgreSQL compares exactly, so ``F1`` and ``f1`` are two fish on both
backends. What would make a name ambiguous or unusable is refused here with a
message naming the name: surrounding white space (MySQL ignores trailing
spaces even in a binary collation, so ``"X"`` and ``"X "`` would collide),
control characters and backslashes (they break file names, SQL tools and key
matching), text not in Unicode normal form C (an accented letter written
decomposed, as some file systems and keyboards produce it, is a different
name from the same letter composed though both look alike: ``Fé`` would be two
fish), and names too long for their column or for a file name in the object
store (whose paths contain the primary key).
"""

from __future__ import annotations

import unicodedata

from datajoint.storage import encode_pk_value

__all__ = ["check_identifier", "MAX_PATH_COMPONENT_BYTES"]

#: bytes a name may take in an object-store path component (file systems allow 255)
MAX_PATH_COMPONENT_BYTES = 200


def check_identifier(what: str, value, *, max_len: int, where: str | None = None) -> str:
    """Return ``value`` as a valid identifying name, else raise ValueError naming it.

    Parameters
    ----------
    what : str
        The attribute, e.g. ``"fish"``; used in the message.
    value : str
        The name.
    max_len : int
        Characters the column holds.
    where : str, optional
        Prefix of the message, e.g. the manifest entry.
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str):
        raise ValueError(f"{prefix}'{what}' must be text, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise ValueError(f"{prefix}'{what}' is empty")
    if value != value.strip():
        raise ValueError(f"{prefix}'{what}' {value!r} begins or ends with white space; remove it")
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{prefix}'{what}' {value!r} contains a backslash or a control character")
    composed = unicodedata.normalize("NFC", value)
    if composed != value:
        raise ValueError(
            f"{prefix}'{what}' {value!r} is not in Unicode normal form C: a letter and its accent are stored "
            f"as separate characters, so it would be a different name from {composed!r}, which looks the same; "
            f"write it as {composed!r}"
        )
    if len(value) > max_len:
        raise ValueError(f"{prefix}'{what}' {value!r} is {len(value)} characters long; at most {max_len} fit")
    encoded = len(f"{what}={encode_pk_value(value)}".encode())
    if encoded > MAX_PATH_COMPONENT_BYTES:
        raise ValueError(
            f"{prefix}'{what}' {value!r} takes {encoded} bytes in the object store's file names "
            f"(at most {MAX_PATH_COMPONENT_BYTES}); use a shorter name or fewer non-ASCII characters"
        )
    return value
