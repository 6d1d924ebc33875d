"""``tectum stimulus add | list``: the stimulus types a protocol may contain (reference.StimulusType)."""

from __future__ import annotations

from ..errors import TectumError
from ._common import connect


def run_add(args) -> int:
    schemas = connect()
    try:
        schemas.reference.StimulusType.add(args.name, args.description or "")
    except ValueError as err:  # reserved or invalid name, too long a description, already there
        raise TectumError(str(err)) from err
    print(f"stimulus: added {args.name!r}" + (f" ({args.description})" if args.description else ""))
    return 0


def run_list(args) -> int:
    schemas = connect(create_tables=False)
    rows = schemas.reference.StimulusType().to_dicts(order_by="stimulus")
    recordings, presentations = schemas.acquisition.Recording(), schemas.acquisition.Presentation()
    width = max([len(r["stimulus"]) for r in rows] + [8])
    print(f"{'stimulus':<{width}}  recordings  description")
    for row in rows:
        n = len(recordings & (presentations & {"stimulus": row["stimulus"]}))
        print(f"{row['stimulus']:<{width}}  {n:>10}  {row['description']}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "stimulus",
        help="add or list stimulus types",
        description="A manifest's events may only name declared stimulus types. The names "
        "inhibited, mixed and unclassified are reserved for response classes.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="declare a stimulus type")
    a.add_argument("name", help="stimulus name as the events files write it (at most 64 characters)")
    a.add_argument("--description", default="", help="what the stimulus is (at most 255 characters)")
    a.set_defaults(func=run_add)
    lst = actions.add_parser("list", help="every stimulus type and the number of recordings that use it")
    lst.set_defaults(func=run_list)
