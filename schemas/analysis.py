"""Computed tables: the analysis of every recording under the parameter sets assigned to it.

:class:`AnalysisTask` says which parameter set analyses which recording
(DataJoint Elements call this a processing task): the shipped sets are
assigned at ingest where they fit the recording, others with
:meth:`AnalysisTask.assign` (``tectum paramset assign``). Only assigned pairs
are computed.

Each ``make()`` handles one recording-level key ``(fish, recording,
paramset)``: it fetches, computes with :mod:`pipeline.stages` (the same
functions :func:`pipeline.analyse_recording` composes in memory), and inserts
the master row and its per-ROI part rows; ``populate()`` runs it inside one
transaction, so a failure leaves no partial rows.

Every master row has a one-to-one part ``Provenance`` recording what it was
computed from: the recording's ``version`` (a hash of the inputs), the
parameter set's ``params_hash`` and the ``pipeline_version`` (a part, so that
the masters share no secondary attribute names and join cleanly). Before
inserting, ``make()`` reads the recording's
version again with a shared lock; if the recording was replaced meanwhile it
raises :class:`InputsChanged` and nothing is saved (a replace waits for the
lock, so it cannot slip in between).
"""

from __future__ import annotations

import os
import time
import warnings
from collections import OrderedDict

import datajoint as dj
import numpy as np
import pandas as pd

from pipeline import classify, stages
from pipeline.params import effective_groups

from . import acquisition, ahead, reference
from .bulk import JsonText, fetch_columns, insert_columns, parents_present
from .config import STORE

schema = dj.Schema()


def provenance_part():
    """A ``Provenance`` part for a computed master: what its row was computed from."""

    class Provenance(dj.Part):
        definition = """
        # what the master row was computed from
        -> master
        ---
        recording_version: char(32)    # acquisition.Recording.version of the inputs used
        params_hash: char(32)          # reference.ParamSet.params_hash of the parameters used
        pipeline_version: varchar(32)  # tectum-pipeline release that computed the row
        computed_at=CURRENT_TIMESTAMP: datetime
        """

    return Provenance


class AnalysisError(RuntimeError):
    """A recording could not be analysed; the message names it and the parameter set."""


class InputsChanged(AnalysisError):
    """The recording was replaced or deleted while a result was being computed from it."""


def pipeline_version() -> str:
    from tectum import __version__

    return __version__


def _where(key) -> str:
    return f"recording {key['fish']}/{key['recording']} (paramset {key['paramset']})"


def _rec_key(key) -> dict:
    return {"fish": key["fish"], "recording": key["recording"]}


def current_version(key, *, lock: bool = False) -> str | None:
    """The recording's ``version`` now; with ``lock``, a shared row lock held until the transaction ends."""
    table = acquisition.Recording()
    conn = table.connection
    q = conn.adapter.quote_identifier
    sql = f"SELECT {q('version')} FROM {table.full_table_name} WHERE {q('fish')} = %s AND {q('recording')} = %s"
    if lock:
        sql += " FOR SHARE" if conn.adapter.backend == "postgresql" else " LOCK IN SHARE MODE"
    row = conn.query(sql, args=(key["fish"], key["recording"])).fetchone()
    return None if row is None else row[0]


def _test_pause(table: str) -> None:
    """Test hook: wait inside ``make()`` while the file named by ``TECTUM_TEST_PAUSE_<TABLE>`` exists."""
    flag = os.environ.get(f"TECTUM_TEST_PAUSE_{table.upper()}")
    if not flag:
        return
    open(flag + ".reached", "w").close()
    deadline = time.monotonic() + 120
    while os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.05)


# The last results this process computed, so the next table's make() of the same key does not read them
# back from the database and the object store. An entry is keyed by the key, the recording version and
# the parameter hash it was computed from, and holds exactly what the database holds (dF/F rounded to
# float32), so a hit returns what a read would. The computations are deterministic, so a row another
# worker computed from the same version and parameters is the same row.
_MEMO: OrderedDict = OrderedDict()
_MEMO_SIZE = 6


def _memo_key(kind, key, provenance):
    return (kind, key["fish"], key["recording"], key["paramset"], *provenance)


def _remember(kind, key, provenance, value) -> None:
    _MEMO[_memo_key(kind, key, provenance)] = value
    _MEMO.move_to_end(_memo_key(kind, key, provenance))
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)


def _recall(kind, key, provenance):
    return _MEMO.get(_memo_key(kind, key, provenance))


def _stored_provenance(table, key) -> tuple[str, str]:
    """(recording_version, params_hash) of one computed row."""
    return tuple((table.Provenance & _row_key(key)).fetch1("recording_version", "params_hash"))


def _row_key(key) -> dict:
    return {"fish": key["fish"], "recording": key["recording"], "paramset": key["paramset"]}


def _recording_rois(key) -> int:
    """The recording's ``n_rois``: its ROI ids (acquisition.RoiTraces.Roi) are ``0 .. n_rois - 1``."""
    return int((acquisition.Recording & _rec_key(key)).fetch1("n_rois"))


