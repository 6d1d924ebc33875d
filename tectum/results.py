"""Per-ROI results as one flat table, for statistics outside the database.

The columns are named after the attributes they come from, so a column of
the exported file is also a name a restriction may use (except the pivoted
``coef_<regressor>``, ``t_<regressor>``, ``z_<regressor>``, ``pcoef_<regressor>`` and ``amplitude_<regressor>``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import schemas
from schemas import acquisition, analysis

from .restriction import restrict, roi_tables

__all__ = ["ID_COLUMNS", "COLUMNS", "results_table", "export_results", "matching_rois"]

#: the leading columns of the exported table, in order
ID_COLUMNS = ["fish", "recording", "paramset", "roi", "source_id"]

#: Fit.Coefficient attribute -> prefix of its per-regressor column
_PER_REGRESSOR = {"coef": "coef", "t_value": "t", "coef_z": "z", "coef_p": "pcoef"}

#: the fixed columns, in order; ``coef_<regressor>``, ``t_<regressor>``, ``z_<regressor>``,
#: ``pcoef_<regressor>`` and ``amplitude_<regressor>`` follow
COLUMNS = ID_COLUMNS + [
    "experiment",
    "genotype",
    "region",
    "r2",
    "adj_r2",
    "p_parametric",
    "p_permutation",
    "q_value",
    "selected",
    "excluded",
    "roi_class",
    "cluster",
]

_KEYS = ["fish", "recording", "paramset", "roi"]


def matching_rois(restriction=None):
    """``analysis.Fit.Roi`` restricted strictly (see :func:`tectum.restriction.restrict`).

    The restriction may name attributes of ``Fit.Roi`` and the ROI's
    ``source_id``, class (``roi_class``, ``score``, ``margin``), flat cluster
    among all ROIs (``cluster``), recording (``experiment``, ``region``,
    ``sensor``, ...) and fish (``genotype``, ...).
    """
    schemas.activate()  # no-op when already active, whatever the prefix
    return restrict(analysis.Fit.Roi, restriction, allowed_extra=roi_tables())


def results_table(restriction=None) -> pd.DataFrame:
    """One row per ROI and parameter set.

    Columns :data:`COLUMNS` (``roi_class`` empty where the ROI is not
    selected, ``cluster`` the flat cluster among all ROIs), then
    ``coef_<regressor>``, ``t_<regressor>``, ``z_<regressor>``, ``pcoef_<regressor>`` and ``amplitude_<regressor>`` for
    every regressor.

    Parameters
    ----------
    restriction : str or dict, optional
        ``"paramset=default"``, ``"r2 > 0.2 AND roi_class = 'looming'"`` or a
        key such as ``{"fish": "F1", "recording": "R1", "paramset": "default"}``;
        every name must be one :func:`matching_rois` allows.

    Raises
    ------
    tectum.restriction.RestrictionError
        For an unknown name, bad syntax or a value of the wrong type.
    """
    rois = matching_rois(restriction)
    keys = rois.proj()
    base = (
        rois
        * acquisition.RoiTraces.Roi.proj("source_id")
        * acquisition.Recording.proj("experiment", "region")
        * acquisition.Fish.proj("genotype")
    )
    df = base.to_pandas().reset_index()
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = df[_KEYS + [c for c in COLUMNS if c in df.columns and c not in _KEYS]]
    df["selected"] = df["selected"].astype(bool)

    classes = (analysis.Classification.Roi & keys).to_pandas().reset_index()
    if len(classes):
        df = df.merge(classes[_KEYS + ["roi_class"]], on=_KEYS, how="left")
    else:
        df["roi_class"] = None
    df["roi_class"] = df["roi_class"].fillna("")

    members = (analysis.Clustering.Member & keys & {"roi_set": "all"}).to_pandas().reset_index()
    if len(members):
        df = df.merge(members[_KEYS + ["cluster"]], on=_KEYS, how="left")
    else:
        df["cluster"] = pd.NA
    df["cluster"] = df["cluster"].astype("Int64")
    df = df[COLUMNS]

    coefs = (analysis.Fit.Coefficient & keys).to_pandas().reset_index()
    if len(coefs):
        wide = coefs.pivot_table(
            index=_KEYS, columns="regressor", values=list(_PER_REGRESSOR), aggfunc="first", dropna=False
        )
        wide.columns = [f"{_PER_REGRESSOR[v]}_{reg}" for v, reg in wide.columns]
        df = df.merge(wide.reset_index(), on=_KEYS, how="left")
    amps = (analysis.ResponseAmplitude.Roi & keys).to_pandas().reset_index()
    if len(amps):
        wide = amps.pivot_table(
            index=_KEYS, columns="regressor", values="mean_amplitude", aggfunc="first", dropna=False
        )
        wide.columns = [f"amplitude_{reg}" for reg in wide.columns]
        df = df.merge(wide.reset_index(), on=_KEYS, how="left")
    return df.sort_values(_KEYS, kind="stable").reset_index(drop=True)


_SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def export_results(path, restriction=None, *, fmt: str | None = None) -> int:
    """Write :func:`results_table` to CSV, or Parquet when ``path`` ends in ``.parquet`` or ``.pq``.

    ``fmt`` (``"csv"`` or ``"parquet"``) chooses the format explicitly; a
    suffix that says otherwise (``--format csv --out x.parquet``) is an
    error rather than a file whose name lies. Returns the number of rows
    written (with no row, only the header is written).
    """
    path = Path(path)
    by_suffix = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is not None and fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown export format {fmt!r}: expected csv or parquet")
    if fmt is not None and by_suffix is not None and by_suffix != fmt:
        raise ValueError(f"--format {fmt} but --out {path} ends in {path.suffix}, a {by_suffix} suffix")
    fmt = fmt or by_suffix or "csv"
    df = results_table(restriction)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return len(df)
