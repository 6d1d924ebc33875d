"""Per-ROI results as one flat table, for statistics outside the database."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: the leading columns of the exported table, in order
ID_COLUMNS = ["fish", "recording", "paramset", "roi", "source_id"]


def results_table(restriction=None) -> pd.DataFrame:
    """One row per ROI and parameter set.

    Columns: ``fish, recording, paramset, roi, source_id, genotype, region,
    r2, adj_r2, p_value, q_value, selected, class`` (empty where not
    selected), ``cluster`` (flat cluster among all ROIs), then
    ``coef_<regressor>``, ``t_<regressor>`` and ``amplitude_<regressor>`` for
    every regressor.

    Parameters
    ----------
    restriction : DataJoint restriction, optional
        E.g. ``{"paramset": "default"}`` or ``"fish LIKE 'F%'"``.
    """
    import schemas
    from schemas import acquisition, analysis

    schemas.activate()

    restriction = restriction if restriction is not None else {}
    fits = analysis.Fit.Roi & restriction
    base = (fits * acquisition.RoiTraces.Roi.proj("source_id") * acquisition.Recording.proj("region")
            * acquisition.Fish.proj("genotype"))
    df = base.to_pandas().reset_index()
    if df.empty:
        return pd.DataFrame(columns=ID_COLUMNS + ["r2", "p_value", "q_value", "selected", "class", "cluster"])
    keys = ["fish", "recording", "paramset", "roi"]
    df = df[keys + ["source_id", "genotype", "region", "r2", "adj_r2", "p_parametric", "p_permutation", "q_value",
                    "selected", "excluded"]]
    df["selected"] = df["selected"].astype(bool)

    classes = (analysis.Classification.Roi & restriction).to_pandas().reset_index()
    classes = classes[keys + ["roi_class"]].rename(columns={"roi_class": "class"}) if len(classes) else None
    df = df.merge(classes, on=keys, how="left") if classes is not None else df.assign(**{"class": None})
    df["class"] = df["class"].fillna("")

    members = (analysis.Clustering.Member & restriction & {"roi_set": "all"}).to_pandas().reset_index()
    if len(members):
        df = df.merge(members[keys + ["cluster"]], on=keys, how="left")
    else:
        df["cluster"] = pd.NA
    df["cluster"] = df["cluster"].astype("Int64")

    coefs = (analysis.Fit.Coefficient & restriction).to_pandas().reset_index()
    if len(coefs):
        wide = coefs.pivot_table(index=keys, columns="regressor", values=["coef", "t_value"], aggfunc="first")
        wide.columns = [f"{'coef' if v == 'coef' else 't'}_{reg}" for v, reg in wide.columns]
        df = df.merge(wide.reset_index(), on=keys, how="left")
    amps = (analysis.ResponseAmplitude.Roi & restriction).to_pandas().reset_index()
    if len(amps):
        wide = amps.pivot_table(index=keys, columns="regressor", values="mean_amplitude", aggfunc="first")
        wide.columns = [f"amplitude_{reg}" for reg in wide.columns]
        df = df.merge(wide.reset_index(), on=keys, how="left")
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def export_results(path, restriction=None) -> int:
    """Write :func:`results_table` to CSV, or Parquet when ``path`` ends in ``.parquet``.

    Returns the number of rows written.
    """
    path = Path(path)
    df = results_table(restriction)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return len(df)
