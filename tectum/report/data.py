"""Loading what the report shows from the database.

:func:`report_keys` finds the ``(fish, recording, paramset)`` keys ready for
the report, :func:`load_recording_data` fetches one of them into a
:class:`RecordingData` (with its clusterings as :class:`TreeData`, see
:func:`load_tree`). :class:`ReportError` is raised for an unusable request.

Only table and column names are relied on, not the numbers of a particular
version of the stages: optional inputs (response amplitudes, positions, a
kernel, the shift-null p-values, a fitted kernel's objective grid) may be
missing or NULL and are then ``None``/NaN here; the figures say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import TectumError
from .style import NEUTRAL_CLASS_COLORS, class_colors


class ReportError(TectumError, ValueError):
    """The report cannot be written (e.g. an unknown parameter set); the CLI prints it as one line."""


@dataclass
class TreeData:
    """One stored clustering (``Clustering.Tree`` and its members)."""

    roi_set: str  # 'all' or 'selected'
    n_candidates: int  # ROIs in the set before any cap
    n_rois: int  # ROIs clustered
    n_clusters: int
    capped: bool
    linkage: np.ndarray  # scipy linkage matrix over the clustered ROIs
    leaf_order: np.ndarray  # roi ids in dendrogram order, as stored
    clustered: np.ndarray  # roi ids in the linkage's row order
    cluster: np.ndarray  # flat cluster label of each roi of leaf_order


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
    r2_min: float | None
    fdr_alpha: float | None
    dff: np.ndarray  # ROIs x frames, row i is roi i
    r2: np.ndarray  # NaN where undefined
    selected: np.ndarray  # bool per roi
    roi_class: np.ndarray  # class name per roi, '' when not classified
    intercept: np.ndarray
    coef: np.ndarray  # ROIs x regressors
    regressor_names: list
    convolved: np.ndarray  # regressors x frames
    onset_frames: list  # int array per regressor
    counts: list  # (class, n, fraction of selected or None, fraction of all)
    trees: dict = field(default_factory=dict)
    # --- inputs of the paper figures; None where the database has none (or an older layout)
    presentations: pd.DataFrame | None = None  # presentation, stimulus, onset_s, duration_s, regressor
    regressor_stimuli: dict = field(default_factory=dict)  # regressor -> stimuli pooled into it
    significance: str = ""  # Fit.significance: 'shift' or 'parametric'
    q_value: np.ndarray | None = None  # per roi, NaN where undefined
    p_parametric: np.ndarray | None = None
    p_permutation: np.ndarray | None = None  # NaN where NULL (parametric significance)
    n_shifts: np.ndarray | None = None  # shifts of each ROI's stored null (0: none)
    fit_params: dict = field(default_factory=dict)  # the parameter set's fit stage parameters
    amplitude: np.ndarray | None = None  # ROIs x regressors, ResponseAmplitude.Roi.mean_amplitude
    amplitude_method: str = ""
    window_info: dict = field(default_factory=dict)
    trial_amplitudes: pd.DataFrame | None = None  # roi, presentation, stimulus, regressor, amplitude
    positions: np.ndarray | None = None  # ROIs x 3 (x, y, z), NaN where not ingested
    kernel: np.ndarray | None = None  # Regressors.kernel (None: kernel-free model)
    kernel_info: dict = field(default_factory=dict)
    design: np.ndarray | None = None  # Regressors.design, frames x columns
    n_excluded: int = 0  # DeltaF.n_excluded
    linkage_method: str = "average"  # Clustering.linkage_method

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

    @property
    def classes(self) -> list:
        """Classes of this recording in figure order: the regressors, then any other class found
        (e.g. ``inhibited``, ``mixed``, ``unclassified``) in the order of :data:`~tectum.report.style.NEUTRAL_CLASS_COLORS`."""
        found = {str(c) for c in self.roi_class if c}
        counted = {c for c, n, *_ in self.counts if n}
        extra = sorted((found | counted) - set(self.regressor_names), key=_class_sort_key)
        return [*self.regressor_names, *extra]


def _class_sort_key(name: str):
    neutral = [c.lower() for c in NEUTRAL_CLASS_COLORS]
    low = name.lower()
    return (1, neutral.index(low), name) if low in neutral else (0, 0, name)


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


def _none_if_nan(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def _per_roi(n: int, roi, values, fill=np.nan, dtype=float) -> np.ndarray:
    out = np.full(n, fill, dtype=dtype)
    out[np.asarray(roi, dtype=np.int64)] = values
    return out


def _presentations(key, regs) -> pd.DataFrame:
    """The recording's presentations with the regressor each belongs to ('' for none)."""
    from schemas import acquisition

    number, stimulus, onset, duration = (acquisition.Presentation & _rec_key(key)).to_arrays(
        "presentation", "stimulus", "onset_s", "duration_s", order_by="presentation"
    )
    table = pd.DataFrame(
        {
            "presentation": np.asarray(number, dtype=np.int64),
            "stimulus": [str(s) for s in stimulus],
            "onset_s": np.asarray(onset, dtype=float),
            "duration_s": np.asarray(duration, dtype=float),
            "regressor": "",
        }
    )
    # the regressor of a presentation is the one whose stored rows use it (Regressors.Regressor.presentations)
    for name, rows in zip(regs.names, regs.presentation_index):
        table.loc[np.asarray(rows, dtype=np.int64), "regressor"] = name
    return table