def _own_parts(table, key, n_rois: int, *, rois=(), names=None):
    """Context for a ``make()``'s part inserts: the server's foreign-key lookups skipped when the parents are known.

    The part rows' parents are the master row the make() has just inserted
    in its transaction, the recording's ROIs and (``names``) the key's
    regressors. Here the ROI ids in ``rois`` are checked to lie within the
    recording's ``n_rois`` (ingest numbers ROIs ``0 .. n_rois - 1`` in one
    transaction) and ``names`` against the regressors stored for the key;
    only when all holds are the lookups skipped
    (:func:`schemas.bulk.parents_present`), otherwise the server checks
    every row as usual and names the bad one.
    """
    ok = all(len(r) == 0 or (int(np.min(r)) >= 0 and int(np.max(r)) < n_rois) for r in rois)
    if ok and names is not None:
        ok = list(names) == Regressors.names(key)
    return parents_present(table.connection, ok)


class _Provenance:
    """What every computed table's ``make()`` shares: provenance and the input check."""

    def _insert_provenance(self, key, version: str) -> tuple[str, str]:
        """Insert the row's provenance; return ``(recording_version, params_hash)``."""
        params_hash = (reference.ParamSet & {"paramset": key["paramset"]}).fetch1("params_hash")
        self.Provenance.insert1(
            dict(key, recording_version=version, params_hash=params_hash, pipeline_version=pipeline_version())
        )
        return version, params_hash

    @staticmethod
    def _upstream_version(table, key) -> str:
        """The recording version an upstream result was computed from."""
        return (table.Provenance & key).fetch1("recording_version")

    def _confirm_inputs(self, key, version: str) -> None:
        """Raise :class:`InputsChanged` unless the recording still has ``version`` (and lock it)."""
        _test_pause(type(self).__name__)
        now = current_version(key, lock=True)
        if now != version:
            state = "deleted" if now is None else "replaced"
            raise InputsChanged(
                f"{_where(key)} was {state} while {type(self).__name__} was being computed; "
                "nothing was saved and the key is computed again from the new inputs"
            )


@schema
class AnalysisTask(dj.Manual):
    definition = """
    # a parameter set assigned to a recording: populate computes exactly these pairs
    -> acquisition.Recording
    -> reference.ParamSet
    ---
    assigned_at=CURRENT_TIMESTAMP: datetime
    """

    @classmethod
    def assign(cls, paramset: str, restriction=None, *, dry_run: bool = False) -> tuple[list[dict], list[str]]:
        """Assign ``paramset`` to the recordings matching ``restriction`` that it can analyse.

        Returns ``(assigned keys, skipped)`` where ``skipped`` explains, one
        line per recording, why a matching recording was not assigned (already
        assigned, or the parameter set does not fit its protocol or sensor).
        """
        if not (reference.ParamSet & {"paramset": paramset}):
            known = ", ".join(sorted(reference.ParamSet().to_arrays("paramset")))
            raise ValueError(f"unknown parameter set {paramset!r}; known: {known}")
        recordings = acquisition.Recording & (restriction if restriction is not None else {})
        stage_params = reference.ParamSet.stage_params(paramset)
        assigned, skipped, rows = [], [], []
        for rec in recordings.proj("sensor").to_dicts(order_by=("fish", "recording")):
            key = {"fish": rec["fish"], "recording": rec["recording"]}
            name = f"{key['fish']}/{key['recording']}"
            if cls & dict(key, paramset=paramset):
                skipped.append(f"{name}: already assigned")
                continue
            ok, reason = fits(stage_params, key, rec["sensor"])
            if not ok:
                skipped.append(f"{name}: {reason}")
                continue
            rows.append(dict(key, paramset=paramset))
            assigned.append(dict(key, paramset=paramset))
        if rows and not dry_run:
            cls.insert(rows)
        return assigned, skipped

    @classmethod
    def assign_new_recording(cls, key: dict, sensor: str, stimuli, n_rois: int | None = None) -> list[str]:
        """Assign every auto-assigned parameter set that fits a new recording (inside its ingest transaction)."""
        names = []
        sensor_spec = reference.Sensor.spec(sensor)
        for name in (reference.ParamSet & {"auto_assign": True}).to_arrays("paramset"):
            ok, _ = reference.ParamSet.applicable(name, stimuli, sensor_spec, n_rois)
            if ok:
                cls.insert1(dict(key, paramset=name))
                names.append(name)
        return names


def fits(stage_params, key, sensor: str) -> tuple[bool, str]:
    """Whether a parameter set's stages fit a recording's stimuli and sensor (and why not)."""
    from pipeline import params as pipeline_params

    stimuli = sorted(set((acquisition.Presentation & key).to_arrays("stimulus")))
    n_rois = (acquisition.Recording & key).fetch1("n_rois")
    return pipeline_params.applicable(stage_params, stimuli, reference.Sensor.spec(sensor), n_rois)


