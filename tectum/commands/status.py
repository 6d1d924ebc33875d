"""``tectum status``: what is ingested, populated, pending or failed."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..status import status_lines

    connect()
    for line in status_lines():
        print(line)
    return 0


def register(sub) -> None:
    p = sub.add_parser("status", help="what is ingested, populated, pending or failed")
    p.set_defaults(func=run)
