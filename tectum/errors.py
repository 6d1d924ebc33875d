"""User-facing exceptions.

The command line prints ``str(err)`` of a :class:`TectumError` as a single
line, so every message must say on its own *where* the problem is (manifest
entry, file) and *what* is wrong.
"""

from __future__ import annotations

from os import PathLike

__all__ = ["TectumError", "InputError"]


class TectumError(Exception):
    """Base class of the errors meant for the user rather than a traceback."""


class InputError(TectumError, ValueError):
    """A manifest or an input file cannot be used.

    Parameters
    ----------
    message : str
        What is wrong, e.g. ``"row 3 contains NaN"``.
    entry : str, optional
        Human-readable name of the manifest entry, e.g.
        ``"manifest.toml entry #2 (fish F1, recording R3)"``.
    path : str or path-like, optional
        The offending file, as the user wrote it where possible.
    role : str, optional
        What the path is, as it should read before it: ``"traces file"``,
        ``"suite2p folder"``; defaults to ``"file"``.

    Examples
    --------
    >>> str(InputError("row 3 contains NaN", entry="m.toml entry #2 (fish F1, recording R3)",
    ...                path="data/r3.npy", role="traces file"))
    "m.toml entry #2 (fish F1, recording R3): traces file 'data/r3.npy': row 3 contains NaN"
    """

    def __init__(
        self,
        message: str,
        *,
        entry: str | None = None,
        path: str | PathLike | None = None,
        role: str | None = None,
    ) -> None:
        # newlines would break the CLI's one-line report
        self.message = " ".join(str(message).split("\n"))
        self.entry = entry
        self.path = None if path is None else str(path)
        self.role = role
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.entry:
            parts.append(self.entry)
        if self.path is not None:
            parts.append(f"{self.role or 'file'} '{self.path}'")
        parts.append(self.message)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):
        # keyword-only arguments defeat Exception's default pickling, which
        # multiprocessing workers rely on to send errors back
        return (_rebuild_input_error, (self.message, self.entry, self.path, self.role))


def _rebuild_input_error(message, entry, path, role):
    return InputError(message, entry=entry, path=path, role=role)
