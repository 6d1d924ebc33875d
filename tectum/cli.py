"""The ``tectum`` command: ingest, populate, status, report, export, db, demo.

Every subcommand exits 0 on success and non-zero on any error, printing one
readable line (the traceback only with ``--debug``). Each subcommand lives in
its own module of :mod:`tectum.commands`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from . import __version__
from .access import explain_refusal
from .commands import COMMANDS
from .errors import TectumError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tectum",
        description="Regression-based functional classification of neurons in calcium imaging "
        "(DataJoint pipeline). Database settings: DJ_HOST, DJ_USER, DJ_PASS, DJ_PORT, DJ_BACKEND "
        "or datajoint.json; schema names start with TECTUM_SCHEMA_PREFIX (default tectum_).",
    )
    parser.add_argument("--version", action="version", version=f"tectum {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the full traceback on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ.setdefault("DJ_LOG_LEVEL", "WARNING")
    logging.getLogger("datajoint").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("tectum: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one readable line unless --debug
        if args.debug:
            traceback.print_exc()
        kind = "" if isinstance(err, (TectumError, ValueError)) else f"{type(err).__name__}: "
        message = explain_refusal(err, args.command) or kind + " ".join(str(err).split())
        print(f"tectum {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