def _rec_key(key) -> dict:
    return {"fish": key["fish"], "recording": key["recording"]}


def _amplitudes(key, n: int, names: list):
    """``(ROIs x regressors mean_amplitude, amplitude_method, window_info)`` or ``(None, '', {})``."""
    from schemas import analysis
    from schemas.bulk import fetch_columns

    rows = (analysis.ResponseAmplitude & key).to_dicts()
    if not rows:
        return None, "", {}
    roi, reg, amp = fetch_columns(analysis.ResponseAmplitude.Roi & key, "roi", "regressor", "mean_amplitude")
    matrix = np.full((n, len(names)), np.nan)
    col = {name: i for i, name in enumerate(names)}
    if len(roi):
        matrix[np.asarray(roi, dtype=np.int64), np.array([col[str(r)] for r in reg], dtype=np.int64)] = np.asarray(
            amp, dtype=float
        )
    info = rows[0].get("window_info")
    return matrix, str(rows[0].get("amplitude_method") or ""), info if isinstance(info, dict) else {}


def load_trial_amplitudes(key) -> pd.DataFrame:
    """Per-presentation amplitudes of one key: roi, presentation, stimulus, regressor, amplitude (NaN for NULL).

    :meth:`schemas.analysis.ResponseAmplitude.presentations` of the key.
    """
    from schemas import analysis

    frame = analysis.ResponseAmplitude.presentations({k: key[k] for k in ("fish", "recording", "paramset")})
    return frame[["roi", "presentation", "stimulus", "regressor", "amplitude"]]


