"""``tectum db ACTION``: lab roles and users on a shared server (see tectum.roles)."""

from __future__ import annotations


def run(args) -> int:
    from ..roles import run_db_command

    return run_db_command(args)


def register(sub) -> None:
    from ..roles import add_db_arguments

    p = sub.add_parser("db", help="lab roles and users on a shared server (admin, analyst, viewer)")
    add_db_arguments(p)
    p.set_defaults(func=run)
