"""``tectum export [RESTRICTION] --out FILE``: per-ROI results as one flat table, or NWB files."""

from __future__ import annotations

from ._common import add_restriction, connect, nothing_matches


def run(args) -> int:
    # imported here, not at the top: `tectum --help` should not wait for DataJoint and pandas
    from ..results import export_results, matching_rois

    connect()
    restriction = args.restriction or None
    if args.format == "nwb":
        from ..nwb_db import export_nwb, nwb_export_keys

        if args.strict and not nwb_export_keys(restriction)[0]:
            return nothing_matches(args, "fitted recordings")
        paths, pending = export_nwb(args.out, restriction, progress=not args.quiet)
        print(f"export: {len(paths)} NWB file(s) -> {args.out}")
        if pending:
            print(
                f"export: {pending} fitted recording/parameter set(s) skipped: not yet classified, clustered "
                "and with response amplitudes (run tectum populate)"
            )
        return 0
    if args.strict and not matching_rois(restriction):
        return nothing_matches(args, "ROIs")  # raises: with --strict nothing is written
    n = export_results(args.out, restriction, fmt=args.format)
    if n == 0:
        nothing_matches(args, "ROIs")
        print(f"export: only the header -> {args.out}")
        return 0
    print(f"export: {n} rows -> {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="per-ROI results as CSV or Parquet, or one NWB file per recording",
        description="One row per ROI and parameter set: fish, recording, paramset, roi, source_id, "
        "experiment, genotype, region, r2, adj_r2, p_parametric, p_permutation, q_value, selected, "
        "excluded, roi_class, cluster, then coef_<regressor>, t_<regressor>, z_<regressor>, "
        "pcoef_<regressor>, amplitude_<regressor>. Without --format, the suffix of --out chooses CSV "
        "or Parquet (*.parquet). --format nwb writes OUT/<fish>/<recording>/<paramset>.nwb with the "
        "dF/F, the regressors, the stimulus presentations and the per-ROI results (needs pynwb).",
    )
    add_restriction(
        p,
        example="paramset=default",
        names="attributes of analysis.Fit.Roi, source_id, roi_class, cluster, the recording's and the "
        "fish's, e.g. genotype, experiment, region",
    )
    p.add_argument("--out", required=True, help="output file (.csv, or .parquet / .pq), or folder for --format nwb")
    p.add_argument(
        "--format",
        choices=("csv", "parquet", "nwb"),
        default=None,
        help="output format (default: by the suffix of --out)",
    )
    p.set_defaults(func=run)
