"""Lookup tables: sensors, stimulus types and the analysis parameter sets.

Every stage of the analysis (ΔF/F, regressors, fit/selection, clustering) has
its own parameter table. A row holds a method name and its parameters as JSON,
with an MD5 hash of both under a unique index so the same parameters cannot be
entered twice. :class:`ParamSet` names one row of each stage table; the names
``default`` and ``seed2020`` ship with the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import datajoint as dj

import pipeline
from pipeline import kernels

from .config import ensure_store, schema_prefix

ensure_store()
schema = dj.Schema(schema_prefix() + "reference")

#: regressor groups used by both shipped parameter sets: the notebook's three
#: classes, with prey presented either way across the visual field
DEFAULT_GROUPS = {
    "prey": ["prey", "prey-nasalward", "prey-temporalward"],
    "looming": ["looming"],
    "dimming": ["dimming"],
}


def params_hash(method: str, params: dict[str, Any]) -> str:
    """MD5 of the canonical JSON of ``method`` and ``params`` (key order ignored)."""
    canonical = json.dumps({"method": method, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(canonical.encode()).hexdigest()


@schema
class Sensor(dj.Lookup):
    definition = """
    # calcium indicator and the time constants of its response kernel
    sensor: varchar(32)
    ---
    tau_decay_s: float64               # single-exponential decay constant, s (tau = t_half / ln 2)
    tau_rise_s=null: float64           # rise constant, s, where published
    t_half_decay_s=null: float64       # published half-decay time after 1 AP, s
    seed2020_tau_s=null: float64       # the published notebook's kernel constant (GCaMP6s/6f only)
    reference: varchar(1000)           # where each number comes from
    """

    @property
    def contents(self):
        return [
            dict(
                sensor=name,
                tau_decay_s=spec["tau_decay_s"],
                tau_rise_s=spec.get("tau_rise_s"),
                t_half_decay_s=spec.get("t_half_decay_s"),
                seed2020_tau_s=kernels.SEED2020_TAUS.get(name),
                reference=spec["reference"],
            )
            for name, spec in kernels.SENSORS.items()
        ]


@schema
class StimulusType(dj.Lookup):
    definition = """
    # visual stimuli a protocol may contain; labs add their own rows
    stimulus: varchar(64)
    ---
    description='': varchar(255)
    """
    contents = [
        {"stimulus": "prey", "description": "prey-like moving dot, direction not distinguished"},
        {"stimulus": "prey-nasalward", "description": "prey-like dot moving nasalward"},
        {"stimulus": "prey-temporalward", "description": "prey-like dot moving temporalward"},
        {"stimulus": "looming", "description": "expanding dark disc"},
        {"stimulus": "dimming", "description": "whole-field dimming"},
    ]


class _StageParams:
    """Shared behaviour of the per-stage parameter tables."""

    id_attr: str
    methods: tuple[str, ...]

    @classmethod
    def find(cls, method: str, params: dict) -> int | None:
        """Id of the row holding exactly these parameters, or None."""
        rows = (cls() & {"params_hash": params_hash(method, params)}).to_arrays(cls.id_attr)
        return int(rows[0]) if len(rows) else None

    @classmethod
    def insert_new(cls, method: str, params: dict, description: str = "") -> int:
        """Insert a parameter row (or find the identical one); return its id."""
        if method not in cls.methods:
            raise ValueError(f"{cls.__name__}: unknown method {method!r}; choose one of {cls.methods}")
        existing = cls.find(method, params)
        if existing is not None:
            return existing
        ids = cls().to_arrays(cls.id_attr)
        new_id = int(max(ids)) + 1 if len(ids) else 1
        cls().insert1(
            {
                cls.id_attr: new_id,
                "method": method,
                "params": params,
                "params_hash": params_hash(method, params),
                "description": description,
            }
        )
        return new_id

    @classmethod
    def _rows(cls, shipped):
        return [
            {
                cls.id_attr: i,
                "method": m,
                "params": p,
                "params_hash": params_hash(m, p),
                "description": d,
            }
            for i, m, p, d in shipped
        ]


@schema
class DffParams(_StageParams, dj.Lookup):
    definition = """
    # how raw fluorescence becomes dF/F
    dff_params_id: int16
    ---
    method: varchar(32)          # percentile | sliding_percentile | none | seed2020
    params: json                 # percentile, window_s, neuropil_factor
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "dff_params_id"
    methods = ("percentile", "sliding_percentile", "none", "seed2020")
    shipped = [
        (1, "percentile", {"percentile": 8.0, "neuropil_factor": 0.7}, "per-ROI 8th-percentile baseline"),
        (2, "seed2020", {}, "published notebook: 5th percentile across ROIs per frame"),
    ]

    @property
    def contents(self):
        return self._rows(self.shipped)