def _recording_arrays(key):
    """Traces, neuropil, kind and roi ids of the recording named by ``key``."""
    rec_key = _rec_key(key)
    kind, traces_ref, neuropil_ref = (acquisition.RoiTraces & rec_key).fetch1("trace_kind", "traces", "neuropil")
    try:
        traces = _load_array(traces_ref)
        neuropil = _load_array(neuropil_ref) if neuropil_ref is not None else None
    except (FileNotFoundError, OSError) as err:
        # the object of a recording replaced meanwhile is gone
        raise InputsChanged(f"{_where(key)}: the traces' object is missing ({err})") from err
    (source_ids,) = fetch_columns(acquisition.RoiTraces.Roi & rec_key, "source_id", order_by="roi")
    return kind, traces, neuropil, source_ids


def _load_array(ref) -> np.ndarray:
    """An object-store array; memory-mapped from a file store (one read instead of a read and two copies)."""
    if getattr(getattr(ref, "_backend", None), "protocol", None) == "file":
        return np.asarray(ref.load(mmap_mode="r"))
    return np.asarray(ref.load())


def events_table(key) -> pd.DataFrame:
    """The recording's presentations: presentation, stimulus, onset_s, duration_s (in presentation order)."""
    rows = (
        (acquisition.Presentation & _rec_key(key))
        .proj("stimulus", "onset_s", "duration_s")
        .to_dicts(order_by="presentation")
    )
    return pd.DataFrame(
        {
            "presentation": [r["presentation"] for r in rows],
            "stimulus": [r["stimulus"] for r in rows],
            "onset_s": [r["onset_s"] for r in rows],
            "duration_s": [r["duration_s"] for r in rows],
        }
    )


def _stage(key, stage):
    return reference.ParamSet.stage_params(key["paramset"])[stage]


_CONVERT_STEP = 1 << 18  # elements per step of the in-place conversions below


def _float32_in_place(a: np.ndarray) -> np.ndarray:
    """``a`` (float64, C-contiguous) rounded to float32 in the first half of its own buffer; returns that view.

    ``a`` no longer holds its values until :func:`_float64_in_place`. The step
    at element ``i`` writes bytes ``[4i, 4i + 4k)`` from ``[8i, 8i + 8k)``
    (``k`` elements a step): only the first step overlaps its own source
    (it reads a copy), and no step overwrites a source not yet read.
    """
    flat = a.reshape(-1)
    half = flat.view(np.float32)[: flat.size]
    for start in range(0, flat.size, _CONVERT_STEP):
        source = flat[start : start + _CONVERT_STEP]
        half[start : start + _CONVERT_STEP] = source.copy() if start == 0 else source
    return half.reshape(a.shape)


