"""Lookup tables: sensors, stimulus types and the analysis parameter sets.

Every stage of the analysis (ΔF/F, regressors, fit/selection, clustering) has
its own parameter table. A row holds a method name and its *complete*
parameters as JSON — validated and completed with the defaults by
:func:`pipeline.params.resolve_params` when the row is created, so the hash
covers everything that affects the result — with an MD5 hash of both under a
unique index so the same parameters cannot be entered twice.
:class:`ParamSet` names one row of each stage table; ``default`` and
``seed2020`` ship with the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import datajoint as dj

from pipeline import kernels
from pipeline import params as pipeline_params

from .names import check_identifier

# one list of class names that are not stimuli, shared with the numerical core

schema = dj.Schema()

#: stage name -> the stage table's class name, in analysis order
STAGES = ("dff", "regressors", "fit", "clustering")

#: class labels that are not stimuli; stimulus and regressor names may not use them
RESERVED_CLASS_NAMES = pipeline_params.RESERVED_NAMES


def params_hash(method: str, params: dict[str, Any]) -> str:
    """MD5 of the canonical JSON of ``method`` and ``params`` (key order ignored)."""
    canonical = json.dumps({"method": method, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(canonical.encode()).hexdigest()


def paramset_hash(stage_params: dict[str, tuple[str, dict]]) -> str:
    """MD5 over the four stages' (method, complete params): identifies what a result was computed with."""
    canonical = json.dumps(
        {stage: [m, p] for stage, (m, p) in stage_params.items()}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.md5(canonical.encode()).hexdigest()


@schema
class Sensor(dj.Lookup):
    definition = """
    # calcium indicator and the time constants of its response kernel; labs add their own rows
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

    @classmethod
    def spec(cls, sensor: str) -> dict:
        """The kernel constants of one sensor row as the dict :mod:`pipeline` takes."""
        row = (cls() & {"sensor": sensor}).to_dicts()
        if not row:
            known = ", ".join(sorted(cls().to_arrays("sensor")))
            raise dj.DataJointError(f"unknown sensor {sensor!r}; known sensors: {known}")
        row = row[0]
        return dict(
            name=row["sensor"],
            tau_decay_s=row["tau_decay_s"],
            tau_rise_s=row["tau_rise_s"],
            seed2020_tau_s=row["seed2020_tau_s"],
        )

    @classmethod
    def add(
        cls,
        sensor: str,
        *,
        tau_decay_s: float,
        reference: str,
        tau_rise_s: float | None = None,
        t_half_decay_s: float | None = None,
    ) -> None:
        """Add a lab's sensor (e.g. ``H2B-GCaMP6s``) with its kernel constants and where they come from."""
        sensor = check_identifier("sensor", sensor, max_len=32)
        for name, value in (("tau_decay_s", tau_decay_s), ("tau_rise_s", tau_rise_s)):
            if value is not None and not (isinstance(value, (int, float)) and 0 < float(value) < 1e3):
                raise ValueError(f"sensor {sensor!r}: {name} must be a positive number of seconds, got {value!r}")
        if tau_rise_s is not None and not tau_rise_s < tau_decay_s:
            raise ValueError(f"sensor {sensor!r}: tau_rise_s ({tau_rise_s}) must be below tau_decay_s ({tau_decay_s})")
        if not str(reference or "").strip():
            raise ValueError(f"sensor {sensor!r}: say where the constants come from (reference)")
        if cls() & {"sensor": sensor}:
            raise ValueError(f"sensor {sensor!r} already exists")
        cls().insert1(
            dict(
                sensor=sensor,
                tau_decay_s=float(tau_decay_s),
                tau_rise_s=tau_rise_s,
                t_half_decay_s=t_half_decay_s,
                reference=str(reference),
            )
        )


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

    @classmethod
    def add(cls, stimulus: str, description: str = "", *, exist_ok: bool = False) -> bool:
        """Declare a stimulus type; return True if it was added.

        With ``exist_ok`` an existing row with the same description is fine;
        a different description is an error (it would be silently ignored).
        """
        stimulus = check_identifier("stimulus", stimulus, max_len=64)
        if stimulus in RESERVED_CLASS_NAMES:
            raise ValueError(
                f"stimulus name {stimulus!r} is reserved for a response class "
                f"({', '.join(RESERVED_CLASS_NAMES)}); choose another name"
            )
        description = str(description or "")
        if len(description) > 255:
            raise ValueError(f"stimulus {stimulus!r}: description is {len(description)} characters; at most 255 fit")
        existing = (cls() & {"stimulus": stimulus}).to_dicts()
        if existing:
            if exist_ok and existing[0]["description"] in (description, ""):
                return False
            if exist_ok and not description:
                return False
            raise ValueError(
                f"stimulus {stimulus!r} already exists"
                + (f" with description {existing[0]['description']!r}" if existing[0]["description"] else "")
            )
        cls().insert1(dict(stimulus=stimulus, description=description))
        return True


class _StageParams:
    """Shared behaviour of the per-stage parameter tables."""

    id_attr: str
    stage: str

    @classmethod
    def methods(cls) -> tuple[str, ...]:
        return tuple(pipeline_params.REGISTRY[cls.stage])

    @classmethod
    def find(cls, method: str, params: dict) -> int | None:
        """Id of the row holding exactly these (complete) parameters, or None."""
        rows = (cls() & {"params_hash": params_hash(method, params)}).to_arrays(cls.id_attr)
        return int(rows[0]) if len(rows) else None

    @classmethod
    def insert_new(cls, method: str, params: dict | None = None, description: str = "") -> int:
        """Validate and complete the parameters, insert the row (or find the identical one); return its id."""
        params = pipeline_params.resolve_params(cls.stage, method, params)
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
    def _shipped_rows(cls):
        rows = []
        for i, (name, stages) in enumerate(SHIPPED_PARAMSETS, start=1):
            method, params = stages[cls.stage]
            rows.append(
                {
                    cls.id_attr: i,
                    "method": method,
                    "params": params,
                    "params_hash": params_hash(method, params),
                    "description": f"shipped with parameter set {name}",
                }
            )
        return rows

    @property
    def contents(self):
        return self._shipped_rows()


@schema
class DffParams(_StageParams, dj.Lookup):
    definition = """
    # how raw fluorescence becomes dF/F
    dff_params_id: int16
    ---
    method: varchar(32)          # see pipeline.params
    params: json                 # complete parameters (defaults filled in)
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "dff_params_id"
    stage = "dff"


@schema
class RegressorParams(_StageParams, dj.Lookup):
    definition = """
    # how stimulus presentations become regressors: the response model (kernel) and the stimulus trains
    regressor_params_id: int16
    ---
    method: varchar(32)          # see pipeline.params
    params: json                 # complete parameters (defaults filled in)
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "regressor_params_id"
    stage = "regressors"


@schema
class FitParams(_StageParams, dj.Lookup):
    definition = """
    # regression, significance, selection, classes and response amplitudes
    fit_params_id: int16
    ---
    method: varchar(32)          # see pipeline.params
    params: json                 # complete parameters (defaults filled in)
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "fit_params_id"
    stage = "fit"


@schema
class ClusterParams(_StageParams, dj.Lookup):
    definition = """
    # hierarchical clustering of z-scored traces
    cluster_params_id: int16
    ---
    method: varchar(32)          # linkage method
    params: json                 # complete parameters (defaults filled in)
    params_hash: char(32)
    description='': varchar(255)
    unique index (params_hash)
    """
    id_attr = "cluster_params_id"
    stage = "clustering"


#: stage -> its parameter table
STAGE_TABLES = {"dff": DffParams, "regressors": RegressorParams, "fit": FitParams, "clustering": ClusterParams}

#: the parameter sets that ship with the pipeline: (name, stage params); ids 1, 2 in every stage table
SHIPPED_PARAMSETS = (
    ("default", pipeline_params.DEFAULT_PARAMSET),
    ("seed2020", pipeline_params.SEED2020_PARAMSET),
)
_SHIPPED_DESCRIPTIONS = {
    "default": "calibrated analysis: circular-shift significance, response model fitted to the recording",
    "seed2020": "the published 2020 notebook, reproduced exactly",
}


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
    params_hash: char(32)              # MD5 of all four stages' complete parameters
    auto_assign: bool                  # assigned to every new recording it can analyse, at ingest
    """

    @property
    def contents(self):
        return [
            dict(
                paramset=name,
                description=_SHIPPED_DESCRIPTIONS[name],
                dff_params_id=i,
                regressor_params_id=i,
                fit_params_id=i,
                cluster_params_id=i,
                params_hash=paramset_hash(stages),
                auto_assign=True,
            )
            for i, (name, stages) in enumerate(SHIPPED_PARAMSETS, start=1)
        ]

    @classmethod
    def create(
        cls,
        paramset: str,
        description: str,
        *,
        dff: tuple[str, dict] | None = None,
        regressors: tuple[str, dict] | None = None,
        fit: tuple[str, dict] | None = None,
        clustering: tuple[str, dict] | None = None,
        auto_assign: bool = False,
    ) -> dict[str, tuple[str, dict]]:
        """Add a named parameter set; return its complete stage parameters.

        Each stage argument is ``(method, params)``; a stage left out takes
        ``default``'s method and parameters. Parameters are validated against
        the method (unknown keys and wrong types are refused, naming the
        allowed keys) and stored complete; stage rows with identical
        parameters are reused. With ``auto_assign`` the set is assigned to
        every recording ingested later that it can analyse; assign existing
        recordings with :meth:`analysis.AnalysisTask.assign`.

        Examples
        --------
        >>> ParamSet.create("tau3", "fixed 3 s exponential kernel",
        ...     regressors=("exponential", {"tau_decay_s": 3.0, "delay_s": 0.5}))
        """
        paramset = check_identifier("paramset", paramset, max_len=32)
        if len(str(description)) > 255:
            raise ValueError(f"parameter set {paramset!r}: description longer than 255 characters")
        given = dict(dff=dff, regressors=regressors, fit=fit, clustering=clustering)
        stages = {}
        for stage in STAGES:
            spec = given[stage] if given[stage] is not None else pipeline_params.DEFAULT_PARAMSET[stage]
            if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str)):
                raise ValueError(f"parameter set {paramset!r}: stage {stage} must be (method, params), got {spec!r}")
            method, params = spec
            stages[stage] = (method, pipeline_params.resolve_params(stage, method, params))
        if cls() & {"paramset": paramset}:
            raise ValueError(f"parameter set {paramset!r} already exists")
        conn = cls().connection
        with conn.transaction:
            row = {"paramset": paramset, "description": str(description)}
            for stage, (method, params) in stages.items():
                table = STAGE_TABLES[stage]
                row[table.id_attr] = table.insert_new(method, params)
            row["params_hash"] = paramset_hash(stages)
            row["auto_assign"] = bool(auto_assign)
            cls().insert1(row)
        return stages

    @classmethod
    def stage_params(cls, paramset: str) -> dict[str, tuple[str, dict]]:
        """``{"dff": (method, params), "regressors": ..., "fit": ..., "clustering": ...}``."""
        rows = (cls() & {"paramset": paramset}).to_dicts()
        if not rows:
            raise dj.DataJointError(f"unknown parameter set {paramset!r}")
        row = rows[0]
        out = {}
        for stage, table in STAGE_TABLES.items():
            method, params = (table & {table.id_attr: row[table.id_attr]}).fetch1("method", "params")
            out[stage] = (method, params if isinstance(params, dict) else json.loads(params))
        return out

    @classmethod
    def applicable(cls, paramset: str, stimuli, sensor: dict, n_rois: int | None = None) -> tuple[bool, str]:
        """Whether ``paramset`` can analyse a recording with these stimuli, sensor and ROIs (and why not)."""
        return pipeline_params.applicable(cls.stage_params(paramset), list(stimuli), sensor, n_rois)
