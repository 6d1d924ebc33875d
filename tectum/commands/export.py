"""``tectum export [RESTRICTION] --out FILE``: per-ROI results as one flat table."""

from __future__ import annotations

from ._common import add_restriction, connect, nothing_matches


def run(args) -> int:
    # imported here, not at the top: `tectum --help` should not wait for DataJoint and pandas
    from ..results import export_results, matching_rois

    connect()
    restriction = args.restriction or None
    if args.strict and not matching_rois(restriction):
        return nothing_matches(args, "ROIs")  # raises: with --strict nothing is written
    n = export_results(args.out, restriction)
    if n == 0:
        nothing_matches(args, "ROIs")
        print(f"export: only the header -> {args.out}")
        return 0
    print(f"export: {n} rows -> {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("export", help="per-ROI results as CSV (or Parquet for *.parquet)",
                       description="One row per ROI and parameter set: fish, recording, paramset, roi, source_id, "
                       "experiment, genotype, region, r2, adj_r2, p_parametric, p_permutation, q_value, selected, "
                       "excluded, roi_class, cluster, then coef_<regressor>, t_<regressor>, amplitude_<regressor>.")
    add_restriction(p, example="paramset=default",
                    names="attributes of analysis.Fit.Roi, source_id, roi_class, cluster, the recording's and the "
                    "fish's, e.g. genotype, experiment, region")
    p.add_argument("--out", required=True, help="output file (.csv, or .parquet / .pq)")
    p.set_defaults(func=run)
