"""The ``tectum`` subcommands: one module each, with ``register(subparsers)``.

:func:`tectum.cli.build_parser` registers them in the order of
:data:`COMMANDS`; a module's ``register`` adds its parser and sets
``func`` to the function that runs it (returning the exit code). Modules
import the pipeline (DataJoint, pandas, ``schemas``) inside their ``run``
functions, so ``tectum --help`` and argument errors answer at once.
"""

from __future__ import annotations

from . import config, db, demo, export, gc, ingest, paramset, populate, report, status, stimulus, worker

#: subcommand modules, in the order ``tectum --help`` lists them
COMMANDS = (ingest, populate, worker, status, report, export, paramset, stimulus, config, gc, db, demo)
