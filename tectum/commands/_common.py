"""What several subcommands share."""

from __future__ import annotations

import warnings


def connect(*, create_tables: bool = True):
    """Activate the schemas with DataJoint's settings and return the ``schemas`` package."""
    warnings.filterwarnings("ignore", message=".*MariaDB is not officially supported.*")
    warnings.filterwarnings("ignore", message=".*No datajoint.json found.*")
    import schemas

    schemas.activate(create_tables=create_tables)
    return schemas
