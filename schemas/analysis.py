"""Computed tables: the analysis of every recording under every parameter set.

Each ``make()`` handles one recording-level key ``(fish, recording, paramset)``:
it fetches, computes with :mod:`pipeline`, and inserts the master row and its
per-ROI part rows; ``populate()`` runs it inside one transaction, so a failure
leaves no partial rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import datajoint as dj

import pipeline
from pipeline.clustering import cluster_rois, correlation_distance

from . import acquisition, reference
from .bulk import fetch_columns, insert_columns
from .config import STORE, schema_prefix

schema = dj.Schema(schema_prefix() + "analysis")


class AnalysisError(RuntimeError):
    """A recording could not be analysed; the message names it and the parameter set."""


def _where(key) -> str:
    return f"recording {key['fish']}/{key['recording']} (paramset {key['paramset']})"


def _recording_arrays(key):
    """Traces, neuropil, kind and roi ids of the recording named by ``key``."""
    rec_key = {"fish": key["fish"], "recording": key["recording"]}
    kind, traces_ref, neuropil_ref = (acquisition.RoiTraces & rec_key).fetch1("trace_kind", "traces", "neuropil")
    traces = np.asarray(traces_ref.load())
    neuropil = np.asarray(neuropil_ref.load()) if neuropil_ref is not None else None
    (source_ids,) = fetch_columns(acquisition.RoiTraces.Roi & rec_key, "source_id", order_by="roi")
    return kind, traces, neuropil, source_ids


def _events(key) -> pd.DataFrame:
    rec_key = {"fish": key["fish"], "recording": key["recording"]}
    rows = (acquisition.Presentation & rec_key).to_dicts(order_by="presentation")
    return pd.DataFrame(
        {
            "stimulus": [r["stimulus"] for r in rows],
            "onset_s": [r["onset_s"] for r in rows],
            "duration_s": [r["duration_s"] for r in rows],
        }
    )


@schema
class DeltaF(dj.Computed):
    definition = """
    # dF/F of every ROI of a recording
    -> acquisition.RoiTraces
    -> reference.ParamSet
    ---
    method: varchar(32)
    dff: <npy@{store}>                 # float32, ROIs x frames
    """.format(store=STORE)

    def make(self, key):
        method, params = reference.ParamSet.stage_params(key["paramset"])["dff"]
        kind, traces, neuropil, source_ids = _recording_arrays(key)
        frame_period = (acquisition.Recording & key).fetch1("frame_period_s")
        if kind == "dff":
            method = "none"  # stored traces are already dF/F
        try:
            dff = pipeline.compute_dff(
                traces,
                method,
                frame_period_s=frame_period,
                percentile=params.get("percentile", 8.0),
                window_s=params.get("window_s", 60.0),
                neuropil=neuropil,
                neuropil_factor=params.get("neuropil_factor", 0.7),
                roi_ids=source_ids,
            )
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        self.insert1(dict(key, method=method, dff=dff.astype(np.float32)))

    @staticmethod
    def load(key) -> np.ndarray:
        """The dF/F matrix of one ``(fish, recording, paramset)`` key."""
        return np.asarray((DeltaF & key).fetch1("dff").load())


@schema
class Regressors(dj.Computed):
    definition = """
    # stimulus regressors convolved with the sensor kernel
    -> acquisition.Recording
    -> reference.ParamSet
    ---
    kernel_name: varchar(64)
    kernel: <blob>                     # sampled at the frame times
    """

    class Regressor(dj.Part):
        definition = """
        -> master
        regressor: varchar(32)         # e.g. prey, looming, dimming
        ---
        regressor_index: int16         # column in the design matrix
        n_presentations: int32
        onset_frames: <blob>           # int, frame of each presentation onset
        raw: <blob>                    # 0/1 stimulus train
        convolved: <blob>              # the regressor used in the fit
        """

    @property
    def key_source(self):
        return (acquisition.Recording & acquisition.Presentation) * reference.ParamSet

    def make(self, key):
        method, params = reference.ParamSet.stage_params(key["paramset"])["regressors"]
        sensor, frame_period, n_frames = (acquisition.Recording & key).fetch1("sensor", "frame_period_s", "n_frames")
        try:
            if params.get("kernel", "sensor") == "seed2020":
                kernel = pipeline.seed2020_kernel(sensor, frame_period, n_frames)
                kernel_name = f"seed2020 {sensor}"
            else:
                delay = params.get("delay_s", pipeline.SENSOR_KERNEL_DELAY_S)
                kernel = pipeline.sensor_kernel(sensor, frame_period, delay_s=delay)
                kernel_name = f"{sensor} literature, {delay:g} s delay"
            regs = pipeline.build_regressors(
                _events(key), n_frames, frame_period, kernel, groups=params.get("groups"), mode=method
            )
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        self.insert1(dict(key, kernel_name=kernel_name, kernel=kernel))
        self.Regressor.insert(
            [
                dict(
                    key,
                    regressor=name,
                    regressor_index=i,
                    n_presentations=len(regs.onset_frames[i]),
                    onset_frames=np.asarray(regs.onset_frames[i], dtype=np.int64),
                    raw=regs.raw[i],
                    convolved=regs.convolved[i],
                )
                for i, name in enumerate(regs.names)
            ]
        )

    @staticmethod
    def load(key):
        """``(names, convolved (n_reg x n_frames), onset_frames list)`` of one key."""
        names, conv, onsets = (Regressors.Regressor & key).to_arrays(
            "regressor", "convolved", "onset_frames", order_by="regressor_index"
        )
        return list(names), np.vstack(conv), [np.asarray(o, dtype=int) for o in onsets]

    @staticmethod
    def names(key) -> list[str]:
        """The regressor names of one key, in design-matrix order (no blobs fetched)."""
        (names,) = fetch_columns(Regressors.Regressor & key, "regressor", order_by="regressor_index")
        return list(names)


@schema
class Fit(dj.Computed):
    definition = """
    # multiple linear regression of every ROI on the regressors, and selection
    -> DeltaF
    -> Regressors
    ---
    n_rois: int32
    n_selected: int32
    df_resid: int32                    # residual degrees of freedom
    r2_threshold: float64
    fdr_alpha=null: float64            # Benjamini-Hochberg level, null when not used
    """

    class Roi(dj.Part):
        definition = """
        -> master
        -> acquisition.RoiTraces.Roi
        ---
        r2=null: float64               # null for a zero-variance trace
        adj_r2=null: float64
        intercept: float64
        f_stat=null: float64
        p_value=null: float64          # F-test of the whole model
        q_value=null: float64          # Benjamini-Hochberg
        selected: bool                 # stimulus-locked
        index (selected)
        """

    class Coefficient(dj.Part):
        definition = """
        -> Fit.Roi
        -> Regressors.Regressor
        ---
        coef: float64
        t_value=null: float64
        """

    def make(self, key):
        params = reference.ParamSet.stage_params(key["paramset"])["fit"][1]
        dff = DeltaF.load(key)
        names, conv, _ = Regressors.load(key)
        try:
            ols = pipeline.fit_ols(conv.T, dff)
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        selected, q = pipeline.select_rois(
            ols.r2, ols.p_value, r2_threshold=params["r2_threshold"], fdr_alpha=params.get("fdr_alpha")
        )
        n = dff.shape[0]
        self.insert1(
            dict(
                key,
                n_rois=n,
                n_selected=int(selected.sum()),
                df_resid=int(ols.df_resid),
                r2_threshold=params["r2_threshold"],
                fdr_alpha=params.get("fdr_alpha"),
            )
        )
        rois = np.arange(n)
        insert_columns(
            self.Roi,
            dict(
                roi=rois,
                r2=ols.r2,
                adj_r2=ols.adj_r2,
                intercept=ols.intercept,
                f_stat=ols.f_stat,
                p_value=ols.p_value,
                q_value=q,
                selected=selected,
            ),
            key,
        )
        n_reg = len(names)
        insert_columns(
            self.Coefficient,
            dict(
                roi=np.repeat(rois, n_reg),
                regressor=np.tile(np.asarray(names, dtype=object), n),
                coef=ols.coef.ravel(),
                t_value=ols.t_values.ravel(),
            ),
            key,
        )

    @staticmethod
    def load_coefficients(key, attr="coef"):
        """``(names, matrix n_rois x n_reg)`` of coefficients (or ``attr='t_value'``)."""
        names = Regressors.names(key)
        roi, reg, val = fetch_columns(Fit.Coefficient & key, "roi", "regressor", attr)
        col = {name: i for i, name in enumerate(names)}
        out = np.full((int(roi.max()) + 1 if len(roi) else 0, len(names)), np.nan)
        out[roi.astype(int), [col[r] for r in reg]] = np.asarray(val, dtype=float)
        return names, out


@schema
class Classification(dj.Computed):
    definition = """
    # response class of every selected ROI: the regressor with the largest score
    -> Fit
    ---
    class_by: enum('coef', 't')        # largest coefficient (the notebook) or t-statistic
    n_classified: int32
    """

    class Roi(dj.Part):
        definition = """
        -> master
        -> Fit.Roi
        ---
        roi_class: varchar(32)         # the winning regressor
        score: float64                 # its coefficient or t-statistic
        margin=null: float64           # winner minus runner-up
        index (roi_class)
        """

    def make(self, key):
        class_by = reference.ParamSet.stage_params(key["paramset"])["fit"][1].get("class_by", "coef")
        names, scores = Fit.load_coefficients(key, "coef" if class_by == "coef" else "t_value")
        (selected,) = fetch_columns(Fit.Roi & key, "selected", order_by="roi")
        selected = selected.astype(bool)
        idx, score, margin = pipeline.assign_classes(scores, selected, method=class_by)
        keep = np.flatnonzero(idx >= 0)
        self.insert1(dict(key, class_by=class_by, n_classified=len(keep)))
        insert_columns(
            self.Roi,
            dict(
                roi=keep,
                roi_class=np.asarray(names, dtype=object)[idx[keep]],
                score=score[keep],
                margin=margin[keep],
            ),
            key,
        )


@schema
class ResponseAmplitude(dj.Computed):
    definition = """
    # mean dF/F in a window after each onset, averaged over the presentations
    -> DeltaF
    -> Regressors
    ---
    window_frames: int16
    method: varchar(16)                # correct | seed2020 (the notebook's averaging)
    """

    class Roi(dj.Part):
        definition = """
        -> master
        -> acquisition.RoiTraces.Roi
        -> Regressors.Regressor
        ---
        amplitude=null: float64
        """

    def make(self, key):
        params = reference.ParamSet.stage_params(key["paramset"])["fit"][1]
        window = int(params.get("response_window_frames", 5))
        method = params.get("amplitude_method", "correct")
        dff = DeltaF.load(key)
        names, _, onsets = Regressors.load(key)
        func = pipeline.seed2020_response_amplitudes if method == "seed2020" else pipeline.response_amplitudes
        try:
            amp = func(dff, onsets, window)
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        self.insert1(dict(key, window_frames=window, method=method))
        n, n_reg = amp.shape
        insert_columns(
            self.Roi,
            dict(
                roi=np.repeat(np.arange(n), n_reg),
                regressor=np.tile(np.asarray(names, dtype=object), n),
                amplitude=amp.ravel(),
            ),
            key,
        )


@schema
class Clustering(dj.Computed):
    definition = """
    # hierarchical clustering of z-scored dF/F, correlation distance
    -> Fit
    ---
    method: varchar(16)                # linkage method
    """

    class Tree(dj.Part):
        definition = """
        -> master
        roi_set: enum('all', 'selected')
        ---
        n_rois: int32                  # ROIs clustered
        n_clusters: int32
        capped: bool                   # true when max_rois limited the ROIs clustered
        optimally_ordered: bool        # optimal leaf ordering applied (skipped above 1000 ROIs)
        linkage: <blob>                # scipy linkage matrix, rows index the clustered ROIs
        leaf_order: <blob>             # roi ids in dendrogram order
        """

    class Member(dj.Part):
        definition = """
        -> Clustering.Tree
        -> acquisition.RoiTraces.Roi
        ---
        cluster: int32                 # flat cluster label, 1..n_clusters
        leaf_rank: int32               # position in the dendrogram order
        index (cluster)
        """

    def make(self, key):
        method, params = reference.ParamSet.stage_params(key["paramset"])["clustering"]
        dff = DeltaF.load(key)
        r2, selected = fetch_columns(Fit.Roi & key, "r2", "selected", order_by="roi")
        priority = np.nan_to_num(r2, nan=-np.inf)
        selected = selected.astype(bool)
        self.insert1(dict(key, method=method))
        max_rois = params.get("max_rois")
        # when every ROI is clustered, the selected ROIs' distances are a subset of those
        distance = correlation_distance(dff) if max_rois is None or len(dff) <= max_rois else None
        for roi_set, candidates in (("all", None), ("selected", np.flatnonzero(selected))):
            result = cluster_rois(
                dff,
                method=method,
                n_clusters=params.get("n_clusters"),
                distance_threshold=params.get("distance_threshold"),
                optimal_ordering=params.get("optimal_ordering", True),
                max_rois=max_rois,
                priority=priority,
                candidates=candidates,
                distance=distance,
            )
            clustered = result.rows  # indices into dff, i.e. roi ids
            leaf_rois = clustered[result.leaf_order]
            rank = np.empty(len(clustered), dtype=np.int64)
            rank[result.leaf_order] = np.arange(len(clustered))
            self.Tree.insert1(
                dict(
                    key,
                    roi_set=roi_set,
                    n_rois=len(clustered),
                    n_clusters=int(result.labels.max()) if len(result.labels) else 0,
                    capped=bool(result.capped),
                    optimally_ordered=bool(result.optimally_ordered),
                    linkage=result.linkage,
                    leaf_order=leaf_rois.astype(np.int64),
                )
            )
            insert_columns(
                self.Member,
                dict(roi=clustered, cluster=result.labels, leaf_rank=rank),
                dict(key, roi_set=roi_set),
            )


@schema
class ClassSummary(dj.Computed):
    definition = """
    # per-recording counts of each response class
    -> Classification
    ---
    n_rois: int32
    n_selected: int32
    """

    class Count(dj.Part):
        definition = """
        -> master
        roi_class: varchar(32)
        ---
        n_rois: int32
        fraction_of_selected=null: float64
        fraction_of_all: float64
        """

    def make(self, key):
        n_rois, n_selected = (Fit & key).fetch1("n_rois", "n_selected")
        names = Regressors.names(key)
        (classes,) = fetch_columns(Classification.Roi & key, "roi_class")
        self.insert1(dict(key, n_rois=n_rois, n_selected=n_selected))
        counts = {name: int(np.sum(classes == name)) for name in names}
        self.Count.insert(
            [
                dict(
                    key,
                    roi_class=name,
                    n_rois=c,
                    fraction_of_selected=c / n_selected if n_selected else None,
                    fraction_of_all=c / n_rois if n_rois else 0.0,
                )
                for name, c in counts.items()
            ]
        )


#: computed tables in the order ``populate_all`` fills them
COMPUTED_TABLES = (DeltaF, Regressors, Fit, Classification, ResponseAmplitude, Clustering, ClassSummary)
