"""``tectum paramset create | list | show | assign``: parameter sets without writing Python.

``create NAME --from default --set regressors.tau_decay_s=2.5 --method regressors=exponential`` copies a
parameter set, changes what is given and stores it through ``reference.ParamSet.create`` (every stage
validated by ``pipeline.params.resolve_params``: a misspelt parameter is refused, naming the allowed ones).
``assign NAME [RESTRICTION]`` assigns it to existing recordings (``analysis.AnalysisTask.assign``).
"""

from __future__ import annotations

import json

from ..errors import TectumError
from ._common import RESTRICTION_HELP, connect

#: the analysis stages in order (reference.STAGES; repeated so that `tectum --help` does not import DataJoint)
STAGES = ("dff", "regressors", "fit", "clustering")


def parse_value(text: str):
    """A ``--set`` value: a JSON literal where it is one (``2.5``, ``null``, ``true``, ``[1, 2]``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_settings(sets, methods) -> tuple[dict, dict]:
    """``--set STAGE.NAME=VALUE`` and ``--method STAGE=METHOD`` -> ``({stage: {name: value}}, {stage: method})``.

    Raises
    ------
    TectumError
        For a malformed option, an unknown stage or a parameter given twice.
    """
    changes: dict[str, dict] = {}
    for item in sets or ():
        name, sep, value = item.partition("=")
        stage, dot, param = name.strip().partition(".")
        if not sep or not dot or not param or "." in param:
            raise TectumError(f"--set {item!r}: write STAGE.PARAMETER=VALUE, e.g. fit.fdr_alpha=0.01")
        _check_stage(stage, f"--set {item!r}")
        if param in changes.get(stage, {}):
            raise TectumError(f"--set {item!r}: {stage}.{param} is set twice")
        changes.setdefault(stage, {})[param] = parse_value(value.strip())
    chosen: dict[str, str] = {}
    for item in methods or ():
        stage, sep, method = item.partition("=")
        stage, method = stage.strip(), method.strip()
        if not sep or not method:
            raise TectumError(f"--method {item!r}: write STAGE=METHOD, e.g. regressors=exponential")
        _check_stage(stage, f"--method {item!r}")
        if stage in chosen:
            raise TectumError(f"--method {item!r}: the method of {stage} is given twice")
        chosen[stage] = method
    return changes, chosen


def _check_stage(stage: str, where: str) -> None:
    if stage not in STAGES:
        raise TectumError(f"{where}: unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def derive_stages(base: dict, changes: dict, methods: dict) -> dict:
    """The stages of a new parameter set: ``base`` with other methods and parameters.

    A stage whose method changes starts from that method's defaults (the
    base's parameters belong to its own method); ``changes`` then apply.
    Validation is left to ``ParamSet.create`` (``resolve_params``).
    """
    stages = {}
    for stage in STAGES:
        method, params = base[stage]
        if stage in methods and methods[stage] != method:
            method, params = methods[stage], {}
        stages[stage] = (method, {**params, **changes.get(stage, {})})
    return stages


def _describe_changes(source: str, changes: dict, methods: dict) -> str:
    parts = [f"{stage} method {m}" for stage, m in methods.items()]
    parts += [
        f"{stage}.{name}={json.dumps(value)}" for stage, values in changes.items() for name, value in values.items()
    ]
    text = f"{source}" + (f" with {', '.join(parts)}" if parts else "")
    return text if len(text) <= 255 else text[:252] + "..."


def run_create(args) -> int:
    schemas = connect()
    reference = schemas.reference
    changes, methods = parse_settings(args.set, args.method)
    if not (reference.ParamSet & {"paramset": args.source}):
        known = ", ".join(sorted(reference.ParamSet().to_arrays("paramset")))
        raise TectumError(f"--from {args.source!r}: unknown parameter set; known: {known}")
    stages = derive_stages(reference.ParamSet.stage_params(args.source), changes, methods)
    description = args.description if args.description is not None else _describe_changes(args.source, changes, methods)
    try:
        complete = reference.ParamSet.create(args.name, description, auto_assign=args.auto_assign, **stages)
    except ValueError as err:  # ParamError (misspelt parameter, bad value) or a name already taken
        raise TectumError(f"parameter set {args.name!r}: {err}") from err
    same = [
        name
        for name, h in zip(*reference.ParamSet().to_arrays("paramset", "params_hash"))
        if name != args.name and h == reference.paramset_hash(complete)
    ]
    print(f"paramset: created {args.name!r} ({description})")
    if same:
        print(f"paramset: note: its parameters are those of {', '.join(map(repr, same))}")
    if args.auto_assign:
        print(
            f"paramset: assigned at ingest to every new recording it fits; for existing recordings run "
            f"`tectum paramset assign {args.name} [RESTRICTION]`"
        )
    else:
        print(f"paramset: assign it with `tectum paramset assign {args.name} [RESTRICTION]`")
    return 0


def run_list(args) -> int:
    schemas = connect(create_tables=False)
    rows = schemas.reference.ParamSet().to_dicts(order_by="paramset")
    tasks = schemas.analysis.AnalysisTask()
    fits = schemas.analysis.Fit()
    width = max([len(r["paramset"]) for r in rows] + [8])
    print(f"{'paramset':<{width}}  auto  assigned  fitted  description")
    for row in rows:
        key = {"paramset": row["paramset"]}
        print(
            f"{row['paramset']:<{width}}  {'yes' if row['auto_assign'] else 'no':<4}  {len(tasks & key):>8}  "
            f"{len(fits & key):>6}  {row['description']}"
        )
    return 0


def run_show(args) -> int:
    schemas = connect(create_tables=False)
    reference = schemas.reference
    rows = (reference.ParamSet & {"paramset": args.name}).to_dicts()
    if not rows:
        known = ", ".join(sorted(reference.ParamSet().to_arrays("paramset")))
        raise TectumError(f"unknown parameter set {args.name!r}; known: {known}")
    row = rows[0]
    print(f"paramset {row['paramset']}: {row['description']}")
    print(f"auto-assign: {'yes' if row['auto_assign'] else 'no'}; params_hash {row['params_hash']}")
    for stage, (method, params) in reference.ParamSet.stage_params(args.name).items():
        print(f"{stage}: method {method}")
        for name in sorted(params):
            print(f"  {stage}.{name}={json.dumps(params[name])}")
    return 0


def run_assign(args) -> int:
    from ..restriction import restrict

    schemas = connect()
    acquisition, analysis, reference = schemas.acquisition, schemas.analysis, schemas.reference
    if not (reference.ParamSet & {"paramset": args.name}):
        known = ", ".join(sorted(reference.ParamSet().to_arrays("paramset")))
        raise TectumError(f"unknown parameter set {args.name!r}; known: {known}")
    recordings = restrict(acquisition.Recording, args.restriction, allowed_extra=(acquisition.Fish(),))
    if not recordings:
        raise TectumError(
            f"no recording matches {args.restriction!r}"
            if args.restriction
            else "there are no recordings yet (tectum ingest adds them)"
        )
    assigned, skipped = analysis.AnalysisTask.assign(args.name, recordings.proj(), dry_run=args.dry_run)
    verb = "would assign" if args.dry_run else "assigned"
    for key in assigned:
        print(f"{verb} {args.name} to {key['fish']}/{key['recording']}")
    for line in skipped:
        print(f"skipped {line}")
    print(f"paramset: {len(assigned)} {verb}, {len(skipped)} skipped")
    if assigned and not args.dry_run:
        print(f"paramset: `tectum populate --paramset {args.name}` computes them")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "paramset",
        help="create, list, show and assign analysis parameter sets",
        description="Parameter sets name the method and complete parameters of each stage "
        f"({', '.join(STAGES)}). `show default` lists every parameter as STAGE.NAME=VALUE.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    c = actions.add_parser(
        "create",
        help="a new parameter set from an existing one with some parameters changed",
        description="Copy --from (default: default), change methods and parameters, store it. "
        "Values are JSON literals where they parse as one (2.5, null, true, [1, 2], "
        '{"a": 1}), text otherwise. Every stage is validated: an unknown parameter or a '
        "wrong type is refused, naming the allowed ones.",
    )
    c.add_argument("name", help="name of the new parameter set (at most 32 characters)")
    c.add_argument(
        "--from",
        dest="source",
        default="default",
        metavar="PARAMSET",
        help="parameter set to start from (default: default)",
    )
    c.add_argument(
        "--set",
        action="append",
        metavar="STAGE.NAME=VALUE",
        help="change one parameter, e.g. fit.fdr_alpha=0.01 (repeatable)",
    )
    c.add_argument(
        "--method",
        action="append",
        metavar="STAGE=METHOD",
        help="another method for a stage, e.g. regressors=exponential; its parameters start from "
        "that method's defaults (repeatable)",
    )
    c.add_argument("--description", help="what it is for (default: what was changed)")
    c.add_argument(
        "--auto-assign", action="store_true", help="assign it at ingest to every new recording it can analyse"
    )
    c.set_defaults(func=run_create)

    lst = actions.add_parser("list", help="every parameter set, with its assigned and fitted recordings")
    lst.set_defaults(func=run_list)

    s = actions.add_parser("show", help="the complete parameters of one parameter set, per stage")
    s.add_argument("name")
    s.set_defaults(func=run_show)

    a = actions.add_parser(
        "assign",
        help="assign a parameter set to existing recordings",
        description="Assign NAME to every recording matching RESTRICTION (all recordings "
        "without one) that it can analyse; prints what was assigned and, for the others, why "
        "not. A restriction matching no recording is an error.",
    )
    a.add_argument("name")
    a.add_argument(
        "restriction",
        nargs="?",
        default="",
        metavar="RESTRICTION",
        help=f"which recordings, e.g. 'fish=F1' or \"genotype = 'wild type'\": {RESTRICTION_HELP} "
        "(attributes of acquisition.Recording and acquisition.Fish)",
    )
    a.add_argument("--dry-run", action="store_true", help="only print what would be assigned")
    a.set_defaults(func=run_assign)
