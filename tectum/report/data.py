"""Loading what the report shows from the database.

:func:`report_keys` finds the ``(fish, recording, paramset)`` keys ready for
the report, :func:`load_recording_data` fetches one of them into a
:class:`RecordingData` (with its clusterings as :class:`TreeData`, see
:func:`load_tree`). :class:`ReportError` is raised for an unusable request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TectumError
from .style import class_colors

class ReportError(TectumError, ValueError):
    """The report cannot be written (e.g. an unknown parameter set); the CLI prints it as one line."""


@dataclass
class TreeData:
    """One stored clustering (``Clustering.Tree`` and its members)."""

    roi_set: str                  # 'all' or 'selected'
    n_candidates: int             # ROIs in the set before any cap
    n_rois: int                   # ROIs clustered
    n_clusters: int
    capped: bool
    linkage: np.ndarray           # scipy linkage matrix over the clustered ROIs
    leaf_order: np.ndarray        # roi ids in dendrogram order, as stored
    clustered: np.ndarray         # roi ids in the linkage's row order
    cluster: np.ndarray           # flat cluster label of each roi of leaf_order


@dataclass
class RecordingData:
    """Everything the figures of one ``(fish, recording, paramset)`` need."""

    key: dict
    genotype: str
    region: str
    sensor: str
    frame_period_s: float
    n_frames: int
    paramset_description: str
    stage_params: dict
    kernel_name: str
    n_rois: int
    n_selected: int
    r2_threshold: float | None
    fdr_alpha: float | None
    dff: np.ndarray               # ROIs x frames, row i is roi i
    r2: np.ndarray                # NaN where undefined
    selected: np.ndarray          # bool per roi
    roi_class: np.ndarray         # class name per roi, '' when not classified
    intercept: np.ndarray
    coef: np.ndarray              # ROIs x regressors
    regressor_names: list
    convolved: np.ndarray         # regressors x frames
    onset_frames: list            # int array per regressor
    counts: list                  # (class, n, fraction of selected or None, fraction of all)
    trees: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        k = self.key
        return f"{k['fish']} / {k['recording']} / {k['paramset']}"

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.frame_period_s

    @property
    def colors(self) -> dict:
        return class_colors(self.regressor_names)


def _float_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in np.asarray(values, dtype=object)], dtype=float)


def load_tree(key, roi_set: str, n_candidates: int) -> TreeData | None:
    """The stored clustering of ``roi_set`` ('all' or 'selected') of one key, or None."""
    from schemas import analysis

    tkey = dict(key, roi_set=roi_set)
    rows = (analysis.Clustering.Tree & tkey).to_dicts()
    if not rows:
        return None
    row = rows[0]
    roi, cluster = (analysis.Clustering.Member & tkey).to_arrays("roi", "cluster", order_by="leaf_rank")
    leaf_order = np.asarray(row["leaf_order"], dtype=np.int64).ravel()
    linkage = np.asarray(row["linkage"], dtype=float).reshape(-1, 4)
    roi = np.asarray(roi, dtype=np.int64)
    by_roi = dict(zip(roi.tolist(), np.asarray(cluster, dtype=np.int64).tolist()))
    return TreeData(
        roi_set=roi_set,
        n_candidates=int(n_candidates),
        n_rois=int(row["n_clustered"]),
        n_clusters=int(row["n_clusters"]),
        capped=bool(row["capped"]),
        linkage=linkage,
        leaf_order=leaf_order,
        # pipeline.clustering clusters its rows in ascending order, so leaf i of the linkage is the i-th smallest roi
        clustered=np.sort(roi),
        cluster=np.array([by_roi.get(int(r), 0) for r in leaf_order], dtype=np.int64),
    )


def load_recording_data(key) -> RecordingData:
    """Fetch everything the report shows for one ``(fish, recording, paramset)`` key."""
    from schemas import acquisition, analysis, reference

    key = {k: key[k] for k in ("fish", "recording", "paramset")}
    genotype = (acquisition.Fish & key).fetch1("genotype")
    region, sensor, frame_period, n_frames = (acquisition.Recording & key).fetch1(
        "region", "sensor", "frame_period_s", "n_frames")
    description = (reference.ParamSet & key).fetch1("description")
    n_rois, n_selected, r2_threshold, fdr_alpha = (analysis.Fit & key).fetch1(
        "n_rois", "n_selected", "r2_threshold", "fdr_alpha")
    kernel_name = (analysis.Regressors & key).fetch1("kernel_name")
    regs = analysis.Regressors.load(key)
    names, convolved, onsets = regs.names, regs.convolved, regs.onset_frames
    dff = analysis.DeltaF.load(key)
    roi, r2, selected, intercept = (analysis.Fit.Roi & key).to_arrays("roi", "r2", "selected", "intercept", order_by="roi")
    n = dff.shape[0]
    r2_all = np.full(n, np.nan)
    r2_all[np.asarray(roi, dtype=int)] = _float_array(r2)
    sel = np.zeros(n, dtype=bool)
    sel[np.asarray(roi, dtype=int)] = np.asarray(selected, dtype=bool)
    icpt = np.zeros(n)
    icpt[np.asarray(roi, dtype=int)] = _float_array(intercept)
    _, mats = analysis.Fit.load_coefficients(key, ("coef",))
    coef = mats["coef"]
    coef_all = np.full((n, len(names)), np.nan)
    coef_all[: coef.shape[0]] = coef
    roi_class = np.full(n, "", dtype=object)
    croi, cname = (analysis.Classification.Roi & key).to_arrays("roi", "roi_class")
    roi_class[np.asarray(croi, dtype=int)] = np.asarray(cname, dtype=object)

    count_rows = (analysis.ClassSummary.Count & key).to_dicts()
    if count_rows:
        found = {r["roi_class"]: r for r in count_rows}
        counts = [(c, int(found[c]["n_in_class"]), found[c]["fraction_of_selected"], float(found[c]["fraction_of_all"]))
                  for c in [*names, *sorted(set(found) - set(names))] if c in found]
    else:  # ClassSummary not populated yet: count the classification directly
        counts = []
        for c in names:
            k = int(np.sum(roi_class == c))
            counts.append((c, k, k / n_selected if n_selected else None, k / n_rois if n_rois else 0.0))

    data = RecordingData(
        key=key,
        genotype=str(genotype or ""),
        region=str(region),
        sensor=str(sensor),
        frame_period_s=float(frame_period),
        n_frames=int(n_frames),
        paramset_description=str(description),
        stage_params=reference.ParamSet.stage_params(key["paramset"]),
        kernel_name=str(kernel_name),
        n_rois=int(n_rois),
        n_selected=int(n_selected),
        r2_threshold=None if r2_threshold is None or np.isnan(r2_threshold) else float(r2_threshold),
        fdr_alpha=None if fdr_alpha is None or np.isnan(fdr_alpha) else float(fdr_alpha),
        dff=np.asarray(dff, dtype=float),
        r2=r2_all,
        selected=sel,
        roi_class=roi_class,
        intercept=icpt,
        coef=coef_all,
        regressor_names=list(names),
        convolved=np.atleast_2d(np.asarray(convolved, dtype=float)),
        onset_frames=[np.asarray(o, dtype=int).ravel() for o in onsets],
        counts=counts,
    )
    for roi_set, n_cand in (("all", n), ("selected", int(sel.sum()))):
        tree = load_tree(key, roi_set, n_cand)
        if tree is not None:
            data.trees[roi_set] = tree
    return data


def report_keys(restriction=None, paramsets=None):
    """``(ready keys, number of fits not yet classified/clustered)`` matching the restriction.

    ``restriction`` may name attributes of ``Fit`` and also ``genotype``,
    ``region``, ``experiment`` and ``sensor``.
    """
    import schemas
    from schemas import acquisition, analysis, reference

    schemas.activate()
    if isinstance(paramsets, str):
        paramsets = [paramsets]
    base = (analysis.Fit * acquisition.Recording.proj("region", "experiment", "sensor")
            * acquisition.Fish.proj("genotype"))
    fits = base & (restriction if restriction is not None else {})
    if paramsets is not None:
        known = set(reference.ParamSet().to_arrays("paramset"))
        unknown = [p for p in paramsets if p not in known]
        if unknown:
            raise ReportError(f"unknown parameter set(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(sorted(known))}")
        fits = fits & [{"paramset": p} for p in paramsets]
    ready = fits & analysis.Clustering & analysis.Classification
    keys = ready.proj().to_dicts(order_by=["fish", "recording", "paramset"])
    return keys, len(fits) - len(keys)
