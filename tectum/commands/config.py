"""``tectum config init | show``: DataJoint's own settings file, ``datajoint.json``, without a password.

DataJoint reads ``datajoint.json`` from the working directory or the nearest
parent (up to the repository root), then ``.secrets/`` next to it
(``database.password``, ``stores.<name>.secret_key``); ``DJ_*`` environment
variables override both. ``init`` writes host, user, port and backend (and
optionally the ``tectum`` object store); the password never goes into the
file: it goes into ``.secrets/database.password`` or ``DJ_PASS``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import TectumError

#: default port of each backend
PORTS = {"mysql": 3306, "postgresql": 5432}


def write_config(
    path, *, host: str, user: str, backend: str, port: int | None = None, store_dir=None, force: bool = False
) -> dict:
    """Write (or with ``force`` update) ``datajoint.json`` at ``path``; return what it holds.

    Other keys of an existing file are kept; ``database.host``, ``.user``,
    ``.port``, ``.backend`` (and ``stores.tectum`` with ``store_dir``) are
    replaced. No password is ever written.
    """
    path = Path(path)
    if backend not in PORTS:
        raise TectumError(f"--backend {backend!r}: choose mysql (MySQL, MariaDB) or postgresql")
    if not user or not user.strip():
        raise TectumError("--user: give the database user name")
    data: dict = {}
    if path.exists():
        if not force:
            raise TectumError(f"{path} exists; add --force to update its database settings (other keys are kept)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise TectumError(f"{path} is not valid JSON ({err}); fix or remove it") from err
        if not isinstance(data, dict):
            raise TectumError(f"{path} does not hold a JSON object; fix or remove it")
    database = dict(data.get("database") or {})
    database.update(host=host, user=user, port=int(port or PORTS[backend]), backend=backend)
    data["database"] = database
    if store_dir is not None:
        data.setdefault("stores", {})["tectum"] = {
            "protocol": "file",
            "location": str(Path(store_dir).expanduser().resolve()),
        }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def ensure_secrets_dir(folder) -> Path:
    """``.secrets/`` next to ``datajoint.json``, readable only by its owner and ignored by git."""
    secrets = Path(folder) / ".secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    ignore = secrets / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# never commit secrets\n*\n", encoding="utf-8")
    return secrets


def run_init(args) -> int:
    path = Path("datajoint.json")  # the name DataJoint looks for
    data = write_config(
        path,
        host=args.host,
        user=args.user,
        backend=args.backend,
        port=args.port,
        store_dir=args.store_dir,
        force=args.force,
    )
    secrets = ensure_secrets_dir(path.parent)
    db = data["database"]
    print(f"config: wrote {path} (host {db['host']}, port {db['port']}, user {db['user']}, backend {db['backend']})")
    if "password" in db:
        print(f"config: warning: {path} also holds a password; move it to {secrets / 'database.password'}")
    password_file = secrets / "database.password"
    if args.empty_password:
        if password_file.exists() and password_file.read_text(encoding="utf-8").strip():
            raise TectumError(f"--empty-password: {password_file} already holds a password; remove it first")
        password_file.touch(mode=0o600)
        print(f"config: {password_file} is empty: the server has no password for {db['user']}")
    elif password_file.exists():
        print(f"config: the password is read from {password_file}")
    else:
        print(
            f"config: now give the password: write it to {password_file} (an empty file for a server without "
            "one; `chmod 600` it), or export DJ_PASS"
        )
    return 0


def _password_source(config_path) -> str:
    if os.environ.get("DJ_PASS") is not None:
        return "set (DJ_PASS)"
    if config_path is not None:
        secret = Path(config_path).parent / ".secrets" / "database.password"
        if secret.is_file():
            return f"set ({secret})"
        try:
            if "password" in (json.loads(Path(config_path).read_text()).get("database") or {}):
                return f"set (in {config_path}: move it to .secrets/database.password)"
        except ValueError:
            pass
    if Path("/run/secrets/datajoint/database.password").is_file():
        return "set (/run/secrets/datajoint/database.password)"
    return "not set (write .secrets/database.password next to datajoint.json, or export DJ_PASS)"


def run_show(args) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*No datajoint.json found.*")
    import datajoint as dj
    from datajoint.settings import find_config_file

    from schemas.config import schema_names, schema_prefix

    config_path = find_config_file()
    store = dj.config.stores.get("tectum")
    print(f"settings file: {config_path or 'none (datajoint.json in this folder or a parent)'}")
    print(
        f"host: {dj.config['database.host']}  port: {dj.config['database.port']}  "
        f"backend: {dj.config['database.backend']}"
    )
    print(f"user: {dj.config['database.user'] or 'not set (tectum config init --user NAME, or DJ_USER)'}")
    print(f"password: {_password_source(config_path)}")
    print(f"schemas: {', '.join(list(schema_names().values())[:3])} (TECTUM_SCHEMA_PREFIX={schema_prefix()})")
    local = "not configured (a local folder is used: TECTUM_STORE_DIR, default ~/.local/share/tectum/store)"
    print(f"object store 'tectum': {json.dumps(store) if store else local}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "config",
        help="write or show the database settings (datajoint.json, no password)",
        description="DataJoint reads datajoint.json in the working directory or a parent, the "
        "password from .secrets/database.password next to it, and DJ_HOST, DJ_USER, DJ_PASS, "
        "DJ_PORT, DJ_BACKEND, which override both.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    i = actions.add_parser("init", help="write datajoint.json here (host, user, port, backend; never a password)")
    i.add_argument("--host", default="localhost", help="database server (default localhost)")
    i.add_argument("--user", required=True, help="database user")
    i.add_argument(
        "--backend", choices=sorted(PORTS), default="mysql", help="mysql (MySQL or MariaDB, default) or postgresql"
    )
    i.add_argument("--port", type=int, help="default 3306 for mysql, 5432 for postgresql")
    i.add_argument("--store-dir", help="folder of the 'tectum' object store (a shared path for a lab)")
    i.add_argument("--force", action="store_true", help="update an existing file (its other keys are kept)")
    i.add_argument(
        "--empty-password",
        action="store_true",
        help="the user has no password (a local development server): write an empty .secrets/database.password",
    )
    i.set_defaults(func=run_init)
    s = actions.add_parser("show", help="the settings DataJoint will use here (the password only as set / not set)")
    s.set_defaults(func=run_show)