def _float64_in_place(a: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Undo :func:`_float32_in_place`: ``a`` holds the float64 of the float32 values again.

    Last step first, so that no step overwrites a float32 value not yet read;
    the first step reads a copy of its own source.
    """
    flat, small = a.reshape(-1), half.reshape(-1)
    for start in reversed(range(0, flat.size, _CONVERT_STEP)):
        source = small[start : start + _CONVERT_STEP]
        flat[start : start + _CONVERT_STEP] = source.copy() if start == 0 else source
    return a


@schema
class DeltaF(_Provenance, dj.Computed):
    definition = f"""
    # dF/F of every ROI of a recording; ROIs that cannot be normalised are excluded (NaN rows)
    -> AnalysisTask
    ---
    dff_method: varchar(32)            # how F0 was estimated (see reference.DffParams)
    dff: <npy@{STORE}>                 # float32, ROIs x frames; NaN rows for excluded ROIs
    n_excluded: int32                  # ROIs excluded (see DeltaF.Excluded)
    """

    Provenance = provenance_part()

    class Excluded(dj.Part):
        definition = """
        # a ROI left out of the analysis, and why
        -> master
        -> acquisition.RoiTraces.Roi
        ---
        reason: varchar(64)            # e.g. baseline <= 0, non-finite baseline
        """

    @property
    def key_source(self):
        return AnalysisTask & acquisition.RoiTraces

    def make(self, key):
        method, params = _stage(key, "dff")
        version = current_version(key)
        kind, traces, neuropil, source_ids = _recording_arrays(key)
        frame_period = (acquisition.Recording & _rec_key(key)).fetch1("frame_period_s")
        try:
            result = stages.dff_stage(
                traces,
                method,
                params,
                frame_period_s=frame_period,
                trace_kind=kind,
                neuropil=neuropil,
                roi_ids=source_ids,
            )
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        excluded = np.array([r is not None for r in result.excluded], dtype=bool)
        dff = result.dff
        in_place = (
            type(dff) is np.ndarray
            and dff.dtype == np.float64
            and dff.flags.writeable
            and dff.flags.c_contiguous
            and not any(np.may_share_memory(dff, a) for a in (traces, neuropil) if a is not None)
        )
        # what the store holds: float32. Fresh memory is slow to touch (a new 120 MB array costs more than
        # the conversion), so when the matrix is ours the float32 copy lives in the first half of its buffer
        stored = _float32_in_place(dff) if in_place else dff.astype(np.float32)
        self._confirm_inputs(key, version)
        self.insert1(
            dict(
                key,
                dff_method="none" if kind == "dff" else method,
                dff=stored,
                n_excluded=int(excluded.sum()),
            )
        )
        # the float64 of the stored values: what DeltaF.load() returns
        dff = _float64_in_place(dff, stored) if in_place else stored.astype(np.float64)
        dff.flags.writeable = False  # shared with the next make() of this process: nobody writes to it
        _remember("dff", key, self._insert_provenance(key, version), dff)
        rows = np.flatnonzero(excluded)
        if len(rows):
            insert_columns(
                self.Excluded,
                dict(roi=rows, reason=np.array([result.excluded[i][:64] for i in rows], dtype=object)),
                key,
            )

    @staticmethod
    def load(key) -> np.ndarray:
        """The dF/F matrix of one ``(fish, recording, paramset)`` key (float64, NaN rows excluded ROIs; read-only)."""
        provenance = _stored_provenance(DeltaF, key)
        known = _recall("dff", key, provenance)
        if known is not None:
            return known
        ref = (DeltaF & _row_key(key)).fetch1("dff")
        try:
            dff = np.array(_load_array(ref), dtype=np.float64)
        except (FileNotFoundError, OSError) as err:
            raise InputsChanged(f"{_where(key)}: the dF/F object is missing ({err})") from err
        dff.flags.writeable = False  # shared with the next make() of this process: nobody writes to it
        _remember("dff", key, provenance, dff)
        return dff


@schema
class Regressors(_Provenance, dj.Computed):
    definition = f"""
    # the response model: stimulus trains and the kernel they are convolved with (chosen per recording)
    -> DeltaF
    ---
    kernel_name: varchar(255)          # e.g. "fitted exponential, tau 2.25 s, delay 0.5 s"
    kernel=null: <blob>                # sampled at the frame times; null for kernel-free (FIR) models
    kernel_info: json                  # tau_decay_s, tau_rise_s, delay_s; for a fitted kernel the objective over the grid
    n_regressors: int16
    design: <npy@{STORE}>              # float64, frames x design columns, as fitted
    raw: <npy@{STORE}>                 # float64, regressors x frames: the 0/1 stimulus trains
    convolved: <npy@{STORE}>           # float64, regressors x frames: each regressor's predicted response
    """

    Provenance = provenance_part()

    class Regressor(dj.Part):
        definition = """
        -> master
        regressor: varchar(64)         # a stimulus, or a group of stimuli
        ---
        regressor_index: int16         # row in raw/convolved
        stimuli: json                  # the stimulus names pooled into it
        n_presentations: int32
        first_column: int16            # its design columns: first_column .. first_column + n_columns - 1
        n_columns: int16               # 1, or the lags of a kernel-free (FIR) model
        onset_frames: <blob>           # int, frame of each presentation onset
        presentations: json            # the acquisition.Presentation numbers it uses, by onset
        """

    @property
    def key_source(self):
        return DeltaF & acquisition.Presentation

    def make(self, key):
        method, params = _stage(key, "regressors")
        version = self._upstream_version(DeltaF, key)
        sensor, frame_period, groups = (acquisition.Recording & _rec_key(key)).fetch1(
            "sensor", "frame_period_s", "stimulus_groups"
        )
        if "groups" in params:
            params = dict(params, groups=effective_groups(method, params, groups))
        events = events_table(key)
        dff = DeltaF.load(key)
        try:
            regs = stages.regressor_stage(
                events, dff, method, params, frame_period_s=frame_period, sensor=reference.Sensor.spec(sensor)
            )
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        self._confirm_inputs(key, version)
        self.insert1(
            dict(
                key,
                kernel_name=str(regs.kernel_name)[:255],
                kernel=None if regs.kernel is None else np.asarray(regs.kernel, dtype=np.float64),
                kernel_info=_jsonable(regs.kernel_info),
                n_regressors=len(regs.names),
                design=np.ascontiguousarray(regs.design, dtype=np.float64),
                raw=np.ascontiguousarray(regs.raw, dtype=np.float64),
                convolved=np.ascontiguousarray(regs.convolved, dtype=np.float64),
            )
        )
        provenance = self._insert_provenance(key, version)
        numbers = events["presentation"].to_numpy()
        self.Regressor.insert(
            [
                dict(
                    key,
                    regressor=name,
                    regressor_index=i,
                    stimuli=list(regs.stimuli[name]),
                    n_presentations=len(regs.presentation_index[i]),
                    first_column=int(np.min(regs.columns[i])),
                    n_columns=len(regs.columns[i]),
                    onset_frames=np.asarray(regs.onset_frames[i], dtype=np.int64),
                    presentations=[int(v) for v in numbers[np.asarray(regs.presentation_index[i], dtype=int)]],
                )
                for i, name in enumerate(regs.names)
            ]
        )
        _remember("regressors", key, provenance, regs)

    @staticmethod
    def load(key) -> stages.RegressorResult:
        """The regressors of one key as the :class:`pipeline.stages.RegressorResult` they were computed as."""
        provenance = _stored_provenance(Regressors, key)
        known = _recall("regressors", key, provenance)
        if known is not None:
            return known
        method, params = _stage(key, "regressors")
        key = _row_key(key)
        row = (Regressors & key).fetch1()
        parts = (Regressors.Regressor & key).to_dicts(order_by="regressor_index")
        events = events_table(key)
        position = {p: i for i, p in enumerate(events["presentation"].to_numpy())}
        try:
            design, raw, convolved = (
                np.asarray(row[a].load(), dtype=np.float64) for a in ("design", "raw", "convolved")
            )
        except (FileNotFoundError, OSError) as err:
            raise InputsChanged(f"{_where(key)}: a regressor object is missing ({err})") from err
        info = row["kernel_info"]
        regs = stages.RegressorResult(
            names=[p["regressor"] for p in parts],
            stimuli={p["regressor"]: list(p["stimuli"]) for p in parts},
            design=design,
            columns=[np.arange(p["first_column"], p["first_column"] + p["n_columns"]) for p in parts],
            raw=raw,
            convolved=convolved,
            onset_frames=[np.asarray(p["onset_frames"], dtype=np.int64) for p in parts],
            kernel=None if row["kernel"] is None else np.asarray(row["kernel"], dtype=np.float64),
            kernel_name=row["kernel_name"],
            kernel_info=info if isinstance(info, dict) else {},
            method=method,
            params=params,
            presentation_index=[
                np.array([position[int(n)] for n in np.atleast_1d(p["presentations"])], dtype=np.int64) for p in parts
            ],
        )
        _remember("regressors", key, provenance, regs)
        return regs

    @staticmethod
    def names(key) -> list[str]:
        """The regressor names of one key, in design order (no arrays fetched)."""
        (names,) = fetch_columns(Regressors.Regressor & key, "regressor", order_by="regressor_index")
        return list(names)


def _jsonable(obj):
    """NumPy values inside a dict to plain Python for a json column (non-finite floats -> None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


@schema
class Fit(_Provenance, dj.Computed):
    definition = """
    # multiple linear regression of every ROI on the regressors, significance and selection
    -> Regressors
    ---
    n_rois: int32
    n_selected: int32
    df_resid: int32                    # residual degrees of freedom of the OLS fit
    significance: varchar(16)          # shift (circular-shift permutation null) | parametric (F-test)
    fdr_alpha=null: float64            # Benjamini-Hochberg level, null when not used
    r2_min=null: float64               # effect-size floor on r2 (selected ROIs have r2 > r2_min), null when not used
    """

    Provenance = provenance_part()

    class Roi(dj.Part):
        definition = """
        -> master
        -> acquisition.RoiTraces.Roi
        ---
        r2=null: float64               # null for an excluded or zero-variance trace
        adj_r2=null: float64
        intercept=null: float64
        f_stat=null: float64
        p_parametric=null: float64     # F-test p-value, which assumes white noise (anti-conservative on calcium traces)
        p_permutation=null: float64    # circular-shift permutation p-value (null when significance is parametric)
        n_shifts: int32                # circular shifts in the null distribution (0: none)
        q_value=null: float64          # Benjamini-Hochberg q of the p-value used for selection
        selected: bool                 # stimulus-locked
        excluded=null: varchar(64)     # why the ROI was left out (see DeltaF.Excluded), null if analysed
        index (selected)
        """

    class Coefficient(dj.Part):
        definition = """
        -> Fit.Roi
        -> Regressors.Regressor
        ---
        coef=null: float64             # response amplitude in the regressor's units
        t_value=null: float64          # parametric t
        coef_z=null: float64           # coefficient standardised against its circular-shift null
        coef_p=null: float64           # p-value of the coefficient used by the class rule
        """

    def make(self, key):
        params = _stage(key, "fit")[1]
        version = self._upstream_version(Regressors, key)
        frame_period, n_recorded = (acquisition.Recording & _rec_key(key)).fetch1("frame_period_s", "n_rois")
        dff = DeltaF.load(key)
        regs = Regressors.load(key)
        reasons = dict(zip(*fetch_columns(DeltaF.Excluded & key, "roi", "reason")))
        try:
            res = stages.fit_stage(dff, regs, params, frame_period_s=frame_period)
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        n = dff.shape[0]
        self._confirm_inputs(key, version)
        self.insert1(
            dict(
                key,
                n_rois=n,
                n_selected=int(np.sum(res.selected)),
                df_resid=int(res.df_resid),
                significance=str(params.get("significance", "parametric")),
                fdr_alpha=params.get("fdr_alpha"),
                r2_min=params.get("r2_min"),
            )
        )
        provenance = self._insert_provenance(key, version)
        stored = {a: np.array(getattr(res, a), dtype=np.float64) for a in ("r2", "coef", "t_value", "coef_z", "coef_p")}
        for _a, values in stored.items():
            values[~np.isfinite(values)] = np.nan  # as read back: NULL is NaN
        results = dict(stored, names=list(regs.names), selected=np.asarray(res.selected, dtype=bool))
        # the clustering needs only what is in memory now: computed while the rows below are inserted
        Clustering.compute_ahead(key, provenance, dff, results)
        rois = np.arange(n)
        with _own_parts(self, key, int(n_recorded), rois=(rois,), names=regs.names):
            self._insert_parts(key, res, regs, rois, reasons)
        _remember("fit", key, provenance, results)

    def _insert_parts(self, key, res, regs, rois, reasons) -> None:
        """Fit.Roi and Fit.Coefficient rows of one fit."""
        n = len(rois)
        insert_columns(
            self.Roi,
            dict(
                roi=rois,
                r2=res.r2,
                adj_r2=res.adj_r2,
                intercept=res.intercept,
                f_stat=res.f_stat,
                p_parametric=res.p_parametric,
                p_permutation=res.p_permutation,
                n_shifts=np.asarray(res.n_shifts, dtype=np.int64),
                q_value=res.q_value,
                selected=np.asarray(res.selected, dtype=bool),
                excluded=np.array([reasons.get(i) for i in range(n)], dtype=object),
            ),
            key,
        )
        n_reg = len(regs.names)
        insert_columns(
            self.Coefficient,
            dict(
                roi=np.repeat(rois, n_reg),
                regressor=np.tile(np.asarray(regs.names, dtype=object), n),
                coef=np.asarray(res.coef).ravel(),
                t_value=np.asarray(res.t_value).ravel(),
                coef_z=np.asarray(res.coef_z).ravel(),
                coef_p=np.asarray(res.coef_p).ravel(),
            ),
            key,
        )

    @staticmethod
    def results(key) -> dict:
        """What Classification and Clustering read of one fit: ``names``, ``r2``, ``selected`` (per ROI) and
        ``coef``, ``t_value``, ``coef_z``, ``coef_p`` (n_rois x n_reg)."""
        provenance = _stored_provenance(Fit, key)
        known = _recall("fit", key, provenance)
        if known is not None:
            return known
        key = _row_key(key)
        names, mats = Fit.load_coefficients(key)
        r2, selected = fetch_columns(Fit.Roi & key, "r2", "selected", order_by="roi")
        out = dict(mats, names=names, r2=np.asarray(r2, dtype=np.float64), selected=selected.astype(bool))
        _remember("fit", key, provenance, out)
        return out

    @staticmethod
    def load_coefficients(key, attrs=("coef", "t_value", "coef_z", "coef_p")):
        """``(names, {attr: matrix n_rois x n_reg})`` of the stored per-coefficient columns."""
        names = Regressors.names(key)
        roi, reg, *values = fetch_columns(Fit.Coefficient & key, "roi", "regressor", *attrs)
        col = {name: i for i, name in enumerate(names)}
        n = int(roi.max()) + 1 if len(roi) else 0
        cols = np.array([col[r] for r in reg], dtype=int)
        out = {}
        for attr, val in zip(attrs, values):
            mat = np.full((n, len(names)), np.nan)
            mat[roi.astype(int), cols] = np.asarray(val, dtype=float)
            out[attr] = mat
        return names, out


@schema
class Classification(_Provenance, dj.Computed):
    definition = """
    # response class of every selected ROI: a stimulus (regressor), inhibited, mixed or unclassified
    -> Fit
    ---
    class_rule: varchar(32)            # how classes were assigned (see pipeline.params)
    n_classified: int32                # selected ROIs with a class (all classes, unclassified included)
    """

    Provenance = provenance_part()

    class Roi(dj.Part):
        definition = """
        -> master
        -> Fit.Roi
        ---
        roi_class: varchar(64)         # a regressor, or inhibited | mixed | unclassified
        score=null: float64            # the winning regressor's score
        margin=null: float64           # winner minus runner-up
        index (roi_class)
        """

    def make(self, key):
        params = _stage(key, "fit")[1]
        version = self._upstream_version(Fit, key)
        fit = Fit.results(key)
        names, selected = fit["names"], fit["selected"]
        labels, score, margin = classify(fit, names, params)
        keep = np.flatnonzero(selected & np.array([bool(lab) for lab in labels], dtype=bool))
        self._confirm_inputs(key, version)
        self.insert1(
            dict(
                key,
                class_rule=str(params.get("class_rule", ""))[:32],
                n_classified=len(keep),
            )
        )
        self._insert_provenance(key, version)
        n_fit = int((Fit & _row_key(key)).fetch1("n_rois"))  # Fit.Roi holds ROIs 0 .. n_rois - 1
        with _own_parts(self, key, n_fit if n_fit == len(selected) else -1, rois=(keep,)):
            insert_columns(
                self.Roi,
                dict(
                    roi=keep,
                    roi_class=np.asarray(labels, dtype=object)[keep],
                    score=np.asarray(score, dtype=float)[keep],
                    margin=np.asarray(margin, dtype=float)[keep],
                ),
                key,
            )


@schema
class ResponseAmplitude(_Provenance, dj.Computed):
    definition = """
    # stimulus-evoked response: mean dF/F after each onset minus the mean before it
    -> Regressors
    ---
    amplitude_method: varchar(16)      # baseline (after minus before) | seed2020 (the notebook's averaging)
    window_info: json                  # response and baseline windows in s and frames
    """

    Provenance = provenance_part()

    class Roi(dj.Part):
        definition = """
        # one ROI's response to one regressor's presentations: their mean, spread and each of them
        -> master
        -> acquisition.RoiTraces.Roi
        -> Regressors.Regressor
        ---
        mean_amplitude=null: float64   # mean over the regressor's presentations
        sd_amplitude=null: float64     # their standard deviation (trial-to-trial variability; null below 2)
        n_presentations: int32
        per_presentation=null: json    # each presentation's amplitude, in the order of Regressors.Regressor.presentations
        """

    def make(self, key):
        params = _stage(key, "fit")[1]
        version = self._upstream_version(Regressors, key)
        frame_period, n_recorded = (acquisition.Recording & _rec_key(key)).fetch1("frame_period_s", "n_rois")
        dff = DeltaF.load(key)
        regs = Regressors.load(key)
        events = events_table(key)
        try:
            amp = stages.amplitude_stage(dff, regs, events, params, frame_period_s=frame_period)
        except ValueError as err:
            raise AnalysisError(f"{_where(key)}: {err}") from err
        n, n_reg = amp.mean.shape
        trials = np.asarray(amp.per_presentation, dtype=np.float64)
        rows = np.asarray(amp.presentation_row, dtype=np.int64)
        owner = np.asarray(amp.presentation_regressor, dtype=np.int64)
        sd = np.full((n, n_reg), np.nan)
        count = np.zeros((n, n_reg), dtype=np.int64)
        per_regressor = []
        for r in range(n_reg):
            # the regressor's presentations, in the order Regressors.Regressor.presentations lists them
            cols = np.flatnonzero(owner == r)
            order = {int(p): i for i, p in enumerate(regs.presentation_index[r])}
            cols = cols[np.argsort([order.get(int(rows[c]), len(order)) for c in cols], kind="stable")]
            values = trials[:, cols]
            count[:, r] = len(cols)
            if len(cols) > 1:
                with np.errstate(invalid="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of excluded ROIs
                    sd[:, r] = np.nanstd(values, axis=1, ddof=1)
            per_regressor.append(values)
        self._confirm_inputs(key, version)
        self.insert1(
            dict(
                key,
                amplitude_method=str(amp.method)[:16],
                window_info=_jsonable(amp.windows),
            )
        )
        self._insert_provenance(key, version)
        names = np.asarray(regs.names, dtype=object)
        with _own_parts(self, key, int(n_recorded), rois=(np.arange(n),), names=regs.names):
            insert_columns(
                self.Roi,
                dict(
                    roi=np.repeat(np.arange(n), n_reg),
                    regressor=np.tile(names, n),
                    mean_amplitude=amp.mean.ravel(),
                    sd_amplitude=sd.ravel(),
                    n_presentations=count.ravel(),
                    per_presentation=JsonText.lazy(
                        n * n_reg, lambda start, stop: _json_block(per_regressor, start, stop)
                    ),
                ),
                key,
            )

    @staticmethod
    def presentations(restriction=None) -> pd.DataFrame:
        """Every presentation's amplitude as a row: the per-presentation JSON arrays unpacked.

        Parameters
        ----------
        restriction : optional
            Any DataJoint restriction of ``ResponseAmplitude.Roi`` (e.g. a
            key, ``{"paramset": "default"}``, a query); None: all.

        Returns
        -------
        DataFrame
            One row per ROI and presentation: fish, recording, paramset, roi,
            regressor, presentation (``acquisition.Presentation`` number),
            stimulus, onset_s, amplitude (NaN where NULL), sorted by key, ROI
            and onset.
        """
        rois = ResponseAmplitude.Roi() if restriction is None else ResponseAmplitude.Roi & restriction
        keys = ("fish", "recording", "paramset")
        columns = (*keys, "roi", "regressor", "presentation", "stimulus", "onset_s", "amplitude")
        rows = rois.to_dicts()
        if not rows:
            return pd.DataFrame({c: [] for c in columns})
        # the presentation numbers of each regressor, and the stimulus and onset of each presentation
        fish, recording, paramset, regressor, numbers = (Regressors.Regressor & rois.proj()).to_arrays(
            *keys, "regressor", "presentations"
        )
        order = {
            (*k, g): [int(p) for p in np.atleast_1d(n)]
            for *k, g, n in zip(fish, recording, paramset, regressor, numbers)
        }
        fish, recording, number, stimulus, onset = (acquisition.Presentation & rois.proj()).to_arrays(
            "fish", "recording", "presentation", "stimulus", "onset_s"
        )
        events = {(f, r, int(p)): (st, float(o)) for f, r, p, st, o in zip(fish, recording, number, stimulus, onset)}
        out = {c: [] for c in columns}
        for r in rows:
            rec = tuple(r[k] for k in keys)
            numbers = order[(*rec, r["regressor"])]
            values = list(r["per_presentation"] or [None] * len(numbers))
            for number, value in zip(numbers, values):
                stimulus, onset = events[(*rec[:2], number)]
                for k, v in zip(columns, (*rec, int(r["roi"]), r["regressor"], number, stimulus, onset, value)):
                    out[k].append(v)
        frame = pd.DataFrame(out)
        frame["amplitude"] = pd.to_numeric(frame["amplitude"], errors="coerce").astype(float)
        return frame.sort_values([*keys, "roi", "onset_s"], kind="stable").reset_index(drop=True)


def _json_block(per_regressor: list[np.ndarray], start: int, stop: int) -> list[str]:
    """JSON texts of the rows ``start:stop`` of ResponseAmplitude.Roi (ROI-major, then regressor order).

    ``per_regressor[r]`` is regressor ``r``'s ROIs x presentations matrix. Rendered
    a chunk at a time, in :func:`schemas.bulk.insert_columns`' rendering thread.
    """
    n_reg = len(per_regressor)
    first, last = start // n_reg, (stop - 1) // n_reg + 1
    block = np.empty((last - first, n_reg), dtype=object)
    for r, values in enumerate(per_regressor):
        block[:, r] = _json_rows(values[first:last])
    return block.ravel()[start - first * n_reg : stop - first * n_reg].tolist()


def _json_rows(values: np.ndarray) -> np.ndarray:
    """JSON array text of each row of ``values``, 7 significant digits (NaN and inf as null)."""
    n_rows, n_cols = values.shape
    out = np.empty(n_rows, dtype=object)
    template = "[" + ",".join(["%.7g"] * n_cols) + "]"
    finite = np.isfinite(values).all(axis=1)
    for i, row in enumerate(values.tolist()):
        if finite[i]:
            out[i] = template % tuple(row)
        else:
            out[i] = "[" + ",".join(f"{v:.7g}" if np.isfinite(v) else "null" for v in row) + "]"
    return out


@schema
class Clustering(_Provenance, dj.Computed):
    definition = """
    # hierarchical clustering of z-scored dF/F, correlation distance
    -> Fit
    ---
    linkage_method: varchar(16)        # average | complete | single | weighted
    """

    Provenance = provenance_part()

    class Tree(dj.Part):
        definition = """
        -> master
        roi_set: enum('all', 'selected')
        ---
        n_clustered: int32             # ROIs clustered
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

    @classmethod
    def compute_ahead(cls, key, fit_provenance, dff, fit) -> None:
        """Start this key's clustering in the background (see :mod:`schemas.ahead`), if populate allows it now."""
        if ahead.wanted("clustering"):
            method, params = _stage(key, "clustering")  # here: the thread must not use the connection
            ahead.submit(
                "clustering",
                key,
                fit_provenance,
                lambda: stages.clustering_stage(dff, fit["r2"], fit["selected"], params, method=method),
            )

    def make(self, key):
        method, params = _stage(key, "clustering")
        version = self._upstream_version(Fit, key)
        future = ahead.take("clustering", key, _stored_provenance(Fit, key))
        if future is not None:
            trees = future.result()
        else:
            fit = Fit.results(key)
            trees = stages.clustering_stage(DeltaF.load(key), fit["r2"], fit["selected"], params, method=method)
        self._confirm_inputs(key, version)
        self.insert1(dict(key, linkage_method=params.get("linkage", method) if trees else "none"))
        self._insert_provenance(key, version)
        n_recorded = _recording_rois(key)
        for roi_set in ("all", "selected") if trees else ():
            result = trees[roi_set]
            clustered = result.rows  # indices into dff, i.e. roi ids
            leaf_rois = clustered[result.leaf_order]
            rank = np.empty(len(clustered), dtype=np.int64)
            rank[result.leaf_order] = np.arange(len(clustered))
            self.Tree.insert1(
                dict(
                    key,
                    roi_set=roi_set,
                    n_clustered=len(clustered),
                    n_clusters=int(result.labels.max()) if len(result.labels) else 0,
                    capped=bool(result.capped),
                    optimally_ordered=bool(result.optimally_ordered),
                    linkage=result.linkage,
                    leaf_order=leaf_rois.astype(np.int64),
                )
            )
            with _own_parts(self, key, n_recorded, rois=(clustered,)):
                insert_columns(
                    self.Member,
                    dict(roi=clustered, cluster=result.labels, leaf_rank=rank),
                    dict(key, roi_set=roi_set),
                )


@schema
class ClassSummary(_Provenance, dj.Computed):
    definition = """
    # per-recording counts of each response class (ROI totals: Fit.n_rois, Fit.n_selected)
    -> Classification
    """

    Provenance = provenance_part()

    class Count(dj.Part):
        definition = """
        -> master
        roi_class: varchar(64)         # every regressor, then inhibited, mixed, unclassified
        ---
        n_in_class: int32
        fraction_of_selected=null: float64
        fraction_of_all: float64
        """

    def make(self, key):
        version = self._upstream_version(Classification, key)
        n_rois, n_selected = (Fit & key).fetch1("n_rois", "n_selected")
        names = Regressors.names(key) + list(reference.RESERVED_CLASS_NAMES)
        (classes,) = fetch_columns(Classification.Roi & key, "roi_class")
        self._confirm_inputs(key, version)
        self.insert1(key)
        self._insert_provenance(key, version)
        counts = {name: int(np.sum(classes == name)) for name in names}
        self.Count.insert(
            [
                dict(
                    key,
                    roi_class=name,
                    n_in_class=c,
                    fraction_of_selected=c / n_selected if n_selected else None,
                    fraction_of_all=c / n_rois if n_rois else 0.0,
                )
                for name, c in counts.items()
            ]
        )


#: computed tables in the order ``populate_all`` fills them
COMPUTED_TABLES = (DeltaF, Regressors, Fit, Classification, ResponseAmplitude, Clustering, ClassSummary)
