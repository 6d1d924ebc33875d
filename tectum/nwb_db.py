"""NWB export from the database: gather one key's data, hand it to the writer.

:func:`recording_nwb_inputs` fetches one ``(fish, recording, paramset)`` key
into the keyword arguments of :func:`tectum.nwb_export.write_recording_nwb`;
:func:`export_nwb` writes one file per key of a restriction.  This is the
only module of the NWB export that knows the schema.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["export_nwb", "nwb_export_keys", "recording_nwb_inputs"]

# columns of tectum.results.results_table that the NWB file holds elsewhere
_ELSEWHERE = ("fish", "recording", "paramset", "roi", "source_id", "genotype", "region")


def recording_nwb_inputs(key) -> dict:
    """Keyword arguments of ``write_recording_nwb`` for one ``(fish, recording, paramset)`` key."""
    from schemas import acquisition, analysis, reference
    from schemas.bulk import fetch_columns

    from .results import results_table

    key = {k: key[k] for k in ("fish", "recording", "paramset")}
    rec_key = {"fish": key["fish"], "recording": key["recording"]}
    genotype, age_dpf = (acquisition.Fish & rec_key).fetch1("genotype", "age_dpf")
    region, sensor, period, experiment, recorded_at = (acquisition.Recording & rec_key).fetch1(
        "region", "sensor", "frame_period_s", "experiment", "recorded_at"
    )
    roi, source_id, x, y, z = fetch_columns(
        acquisition.RoiTraces.Roi & rec_key, "roi", "source_id", "x", "y", "z", order_by="roi"
    )
    dff = analysis.DeltaF.load(key)
    regs = analysis.Regressors.load(key)
    names, convolved = regs.names, regs.convolved
    presentations = (acquisition.Presentation & rec_key).to_dicts(order_by="presentation")
    events = pd.DataFrame(
        {
            "stimulus": [p["stimulus"] for p in presentations],
            "onset_s": [p["onset_s"] for p in presentations],
            "duration_s": [p["duration_s"] for p in presentations],
            "params": [p["params"] or {} for p in presentations],
        }
    )

    results = results_table(key)
    if not np.array_equal(results["roi"].to_numpy(), np.arange(len(dff))):
        raise RuntimeError(
            f"recording {key['fish']}/{key['recording']} (paramset {key['paramset']}): "
            "the fitted ROIs do not match the rows of the dF/F matrix"
        )
    results = results.drop(columns=[c for c in _ELSEWHERE if c in results.columns])
    # NWB columns have no missing integers: unclustered ROIs get -1, as the column says
    results["cluster"] = results["cluster"].fillna(-1).astype(np.int64)

    def floats(values):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)

    return dict(
        dff=dff,
        frame_period_s=float(period),
        roi_ids=np.asarray(source_id, dtype=np.int64),
        positions=np.column_stack([floats(x), floats(y), floats(z)]),
        regressors=dict(zip(names, np.atleast_2d(convolved))),
        results=results,
        events=events,
        fish=key["fish"],
        recording=key["recording"],
        paramset=key["paramset"],
        sensor=sensor,
        region=region,
        genotype=genotype or None,
        age_dpf=None if age_dpf is None or np.isnan(age_dpf) else float(age_dpf),
        recorded_at=recorded_at,
        experiment=experiment or None,
        paramset_description=(reference.ParamSet & key).fetch1("description"),
    )


def nwb_export_keys(restriction=None):
    """``(keys ready to export, number of fits not yet classified, clustered or with amplitudes)``.

    ``restriction`` (text, checked strictly by :func:`tectum.restriction.restrict`)
    may name attributes of ``analysis.Fit`` and the recording's and the fish's
    attributes (``region``, ``experiment``, ``sensor``, ``genotype``, ...).
    """
    from schemas import analysis

    from .restriction import recording_tables, restrict

    fits = restrict(analysis.Fit, restriction, allowed_extra=recording_tables()).proj()
    ready = fits & analysis.Classification.proj() & analysis.Clustering.proj() & analysis.ResponseAmplitude.proj()
    keys = ready.to_dicts(order_by=["fish", "recording", "paramset"])
    return keys, len(fits) - len(keys)


def export_nwb(out_dir, restriction=None, *, progress: bool = False) -> tuple[list[Path], int]:
    """Write ``OUT_DIR/<fish>/<recording>/<paramset>.nwb`` for every ready key.

    Names are made file-system safe as in the report (a changed name gets a
    short hash of the original).  Returns the files written and the number
    of fitted keys skipped because a later table is not populated yet.
    """
    from tqdm.auto import tqdm

    import schemas

    from .errors import TectumError
    from .nwb_export import write_recording_nwb
    from .report.names import _Namer

    try:
        import pynwb  # noqa: F401
    except ImportError:
        raise TectumError("NWB export needs pynwb: pip install 'tectum-pipeline[nwb]'") from None
    schemas.activate()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: NWB export writes a folder of files, and this is a file")
    keys, pending = nwb_export_keys(restriction)
    namer = _Namer()
    written = []
    for key in tqdm(keys, desc="export", unit="file", disable=not progress):
        fish = namer.name((), key["fish"])
        recording = namer.name((key["fish"],), key["recording"])
        paramset = namer.name((key["fish"], key["recording"]), key["paramset"])
        written.append(write_recording_nwb(out / fish / recording / f"{paramset}.nwb", **recording_nwb_inputs(key)))
    return written, pending
