"""Manual tables: what a lab enters — fish, recordings, stimulus presentations, ROI traces.

Insert through :func:`schemas.ingest.insert_recording`, which validates
everything first and writes one recording in a single transaction.
Every recording carries a ``version``: a hash of everything the analysis
reads (traces, neuropil, frame period, sensor, stimulus presentations and
groups). Computed rows copy it, and a ``make()`` re-checks it before it
inserts, so results are never saved from inputs that were replaced meanwhile.
"""

from __future__ import annotations

import datajoint as dj

from . import reference  # noqa: F401  (the definitions' "-> reference.Sensor" resolve in this module)
from .config import STORE

schema = dj.Schema()


@schema
class Fish(dj.Manual):
    definition = """
    # one larva
    fish: varchar(64)
    ---
    genotype='': varchar(255)          # line / genotype, e.g. "gad1b:Gal4; UAS:NTR-mCherry"
    age_dpf=null: float32              # age, days post fertilisation
    notes='': varchar(2000)
    index (genotype)
    """


@schema
class Recording(dj.Manual):
    definition = """
    # one imaging plane over time
    -> Fish
    recording: varchar(64)
    ---
    experiment='': varchar(64)         # experiment code, e.g. MF343
    region: varchar(64)                # brain region imaged, e.g. right_tectum
    -> reference.Sensor
    frame_period_s: float64            # seconds between frames
    n_frames: int32
    n_rois: int32
    recorded_at=null: datetime
    imaging_metadata=null: json        # free-form acquisition metadata
    stimulus_groups=null: json         # regressor -> stimuli it pools, from the manifest (null: one per stimulus)
    version: char(32)                  # MD5 of everything the analysis reads; changes when the recording is replaced
    index (experiment)
    index (region)
    """


@schema
class Presentation(dj.Manual):
    definition = """
    # the stimulus protocol: one row per stimulus presentation
    -> Recording
    presentation: int32                # 0-based, in order of onset
    ---
    -> reference.StimulusType
    onset_s: float64                   # from the first frame
    duration_s: float64
    params=null: json                  # stimulus parameters (size, speed, direction, ...)
    """


@schema
class RoiTraces(dj.Manual):
    definition = f"""
    # the fluorescence traces of all ROIs of a recording, as one float32 matrix
    -> Recording
    ---
    trace_kind: enum('raw', 'dff')     # raw fluorescence, or already dF/F
    traces: <npy@{STORE}>              # float32, ROIs x frames, row i is roi i
    neuropil=null: <npy@{STORE}>       # float32 neuropil traces, same shape, where segmented
    """

    class Roi(dj.Part):
        definition = """
        # one region of interest; its trace is row `roi` of the master's matrix
        -> master
        roi: int32                     # 0-based row in the traces matrix
        ---
        source_id: int64               # id in the segmentation output (suite2p index, CSV label)
        x=null: float32                # centroid, pixels
        y=null: float32
        z=null: float32
        """