@schema
class RegressorParams(_StageParams, dj.Lookup):
    definition = """
    # how stimulus presentations become convolved regressors
    regressor_params_id: int16
    ---
    method: varchar(32)          # onset | boxcar
    params: json                 # kernel (sensor | seed2020), delay_s, groups
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "regressor_params_id"
    methods = ("onset", "boxcar")
    shipped = [
        (
            1,
            "onset",
            {"kernel": "sensor", "delay_s": pipeline.SENSOR_KERNEL_DELAY_S, "groups": DEFAULT_GROUPS},
            "literature kernel of the recording's sensor, onset delayed half a second",
        ),
        (2, "onset", {"kernel": "seed2020", "groups": DEFAULT_GROUPS}, "published notebook kernel exp(-t/tau), sum 1"),
    ]

    @property
    def contents(self):
        return self._rows(self.shipped)


@schema
class FitParams(_StageParams, dj.Lookup):
    definition = """
    # regression, selection, class assignment and response amplitudes
    fit_params_id: int16
    ---
    method: varchar(32)          # ols
    params: json                 # r2_threshold, fdr_alpha, class_by, response_window_frames, amplitude_method
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "fit_params_id"
    methods = ("ols",)
    shipped = [
        (
            1,
            "ols",
            {
                "r2_threshold": 0.05,
                "fdr_alpha": 0.05,
                "class_by": "coef",
                "response_window_frames": 5,
                "amplitude_method": "correct",
            },
            "r2 > 0.05 and Benjamini-Hochberg q <= 0.05",
        ),
        (
            2,
            "ols",
            {
                "r2_threshold": 0.05,
                "fdr_alpha": None,
                "class_by": "coef",
                "response_window_frames": 5,
                "amplitude_method": "seed2020",
            },
            "published notebook: r2 > 0.05 only",
        ),
    ]

    @property
    def contents(self):
        return self._rows(self.shipped)


@schema
class ClusterParams(_StageParams, dj.Lookup):
    definition = """
    # hierarchical clustering of z-scored traces
    cluster_params_id: int16
    ---
    method: varchar(32)          # linkage method: average | complete | single | weighted
    params: json                 # n_clusters or distance_threshold, optimal_ordering, max_rois
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "cluster_params_id"
    methods = ("average", "complete", "single", "weighted")
    shipped = [
        (
            1,
            "average",
            {"n_clusters": 8, "distance_threshold": None, "optimal_ordering": True, "max_rois": 5000},
            "average linkage, correlation distance, optimal leaf order",
        ),
        (
            2,
            "average",
            {"n_clusters": 8, "distance_threshold": None, "optimal_ordering": False, "max_rois": 5000},
            "seaborn clustermap defaults, as in the notebook",
        ),
    ]

    @property
    def contents(self):
        return self._rows(self.shipped)


@schema
class ParamSet(dj.Lookup):
    definition = """
    # a named analysis: one parameter row of each stage
    paramset: varchar(32)
    ---
    description: varchar(255)
    -> DffParams
    -> RegressorParams
    -> FitParams
    -> ClusterParams
    """
    contents = [
        dict(paramset=name, description=text, dff_params_id=i, regressor_params_id=i, fit_params_id=i, cluster_params_id=i)
        for name, text, i in (
            ("default", "per-ROI baseline, sensor kernel, r2 > 0.05 plus FDR 5%", 1),
            ("seed2020", "the published 2020 notebook, reproduced exactly", 2),
        )
    ]

    @classmethod
    def create(
        cls,
        paramset: str,
        description: str,
        *,
        dff: tuple[str, dict],
        regressors: tuple[str, dict],
        fit: tuple[str, dict],
        clustering: tuple[str, dict],
    ) -> None:
        """Add a named parameter set, reusing identical stage rows by hash.

        Each stage argument is ``(method, params)``.

        Examples
        --------
        >>> ParamSet.create("sliding60", "60 s sliding 10th percentile",
        ...     dff=("sliding_percentile", {"percentile": 10.0, "window_s": 60.0}),
        ...     regressors=("onset", {"kernel": "sensor", "groups": DEFAULT_GROUPS}),
        ...     fit=("ols", {"r2_threshold": 0.05, "fdr_alpha": 0.05}),
        ...     clustering=("average", {"n_clusters": 8}))
        """
        if cls() & {"paramset": paramset}:
            raise ValueError(f"parameter set {paramset!r} already exists")
        conn = cls().connection
        with conn.transaction:
            row = {
                "paramset": paramset,
                "description": description,
                "dff_params_id": DffParams.insert_new(*dff),
                "regressor_params_id": RegressorParams.insert_new(*regressors),
                "fit_params_id": FitParams.insert_new(*fit),
                "cluster_params_id": ClusterParams.insert_new(*clustering),
            }
            cls().insert1(row)

    @classmethod
    def stage_params(cls, paramset: str) -> dict[str, tuple[str, dict]]:
        """``{"dff": (method, params), "regressors": ..., "fit": ..., "clustering": ...}``."""
        row = (cls() & {"paramset": paramset}).fetch1()
        out = {}
        for stage, table in (
            ("dff", DffParams),
            ("regressors", RegressorParams),
            ("fit", FitParams),
            ("clustering", ClusterParams),
        ):
            method, params = (table & {table.id_attr: row[table.id_attr]}).fetch1("method", "params")
            out[stage] = (method, params if isinstance(params, dict) else json.loads(params))
        return out
