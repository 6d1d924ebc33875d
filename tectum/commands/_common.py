"""What several subcommands share: connecting, and the RESTRICTION argument."""

from __future__ import annotations

import warnings

from ..errors import TectumError

#: what every RESTRICTION argument's help says
RESTRICTION_HELP = (
    "name=value pairs separated by commas (fish=F1,paramset=default) or a SQL condition "
    "(\"r2 > 0.2 AND roi_class = 'looming'\"); every name must be an attribute the command knows"
)


def connect(*, create_tables: bool = True, prefix: str | None = None):
    """Activate the schemas with DataJoint's settings and return the ``schemas`` package.

    ``prefix`` defaults to ``TECTUM_SCHEMA_PREFIX`` (see :func:`schemas.activate`).

    A missing user or password becomes an error that says where DataJoint
    looks for them (``tectum config init``, ``DJ_USER``, ``DJ_PASS``,
    ``.secrets/database.password``).
    """
    warnings.filterwarnings("ignore", message=".*MariaDB is not officially supported.*")
    warnings.filterwarnings("ignore", message=".*No datajoint.json found.*")
    import schemas

    try:
        schemas.activate(prefix, create_tables=create_tables)
    except schemas.SchemasMissing as err:
        # a schema the user holds no privilege on is invisible to it: the same as one never declared
        from ..access import NO_SCHEMA

        name = schemas.config.schema_names(prefix)["reference"]
        raise TectumError(
            NO_SCHEMA.format(schema=name) + f"; or nothing was ever ingested under the prefix "
            f"{name[: -len('reference')]!r} (check TECTUM_SCHEMA_PREFIX)"
        ) from err
    except Exception as err:
        text = str(err)
        if "user not configured" in text:
            raise TectumError(
                "no database user configured: run `tectum config init --user NAME [--host HOST]` here (writes "
                "datajoint.json) or set DJ_USER; the password goes in .secrets/database.password next to "
                "datajoint.json or in DJ_PASS"
            ) from err
        if "password not configured" in text:
            raise TectumError(
                "no database password configured: put it in .secrets/database.password next to datajoint.json "
                "(an empty file for a server without one) or set DJ_PASS"
            ) from err
        raise
    return schemas


def add_restriction(parser, *, example: str = "fish=F1,paramset=default", names: str = "") -> None:
    """Add the optional RESTRICTION argument and ``--strict`` to a subcommand."""
    help_text = f"limit to what matches, e.g. '{example}': {RESTRICTION_HELP}"
    if names:
        help_text += f" ({names})"
    parser.add_argument("restriction", nargs="?", default="", metavar="RESTRICTION", help=help_text)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with an error when the restriction matches nothing (default: say so, exit 0)",
    )


def nothing_matches(args, what: str) -> int:
    """Say that the restriction matched no ``what`` (exit 0), or raise with ``--strict``."""
    message = f"0 {what} match {args.restriction!r}" if args.restriction else f"no {what} in the database"
    if getattr(args, "strict", False):
        raise TectumError(message)
    print(f"{args.command}: {message}")
    return 0
