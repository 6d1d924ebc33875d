"""Write a small synthetic dataset, in every supported format, plus its manifest.

The recordings come from :func:`pipeline.synthetic.make_recording`; this
module only lays them out on disk the way real data arrives, so that the
whole ingestion path (manifest, readers, checks) is exercised by the demo
and by tests:

* ``npy``: a ``.npy`` traces matrix, an events CSV and a positions ``.npy``;
* ``csv``: a traces CSV with a ROI-label column and a protocol pickle
  (10 Hz time base, ``stimN_presence``/``stimN_dur`` columns, prey direction
  as strings) read with ``split_prey_direction = true``;
* ``suite2p``: a plane folder (``F``, ``Fneu``, ``iscell`` with a few
  non-cells that ingestion must drop, ``stat``, ``ops``) and a Femtonics
  metadata export giving the frame period.

``truth.csv`` next to the manifest lists each ROI's true class, by the ROI
id ingestion assigns (suite2p index, CSV label or row).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["write_demo_dataset", "FORMATS"]

FORMATS = ("npy", "csv", "suite2p")

#: the two demo fish and their genotypes; recordings alternate between them
_FISH = (("F1", "gad1b:Gal4; UAS:NTR-mCherry"), ("F2", "wild type"))
_SENSOR = "GCaMP6s"
_REGION = "right_tectum"
_FRAME_PERIOD_S = 1.0
#: protocol time base of the lab's stimulus software
_PROTOCOL_RATE_HZ = 10
#: protocol column stems of the known stimuli (prey directions share stim1)
_STEMS = {"prey": "stim1", "looming": "stim2", "dimming": "stim3"}
#: non-cell ROIs slipped into each suite2p folder
_N_NONCELLS = 5


def write_demo_dataset(
    out_dir: str | PathLike,
    *,
    n_recordings: int = 3,
    n_rois: int = 300,
    n_frames: int = 420,
    seed: int = 0,
    formats: Iterable[str] = FORMATS,
) -> Path:
    """Generate synthetic recordings and write them with a manifest.

    Parameters
    ----------
    out_dir : str or path-like
        Created if needed; each recording gets a sub-folder
        ``<fish>_<recording>``.
    n_recordings : int
        Recordings to write; they alternate between two fish and cycle
        through ``formats``.
    n_rois, n_frames : int
        Size of each recording (suite2p folders hold a few extra non-cells).
    seed : int
        Recording ``i`` uses ``seed + i``.
    formats : iterable of {"npy", "csv", "suite2p"}

    Returns
    -------
    pathlib.Path
        The written ``manifest.toml``.
    """
    # imported here so that reading real data never needs the simulator
    from pipeline.synthetic import make_recording

    formats = tuple(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if not formats or unknown:
        raise ValueError(f"formats must be drawn from {FORMATS}, got {formats}")
    if n_recordings < 1:
        raise ValueError(f"n_recordings must be >= 1, got {n_recordings}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries, truth_rows = [], []
    for i in range(n_recordings):
        fmt = formats[i % len(formats)]
        fish, genotype = _FISH[i % len(_FISH)]
        recording = f"R{i + 1}"
        rec = make_recording(
            n_rois=n_rois,
            n_frames=n_frames,
            frame_period_s=_FRAME_PERIOD_S,
            sensor=_SENSOR,
            seed=seed + i,
            neuropil=(fmt == "suite2p"),
        )
        folder = out_dir / f"{fish}_{recording}"
        folder.mkdir(exist_ok=True)
        rng = np.random.default_rng(seed + 10_000 + i)
        writer = {"npy": _write_npy, "csv": _write_csv, "suite2p": _write_suite2p}[fmt]
        files, roi_ids = writer(rec, folder, rng)

        entry = {
            "fish": fish,
            "recording": recording,
            "experiment": "DEMO",
            "region": _REGION,
            "sensor": rec.sensor,
            "genotype": genotype,
            "age_dpf": 7,
            "notes": f"synthetic demo recording ({fmt} format, seed {seed + i})",
        }
        entry.update({k: _relative(v, out_dir) if isinstance(v, Path) else v for k, v in files.items()})
        if rec.groups:
            entry["groups"] = {str(k): list(v) for k, v in rec.groups.items()}
        entries.append(entry)
        truth_rows.append(
            pd.DataFrame({"fish": fish, "recording": recording, "roi_id": roi_ids, "truth": np.asarray(rec.truth)})
        )

    pd.concat(truth_rows, ignore_index=True).to_csv(out_dir / "truth.csv", index=False)
    manifest = out_dir / "manifest.toml"
    manifest.write_text(_manifest_text(entries), encoding="utf-8")
    return manifest


# ---------------------------------------------------------------------------
# one writer per format: each returns (manifest keys, ROI ids as ingested)


def _write_npy(rec, folder: Path, rng) -> tuple[dict, np.ndarray]:
    np.save(folder / "traces.npy", np.asarray(rec.traces, dtype=np.float32))
    _events_table(rec.events).to_csv(folder / "events.csv", index=False)
    files: dict[str, Any] = {
        "traces": folder / "traces.npy",
        "frame_period_s": float(rec.frame_period_s),
        "events": folder / "events.csv",
    }
    if rec.positions is not None:
        np.save(folder / "positions.npy", np.asarray(rec.positions, dtype=np.float64))
        files["positions"] = folder / "positions.npy"
    return files, np.arange(len(rec.traces), dtype=np.int64)


def _write_csv(rec, folder: Path, rng) -> tuple[dict, np.ndarray]:
    traces = np.asarray(rec.traces, dtype=np.float32)
    # labels that are not simply 0..n-1, so the label column is really used
    roi_ids = np.arange(len(traces), dtype=np.int64) + 1000
    pd.DataFrame(traces, index=roi_ids).to_csv(folder / "traces.csv", float_format="%.9g")
    stimuli = _write_protocol(rec, folder / "protocol.pkl")
    files: dict[str, Any] = {
        "traces": folder / "traces.csv",
        # DataFrame.to_csv writes a header of frame numbers and the ROI ids as an index column
        "traces_header": True,
        "traces_index_column": True,
        "frame_period_s": float(rec.frame_period_s),
        "protocol": folder / "protocol.pkl",
        "stimuli": stimuli,
        "split_prey_direction": True,
    }
    if rec.positions is not None:
        np.save(folder / "positions.npy", np.asarray(rec.positions, dtype=np.float64))
        files["positions"] = folder / "positions.npy"
    return files, roi_ids


def _write_suite2p(rec, folder: Path, rng) -> tuple[dict, np.ndarray]:
    traces = np.asarray(rec.traces, dtype=np.float32)
    n_cells, n_frames = traces.shape
    n_all = n_cells + _N_NONCELLS
    noncell = np.sort(rng.choice(n_all, size=_N_NONCELLS, replace=False))
    is_cell = np.ones(n_all, dtype=bool)
    is_cell[noncell] = False
    cell_ids = np.flatnonzero(is_cell)

    # non-cells: flat, noisy blobs at a plausible raw-fluorescence level
    level = float(np.median(traces))
    F = np.empty((n_all, n_frames), dtype=np.float32)
    F[is_cell] = traces
    F[~is_cell] = level + rng.normal(0, 0.05 * abs(level) + 1, size=(_N_NONCELLS, n_frames))
    neuropil = rec.neuropil if rec.neuropil is not None else 0.7 * traces
    Fneu = np.empty_like(F)
    Fneu[is_cell] = np.asarray(neuropil, dtype=np.float32)
    Fneu[~is_cell] = 0.7 * F[~is_cell]
    iscell = np.column_stack(
        [is_cell.astype(np.float64), np.where(is_cell, rng.uniform(0.6, 1.0, n_all), rng.uniform(0, 0.4, n_all))]
    )

    positions = np.zeros((n_all, 3))
    if rec.positions is not None:
        positions[is_cell] = np.asarray(rec.positions, dtype=np.float64)
    positions[~is_cell, :2] = rng.uniform(0, 512, size=(_N_NONCELLS, 2))
    # suite2p stores a ROI's median pixel as (y, x)
    stat = np.array([{"med": [positions[k, 1], positions[k, 0]], "npix": 80} for k in range(n_all)], dtype=object)
    ops = {"fs": 1.0 / rec.frame_period_s, "nplanes": 1, "Ly": 512, "Lx": 512, "tau": 1.5, "save_path0": str(folder)}

    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True, exist_ok=True)
    np.save(plane / "F.npy", F)
    np.save(plane / "Fneu.npy", Fneu)
    np.save(plane / "iscell.npy", iscell)
    np.save(plane / "stat.npy", stat, allow_pickle=True)
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    _events_table(rec.events).to_csv(folder / "events.csv", index=False)

    femtonics = folder / "measurement_context.txt"
    femtonics.write_text(
        "MeasurementDate = 2024.03.01. 10:30:00\n"
        "Type = XYT\n"
        f"D3Step = {rec.frame_period_s * 1000:g} ms\n"
        f"D3Size = {n_frames}\n"
        "Width = 512\n"
        "Height = 512\n"
        "Channel = pmtUG\n",
        encoding="utf-8",
    )
    return {"traces": plane, "femtonics_metadata": femtonics, "events": folder / "events.csv"}, cell_ids


# ---------------------------------------------------------------------------
# helpers


def _events_table(events: pd.DataFrame) -> pd.DataFrame:
    """Events as a flat table: a ``params`` column of dicts becomes columns."""
    table = events.reset_index(drop=True)
    if "params" in table.columns:
        params = pd.DataFrame([p if isinstance(p, dict) else {} for p in table["params"]])
        table = pd.concat([table.drop(columns="params"), params], axis=1)
    return table


def _write_protocol(rec, path: Path) -> dict[str, str]:
    """Pickle the events as the lab's stimulus software logs them."""
    n_rows = int(round(rec.traces.shape[1] * rec.frame_period_s * _PROTOCOL_RATE_HZ))
    t = np.arange(n_rows) / _PROTOCOL_RATE_HZ
    events = rec.events.reset_index(drop=True)
    stems = dict(_STEMS)
    for name in events["stimulus"]:
        base = _base_name(name)
        stems.setdefault(base, f"stim{len(stems) + 1}")
    used = {_base_name(n) for n in events["stimulus"]}
    stems = {base: stem for base, stem in stems.items() if base in used}

    protocol = pd.DataFrame({"t": t})
    for stem in stems.values():
        protocol[f"{stem}_presence"] = 0
        protocol[f"{stem}_dur"] = np.nan
    protocol["prey_direction"] = ""
    # a presentation starts on the protocol sample nearest its onset
    half_step = 0.5 / _PROTOCOL_RATE_HZ
    for name, onset, duration in zip(events["stimulus"], events["onset_s"], events["duration_s"]):
        stem = stems[_base_name(name)]
        rows = (t >= onset - half_step) & (t < onset + duration - half_step)
        protocol.loc[rows, f"{stem}_presence"] = 1
        protocol.loc[rows, f"{stem}_dur"] = float(duration)
        if name.startswith("prey-"):
            protocol.loc[rows, "prey_direction"] = name.split("-", 1)[1]
    content = {
        "metadata": {"protocol": "prey-looming-dimming (synthetic)", "rate_hz": _PROTOCOL_RATE_HZ},
        "protocol": protocol,
    }
    pd.to_pickle(content, path)
    return {stem: base for base, stem in stems.items()}


def _base_name(stimulus: str) -> str:
    return "prey" if stimulus.startswith("prey") else stimulus


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        # JSON string escapes are valid TOML; TOML also forbids a raw DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _manifest_text(entries: list[dict]) -> str:
    lines = ["# Synthetic demo dataset written by tectum.demo_data.write_demo_dataset", ""]
    for entry in entries:
        lines.append("[[recording]]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items()]
        lines.append("")
    return "\n".join(lines)
