"""``tectum db``: lab roles (admin, analyst, viewer) on a shared database server."""

from __future__ import annotations


def add_db_arguments(parser) -> None:
    """Add the ``tectum db`` subcommands to ``parser``."""
    parser.add_argument("action", choices=["roles"], help="what to do")


def run_db_command(args) -> int:
    raise NotImplementedError("tectum db is not written yet")
