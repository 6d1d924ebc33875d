"""Reader of a suite2p plane folder.

``F.npy``, ``Fneu.npy``, ``iscell.npy``, ``stat.npy`` and ``ops.npy``:
:func:`read_suite2p`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import PathArg, _load_npy, _numeric_matrix, _plain, to_jsonable

#: the subset of suite2p's ops worth keeping as imaging metadata
_OPS_KEYS = ("fs", "nplanes", "Ly", "Lx", "tau")


def _find_plane_dir(path: Path) -> Path:
    """The plane folder holding F.npy: ``path`` itself, or its only plane.

    Accepting the suite2p output root (``.../suite2p``) or its parent saves a
    manifest round trip when the recording has a single plane.
    """
    if (path / "F.npy").exists():
        return path
    for root in (path, path / "suite2p"):
        planes = sorted(p for p in root.glob("plane*") if (p / "F.npy").exists())
        if len(planes) == 1:
            return planes[0]
        if len(planes) > 1:
            names = ", ".join(p.name for p in planes)
            raise InputError(
                f"holds {len(planes)} suite2p planes ({names}); point the manifest at one plane folder",
                path=path,
                role="suite2p folder",
            )
    raise InputError("no F.npy in this suite2p folder", path=path, role="suite2p folder")


def read_suite2p(plane_dir: PathArg, *, iscell_only: bool = True) -> dict[str, Any]:
    """Read one suite2p plane folder.

    Parameters
    ----------
    plane_dir : str or path-like
        A ``planeN`` folder (or a suite2p output folder with a single plane).
        It must hold ``F.npy``; ``Fneu.npy``, ``iscell.npy``, ``stat.npy`` and
        ``ops.npy`` are used when present.  ``stat.npy``/``ops.npy`` are
        pickled Python objects, so only read folders you trust.
    iscell_only : bool
        Keep only the ROIs that ``iscell.npy`` column 0 classifies as cells.

    Returns
    -------
    dict
        ``traces`` (F, float32, kept ROIs x frames), ``neuropil`` (Fneu,
        float32 or None), ``roi_ids`` (int64: the suite2p indices of the kept
        ROIs), ``positions`` (float64 n x 3: x, y from ``stat[i]['med']``,
        which suite2p stores as (y, x), and z = 0; None without stat.npy),
        ``frame_period_s`` (1 / ops['fs'] or None), ``metadata`` (``fs``,
        ``nplanes``, ``Ly``, ``Lx``, ``tau`` from ops when present, plus the
        ROI counts before and after the iscell filter).

    Raises
    ------
    InputError
        No folder or no F.npy; any file unreadable; Fneu/iscell/stat not
        matching F's ROIs (or Fneu its frames); ops fs not positive.
    """
    path = Path(plane_dir)
    if not path.exists():
        raise InputError("folder not found", path=path, role="suite2p folder")
    if not path.is_dir():
        raise InputError("is a file, expected a suite2p plane folder", path=path, role="suite2p folder")
    path = _find_plane_dir(path)

    f_path = path / "F.npy"
    traces = _numeric_matrix(_load_npy(f_path), f_path, what="F")
    n_all = traces.shape[0]

    neuropil = None
    fneu_path = path / "Fneu.npy"
    if fneu_path.exists():
        neuropil = _numeric_matrix(_load_npy(fneu_path), fneu_path, what="Fneu")
        if neuropil.shape != traces.shape:
            raise InputError(f"shape {neuropil.shape} does not match F.npy {traces.shape}", path=fneu_path)

    keep = np.ones(n_all, dtype=bool)
    iscell_path = path / "iscell.npy"
    if iscell_path.exists():
        iscell = np.asarray(_load_npy(iscell_path))
        if iscell.dtype.kind not in "biuf" or iscell.ndim not in (1, 2):
            raise InputError(
                f"expected a numeric n x 2 array, found {iscell.dtype} {iscell.shape}",
                path=iscell_path,
            )
        if iscell.shape[0] != n_all:
            raise InputError(f"has {iscell.shape[0]} ROIs but F.npy has {n_all}", path=iscell_path)
        if iscell_only:
            # column 0 is the 0/1 classification, column 1 its probability
            keep = (iscell if iscell.ndim == 1 else iscell[:, 0]) > 0.5

    positions = None
    stat_path = path / "stat.npy"
    if stat_path.exists():
        positions = _positions_from_stat(_load_npy(stat_path, allow_pickle=True), n_all, stat_path)

    ops: dict = {}
    ops_path = path / "ops.npy"
    if ops_path.exists():
        ops = _load_ops(ops_path)
    metadata = {k: _plain(ops[k]) for k in _OPS_KEYS if k in ops}
    frame_period_s = None
    if "fs" in ops:
        try:
            fs = float(ops["fs"])
        except (TypeError, ValueError):
            fs = float("nan")
        if not (math.isfinite(fs) and fs > 0):
            raise InputError(f"ops['fs'] = {ops['fs']!r} is not a positive frame rate", path=ops_path)
        frame_period_s = 1.0 / fs
    metadata.update(n_rois_segmented=n_all, n_rois_kept=int(keep.sum()))

    roi_ids = np.flatnonzero(keep).astype(np.int64)
    return dict(
        traces=np.ascontiguousarray(traces[keep]),
        neuropil=None if neuropil is None else np.ascontiguousarray(neuropil[keep]),
        roi_ids=roi_ids,
        positions=None if positions is None else positions[keep],
        frame_period_s=frame_period_s,
        metadata=to_jsonable(metadata),
    )


def _positions_from_stat(stat: Any, n_rois: int, path: Path) -> np.ndarray:
    stat = np.asarray(stat, dtype=object).ravel()
    if len(stat) != n_rois:
        raise InputError(f"has {len(stat)} ROIs but F.npy has {n_rois}", path=path)
    positions = np.zeros((n_rois, 3), dtype=np.float64)
    for i, roi in enumerate(stat):
        try:
            y, x = (float(v) for v in roi["med"])
        except (TypeError, KeyError, ValueError, IndexError):
            raise InputError(f"ROI {i} has no usable 'med' (y, x) centre", path=path) from None
        positions[i, :2] = x, y
    return positions


def _load_ops(path: Path) -> dict:
    ops = _load_npy(path, allow_pickle=True)
    if isinstance(ops, np.ndarray) and ops.dtype == object and ops.size == 1:
        ops = ops.item()  # np.save(dict) stores a 0-d object array
    if not isinstance(ops, dict):
        raise InputError("expected a saved dict of suite2p options", path=path)
    return ops
