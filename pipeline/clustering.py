"""Hierarchical clustering of ROI traces on correlation distance.

Reproduces the row clustering of the notebook's
``seaborn.clustermap(traces, metric="correlation", z_score=0)`` (average
linkage on 1 - Pearson r between z-scored rows), with a cap on the number of
clustered ROIs because memory and time grow as O(n^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster import hierarchy

from ._validation import as_2d_array, check_positive_float, check_positive_int

try:  # same results as scipy, faster for large n
    import fastcluster as _fastcluster
except ImportError:  # pragma: no cover - fastcluster is an optional extra
    _fastcluster = None

__all__ = [
    "condensed_subset",
    "ClusterResult",
    "zscore_rows",
    "correlation_distance",
    "cluster_rois",
    "LINKAGE_METHODS",
]

# Methods valid for an arbitrary dissimilarity; "ward", "centroid" and
# "median" assume Euclidean distances, which 1 - r is not.
LINKAGE_METHODS = ("average", "complete", "single", "weighted")

# Optimal leaf ordering costs O(n^3) (~2 s for 1,000 rows, ~15 s for 2,000);
# above this many rows the plain linkage order is kept and
# ClusterResult.optimally_ordered is False.
MAX_OPTIMAL_ORDERING_ROIS = 1000

# Distance matrix rows computed per block (bounds the temporary to ~32 MB).
_BLOCK_VALUES = 4_000_000


@dataclass(eq=False)
class ClusterResult:
    """Result of :func:`cluster_rois`.

    Attributes
    ----------
    linkage : ndarray of shape (n - 1, 4)
        scipy linkage matrix over the clustered rows.
    leaf_order : ndarray of int
        Dendrogram order, as positions into the clustered rows (0..n-1).
    labels : ndarray of int
        Flat cluster label (1..k) per clustered row.
    rows : ndarray of int
        Which input rows were clustered (ascending).
    capped : bool
        True if only ``max_rois`` of the candidate rows were clustered.
    optimally_ordered : bool
        Whether optimal leaf ordering was applied.
    """

    linkage: np.ndarray
    leaf_order: np.ndarray
    labels: np.ndarray
    rows: np.ndarray
    capped: bool
    optimally_ordered: bool = False


def zscore_rows(x, *, ddof=1):
    """Z-score each row (ROI) over time.

    Parameters
    ----------
    x : array-like of shape (n_rois, n_frames)
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation. seaborn's
        ``z_score`` uses pandas' ``std`` (ddof=1); scipy.stats.zscore uses 0.
        Correlation distances do not depend on it.

    Returns
    -------
    z : ndarray, float64
        Constant rows (zero standard deviation) become all zeros instead of
        NaN.
    """
    x = as_2d_array(x, "x").astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, ddof=ddof, keepdims=True) if x.shape[1] > ddof else np.zeros((x.shape[0], 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(x, sd, out=x, where=sd > 0)
    x[(sd == 0)[:, 0]] = 0.0
    return x


def _unit_rows(x):
    """Centred rows scaled to unit Euclidean norm (zeros for constant rows)."""
    u = np.array(x, dtype=np.float64, copy=True)
    u -= u.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", u, u))[:, None]
    np.divide(u, norm, out=u, where=norm > 0)
    u[(norm == 0)[:, 0]] = 0.0
    return u


def correlation_distance(x):
    """Condensed correlation distance ``1 - r`` between all pairs of rows.

    Equal to ``scipy.spatial.distance.pdist(x, "correlation")`` (to ~1e-12),
    computed as a matrix product of centred unit-norm rows, in row blocks
    written straight into the condensed vector (memory: the output, n(n-1)/2
    floats, plus ~32 MB).

    Parameters
    ----------
    x : array-like of shape (n, n_frames)

    Returns
    -------
    d : ndarray of shape (n * (n - 1) // 2,), float64
        Clipped to [0, 2] against rounding. A constant row has correlation 0
        with everything, i.e. distance 1 (pdist would return NaN).
    """
    x = as_2d_array(x, "x")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    u = _unit_rows(x)
    n = u.shape[0]
    out = np.empty(n * (n - 1) // 2)
    step = max(1, _BLOCK_VALUES // max(n, 1))
    pos = 0
    for start in range(0, n - 1, step):
        stop = min(start + step, n - 1)
        block = u[start:stop] @ u[start:].T  # rows start..stop vs start..n
        # Entries right of the diagonal, row-major = condensed order.
        upper = np.arange(block.shape[1])[None, :] > np.arange(block.shape[0])[:, None]
        vals = 1.0 - block[upper]
        out[pos : pos + vals.size] = vals
        pos += vals.size
    np.clip(out, 0.0, 2.0, out=out)
    return out


def condensed_subset(distance, n, rows):
    """Condensed distances among ``rows`` from the condensed distances of all ``n`` rows.

    Parameters
    ----------
    distance : ndarray of shape (n * (n - 1) // 2,)
        Condensed pairwise distances (``pdist`` order) of ``n`` rows.
    n : int
        Number of rows ``distance`` covers.
    rows : array-like of int
        Sorted, unique row indices.

    Returns
    -------
    ndarray of shape (m * (m - 1) // 2,)
        The condensed distances among ``rows``, in ``pdist`` order.
    """
    rows = np.asarray(rows, dtype=np.int64)
    m = rows.size
    if distance.shape != (n * (n - 1) // 2,):
        raise ValueError(f"distance has {distance.size} entries, not n(n-1)/2 for n={n}")
    i, j = np.triu_indices(m, k=1)
    a, b = rows[i], rows[j]
    # pdist index of the pair (a, b), a < b
    return distance[n * a - a * (a + 1) // 2 + (b - a - 1)]


def cluster_rois(
    traces,
    *,
    method="average",
    n_clusters=None,
    distance_threshold=None,
    optimal_ordering=True,
    max_rois=None,
    priority=None,
    candidates=None,
    distance=None,
):
    """Agglomerative clustering of ROI traces on correlation distance.

    Parameters
    ----------
    traces : array-like of shape (n_rois, n_frames)
        Typically dF/F. Rows are z-scored implicitly (correlation distance
        is invariant to it).
    method : {"average", "complete", "single", "weighted"}, default "average"
        Linkage method (seaborn's clustermap default is "average").
    n_clusters : int, optional
        Number of flat clusters (fcluster criterion "maxclust").
    distance_threshold : float, optional
        Cophenetic distance cut (fcluster criterion "distance"). Give at most
        one of ``n_clusters`` / ``distance_threshold``; if neither,
        ``n_clusters = min(8, n)``.
    optimal_ordering : bool, default True
        Reorder leaves to put similar rows next to each other
        (``scipy.cluster.hierarchy.optimal_leaf_ordering``). Skipped (and
        ``optimally_ordered`` is False) above
        :data:`MAX_OPTIMAL_ORDERING_ROIS` rows because it costs O(n^3).
    max_rois : int, optional
        Cluster at most this many rows: the ones with the highest
        ``priority`` (e.g. r2), or the first ones if ``priority`` is None.
        Sets ``capped``.
    priority : array-like of shape (n_rois,), optional
        Ranking for the cap; NaN ranks last, ties keep row order.
    candidates : array-like of int or bool, optional
        Restrict clustering to these input rows (indices or a boolean mask),
        e.g. the selected ROIs; the cap applies among them. ``rows`` of the
        result are always indices into ``traces``.
    distance : ndarray, optional
        The condensed correlation distances of *all* rows of ``traces``
        (:func:`correlation_distance`), when the caller already has them:
        the clustered rows' distances are taken from it instead of being
        computed again (e.g. the selected ROIs after all ROIs).

    Returns
    -------
    ClusterResult
        For a single row: empty (0, 4) linkage, leaf_order [0], labels [1];
        for no rows: all arrays empty.
    """
    traces = as_2d_array(traces, "traces")
    n_total = traces.shape[0]
    if method not in LINKAGE_METHODS:
        raise ValueError(
            f"method must be one of {LINKAGE_METHODS} (the others assume Euclidean distances), got {method!r}"
        )
    if n_clusters is not None and distance_threshold is not None:
        raise ValueError("give n_clusters or distance_threshold, not both")
    if n_clusters is not None:
        n_clusters = check_positive_int(n_clusters, "n_clusters")
    if distance_threshold is not None:
        distance_threshold = check_positive_float(distance_threshold, "distance_threshold", allow_zero=True)
    if max_rois is not None:
        max_rois = check_positive_int(max_rois, "max_rois")

    rows = _candidate_rows(candidates, n_total)
    capped = False
    if max_rois is not None and rows.size > max_rois:
        rows = _top_rows(rows, priority, n_total, max_rois)
        capped = True

    n = rows.size
    if n == 0:
        return ClusterResult(
            np.empty((0, 4)), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), rows, capped, False
        )
    if n == 1:
        return ClusterResult(
            np.empty((0, 4)), np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), rows, capped, False
        )

    if distance is not None:
        dist = distance if n == n_total else condensed_subset(distance, n_total, rows)
    else:
        dist = correlation_distance(traces if n == n_total else traces[rows])
    if _fastcluster is not None:
        z = _fastcluster.linkage(dist, method=method)
    else:  # pragma: no cover
        z = hierarchy.linkage(dist, method=method)
    ordered = bool(optimal_ordering and n <= MAX_OPTIMAL_ORDERING_ROIS)
    if ordered:
        z = hierarchy.optimal_leaf_ordering(z, dist)
    if distance_threshold is not None:
        labels = hierarchy.fcluster(z, t=distance_threshold, criterion="distance")
    else:
        k = min(8, n) if n_clusters is None else n_clusters
        labels = hierarchy.fcluster(z, t=k, criterion="maxclust")
    return ClusterResult(
        linkage=z,
        leaf_order=hierarchy.leaves_list(z).astype(np.int64),
        labels=labels.astype(np.int64),
        rows=rows,
        capped=capped,
        optimally_ordered=ordered,
    )


def _candidate_rows(candidates, n_total):
    if candidates is None:
        return np.arange(n_total, dtype=np.int64)
    cand = np.asarray(candidates)
    if cand.dtype == bool:
        if cand.shape != (n_total,):
            raise ValueError(f"boolean candidates must have shape ({n_total},), got {cand.shape}")
        return np.flatnonzero(cand).astype(np.int64)
    if cand.ndim != 1 or (cand.size and not np.issubdtype(cand.dtype, np.integer)):
        raise ValueError("candidates must be a 1-D array of row indices or a boolean mask")
    cand = np.unique(cand.astype(np.int64))
    if cand.size and (cand[0] < 0 or cand[-1] >= n_total):
        raise ValueError(f"candidate rows must lie in [0, {n_total})")
    return cand


def _top_rows(rows, priority, n_total, max_rois):
    """The ``max_rois`` rows of highest priority, in ascending row order."""
    if priority is None:
        return rows[:max_rois]
    priority = np.asarray(priority, dtype=np.float64)
    if priority.shape != (n_total,):
        raise ValueError(f"priority must have shape ({n_total},), got {priority.shape}")
    key = priority[rows]
    key = np.where(np.isnan(key), -np.inf, key)
    # Stable sort on -key: highest first, ties in row order.
    order = np.argsort(-key, kind="stable")[:max_rois]
    return np.sort(rows[order])