def load_recording_data(key) -> RecordingData:
    """Fetch everything the report shows for one ``(fish, recording, paramset)`` key."""
    from schemas import acquisition, analysis, reference
    from schemas.bulk import fetch_columns

    key = {k: key[k] for k in ("fish", "recording", "paramset")}
    genotype = (acquisition.Fish & key).fetch1("genotype")
    region, sensor, frame_period, n_frames = (acquisition.Recording & key).fetch1(
        "region", "sensor", "frame_period_s", "n_frames"
    )
    description = (reference.ParamSet & key).fetch1("description")
    stage_params = reference.ParamSet.stage_params(key["paramset"])
    # the r2 floor is Fit.r2_min (r2_threshold in schemas before the calibrated stages)
    floor = "r2_min" if "r2_min" in analysis.Fit.heading.names else "r2_threshold"
    n_rois, n_selected, r2_min, fdr_alpha, significance = (analysis.Fit & key).fetch1(
        "n_rois", "n_selected", floor, "fdr_alpha", "significance"
    )
    regs = analysis.Regressors.load(key)  # a pipeline.stages.RegressorResult
    kernel, kernel_info = regs.kernel, regs.kernel_info
    names = list(regs.names)
    dff = np.asarray(analysis.DeltaF.load(key), dtype=float)
    n_excluded = int((analysis.DeltaF & key).fetch1("n_excluded"))
    n = dff.shape[0]

    roi, r2, selected, intercept, q, p_par, p_perm, n_shifts = fetch_columns(
        analysis.Fit.Roi & key,
        "roi",
        "r2",
        "selected",
        "intercept",
        "q_value",
        "p_parametric",
        "p_permutation",
        "n_shifts",
        order_by="roi",
    )
    _, mats = analysis.Fit.load_coefficients(key, ("coef",))
    coef = mats["coef"]
    coef_all = np.full((n, len(names)), np.nan)
    coef_all[: coef.shape[0]] = coef
    roi_class = np.full(n, "", dtype=object)
    croi, cname = fetch_columns(analysis.Classification.Roi & key, "roi", "roi_class")
    roi_class[np.asarray(croi, dtype=np.int64)] = np.asarray(cname, dtype=object)

    count_rows = (analysis.ClassSummary.Count & key).to_dicts()
    if count_rows:
        found = {r["roi_class"]: r for r in count_rows}
        order = [*names, *sorted(set(found) - set(names), key=_class_sort_key)]
        counts = [
            (
                c,
                int(found[c]["n_in_class"]),
                _none_if_nan(found[c]["fraction_of_selected"]),
                float(found[c]["fraction_of_all"]),
            )
            for c in order
            if c in found
        ]
    else:  # ClassSummary not populated yet: count the classification directly
        present = sorted({str(c) for c in roi_class if c} - set(names), key=_class_sort_key)
        counts = []
        for c in [*names, *present]:
            k = int(np.sum(roi_class == c))
            counts.append((c, k, k / n_selected if n_selected else None, k / n_rois if n_rois else 0.0))

    presentations = _presentations(key, regs)
    amplitude, amplitude_method, window_info = _amplitudes(key, n, names)
    trial_amplitudes = None
    if amplitude is not None and any(len(set(v)) > 1 for v in regs.stimuli.values()):
        # a regressor pools several stimuli: the per-stimulus tuning needs the per-presentation values
        trial_amplitudes = load_trial_amplitudes(key)
    rid, x, y, z = fetch_columns(acquisition.RoiTraces.Roi & _rec_key(key), "roi", "x", "y", "z", order_by="roi")
    positions = np.full((n, 3), np.nan)
    if len(rid):
        positions[np.asarray(rid, dtype=np.int64)] = np.column_stack([np.asarray(v, dtype=float) for v in (x, y, z)])

    data = RecordingData(
        key=key,
        genotype=str(genotype or ""),
        region=str(region),
        sensor=str(sensor),
        frame_period_s=float(frame_period),
        n_frames=int(n_frames),
        paramset_description=str(description),
        stage_params=stage_params,
        kernel_name=str(regs.kernel_name),
        n_rois=int(n_rois),
        n_selected=int(n_selected),
        r2_min=_none_if_nan(r2_min),
        fdr_alpha=_none_if_nan(fdr_alpha),
        dff=dff,
        r2=_per_roi(n, roi, _float_array(r2)),
        selected=_per_roi(n, roi, np.asarray(selected, dtype=bool), fill=False, dtype=bool),
        roi_class=roi_class,
        intercept=_per_roi(n, roi, np.nan_to_num(_float_array(intercept)), fill=0.0),
        coef=coef_all,
        regressor_names=names,
        convolved=np.atleast_2d(np.asarray(regs.convolved, dtype=float)),
        onset_frames=[np.asarray(o, dtype=int).ravel() for o in regs.onset_frames],
        counts=counts,
        presentations=presentations,
        regressor_stimuli={name: list(regs.stimuli.get(name, [])) for name in names},
        significance=str(significance or ""),
        q_value=_per_roi(n, roi, _float_array(q)),
        p_parametric=_per_roi(n, roi, _float_array(p_par)),
        p_permutation=_per_roi(n, roi, _float_array(p_perm)),
        n_shifts=_per_roi(n, roi, np.nan_to_num(_float_array(n_shifts)).astype(np.int64), fill=0, dtype=np.int64),
        fit_params=dict(stage_params.get("fit", (None, {}))[1] or {}),
        amplitude=amplitude,
        amplitude_method=amplitude_method,
        window_info=window_info,
        trial_amplitudes=trial_amplitudes,
        positions=positions,
        kernel=None if kernel is None else np.asarray(kernel, dtype=float).ravel(),
        kernel_info=kernel_info if isinstance(kernel_info, dict) else {},
        design=np.asarray(regs.design, dtype=float),
        n_excluded=n_excluded,
    )
    for row in (analysis.Clustering & key).proj("linkage_method").to_dicts():
        data.linkage_method = str(row["linkage_method"])
    for roi_set, n_cand in (("all", int(np.isfinite(dff).all(axis=1).sum())), ("selected", int(data.selected.sum()))):
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
    base = (
        analysis.Fit * acquisition.Recording.proj("region", "experiment", "sensor") * acquisition.Fish.proj("genotype")
    )
    fits = base & (restriction if restriction is not None else {})
    if paramsets is not None:
        known = set(reference.ParamSet().to_arrays("paramset"))
        unknown = [p for p in paramsets if p not in known]
        if unknown:
            raise ReportError(
                f"unknown parameter set(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}"
            )
        fits = fits & [{"paramset": p} for p in paramsets]
    ready = (
        fits & analysis.Clustering.proj() & analysis.Classification.proj()
    )  # keys only: masters share provenance columns
    keys = ready.proj().to_dicts(order_by=["fish", "recording", "paramset"])
    return keys, len(fits) - len(keys)
