"""Small NWB files written with pynwb, for the tests of the NWB reader and export."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

UTC = dt.UTC
START = dt.datetime(2024, 3, 1, 10, 30, tzinfo=UTC)


def default_events() -> pd.DataFrame:
    """Presentations, onsets from the first frame."""
    return pd.DataFrame(
        {
            "stimulus": ["prey-nasalward", "looming", "dimming", "looming"],
            "onset_s": [2.5, 10.0, 20.0, 40.0],
            "duration_s": [2.0, 5.0, 3.0, 5.0],
            "size": [3.0, 30.0, np.nan, 30.0],
        }
    )


def write_nwb(
    path,
    *,
    n_rois: int = 4,
    n_frames: int = 60,
    rate: float | None = 1.0,
    timestamps=None,
    starting_time: float = 0.0,
    series: dict | None = None,
    roi_ids=None,
    subject: dict | None = None,
    indicator: str | None = "GCaMP6s",
    masks: str | None = "pixel",
    roi_columns: dict | None = None,
    ophys: bool = True,
    tables: dict | None = None,
    stimulus_column: str = "stimulus",
    session_start=START,
    conversion: float = 1.0,
    offset: float = 0.0,
    seed: int = 0,
):
    """Write an NWB file of one imaging plane; return its traces (ROIs x frames, stored values).

    ``series`` maps container ("Fluorescence"/"DfOverF") to series names
    (default one ``Fluorescence/RoiResponseSeries``). ``timestamps`` (an
    array) replaces ``rate``; the first frame is at ``starting_time`` or
    ``timestamps[0]``. ``tables`` maps a TimeIntervals name to an events
    frame (onsets from the first frame; ``"trials"``/``"epochs"`` go where
    pynwb puts them, a name starting with ``"stimulus/"`` into
    ``/stimulus/presentation``); default one ``stimulus`` table. ``masks``
    is ``"pixel"``, ``"voxel"``, ``"image"`` or None (all-zero image masks:
    pynwb needs a mask column, and these give no centroid). ``roi_columns``
    adds columns to the ROI table: name -> one value per ROI.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

    rng = np.random.default_rng(seed)
    traces = rng.uniform(50, 150, size=(n_rois, n_frames))
    subject = {"subject_id": "F1", "genotype": "wt", "age": "P7D"} if subject is None else subject
    nwbfile = NWBFile(
        session_description="test recording",
        identifier=f"test-{seed}",
        session_start_time=session_start,
        subject=Subject(species="Danio rerio", sex="U", **subject) if subject else None,
    )
    device = nwbfile.create_device(name="scope", description="two-photon microscope")
    channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=520.0)
    plane = nwbfile.create_imaging_plane(
        name="plane",
        optical_channel=channel,
        description="tectum",
        device=device,
        excitation_lambda=920.0,
        imaging_rate=rate or 1.0,
        indicator=indicator or "",
        location="optic tectum",
    )
    if ophys:
        module = nwbfile.create_processing_module("ophys", "optical physiology")
        segmentation = ImageSegmentation()
        module.add(segmentation)
        rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="ROIs", imaging_plane=plane)
        ids = list(range(n_rois)) if roi_ids is None else list(roi_ids)
        for name in roi_columns or {}:
            rois.add_column(name, f"ROI column {name}")
        for i, roi_id in enumerate(ids):
            extra = {name: values[i] for name, values in (roi_columns or {}).items()}
            x, y = 3 + 2 * i, 5 + i
            if masks == "pixel":
                rois.add_roi(id=roi_id, pixel_mask=[(x, y, 1.0), (x + 1, y, 1.0)], **extra)
            elif masks == "voxel":
                rois.add_roi(id=roi_id, voxel_mask=[(x, y, 2, 1.0), (x, y + 2, 4, 3.0)], **extra)
            else:
                image = np.zeros((20, 16))
                if masks == "image":
                    image[x, y] = 1.0
                    image[x, y + 1] = 3.0
                rois.add_roi(id=roi_id, image_mask=image, **extra)
        region = rois.create_roi_table_region(region=list(range(n_rois)), description="all ROIs")
        containers = {"Fluorescence": Fluorescence(), "DfOverF": DfOverF()}
        for kind, names in (series or {"Fluorescence": ["RoiResponseSeries"]}).items():
            module.add(containers[kind])
            for name in names:
                timing = (
                    {"timestamps": np.asarray(timestamps, dtype=float)}
                    if timestamps is not None
                    else {"rate": rate, "starting_time": starting_time}
                )
                containers[kind].create_roi_response_series(
                    name=name, data=traces.T, rois=region, unit="a.u.", conversion=conversion, offset=offset, **timing
                )
    first = float(np.asarray(timestamps)[0]) if timestamps is not None else starting_time
    for name, events in ({"stimulus": default_events()} if tables is None else tables).items():
        table = _intervals(name.split("/")[-1], events, first, stimulus_column, TimeIntervals)
        if name == "trials":
            nwbfile.trials = table
        elif name == "epochs":
            nwbfile.epochs = table
        elif name.startswith("stimulus/"):
            nwbfile.add_stimulus(table)
        else:
            nwbfile.add_time_intervals(table)
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    return traces * conversion + offset


def _intervals(name, events, first, stimulus_column, TimeIntervals):
    table = TimeIntervals(name=name, description=f"{name} table")
    extra = [c for c in events.columns if c not in ("stimulus", "onset_s", "duration_s")]
    if stimulus_column:
        table.add_column(stimulus_column, "stimulus name")
    for column in extra:
        table.add_column(column, f"parameter {column}")
    for _, row in events.iterrows():
        values = {c: row[c] for c in extra}
        if stimulus_column:
            values[stimulus_column] = row["stimulus"]
        start = first + row["onset_s"]
        table.add_row(start_time=start, stop_time=start + row["duration_s"], **values)
    return table
