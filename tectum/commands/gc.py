"""``tectum gc [--delete]``: store files no row refers to (DataJoint's garbage collection)."""

from __future__ import annotations

from ._common import connect


def run(args) -> int:
    from ..store import collect_store_garbage, garbage_lines

    connect()
    stats = collect_store_garbage(delete=args.delete)
    for line in garbage_lines(stats):
        print(line)
    return 1 if stats["errors"] else 0


def register(sub) -> None:
    p = sub.add_parser("gc", help="find (and with --delete remove) store files no row refers to",
                       description="Deleted rows leave their .npy files in the object store; DataJoint's garbage "
                       "collector finds the files of the project's schemas that no row refers to. Without "
                       "--delete nothing is removed. Run it when nobody ingests or populates (a file uploaded "
                       "for a row not yet committed looks orphaned). See docs/object-store.md.")
    p.add_argument("--delete", action="store_true", help="remove the files found")
    p.set_defaults(func=run)
