"""Correlation-distance hierarchical clustering vs scipy (and seaborn)."""

import numpy as np
import pytest
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

from pipeline import ClusterResult, cluster_rois, correlation_distance, zscore_rows


@pytest.fixture
def x():
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(4, 120))
    labels = rng.integers(0, 4, 60)
    return protos[labels] * rng.uniform(0.5, 3, (60, 1)) + 10 + rng.normal(0, 0.8, (60, 120))


def test_zscore_rows(x):
    np.testing.assert_allclose(zscore_rows(x), stats.zscore(x, axis=1, ddof=1))
    np.testing.assert_allclose(zscore_rows(x, ddof=0), stats.zscore(x, axis=1))
    z = zscore_rows(np.vstack([x[:2], np.full(120, 3.0)]))
    assert np.all(z[2] == 0)


def test_correlation_distance_matches_pdist(x):
    np.testing.assert_allclose(correlation_distance(x), pdist(x, "correlation"), rtol=0, atol=1e-10)
    # constant row: distance 1 to everything, no NaN
    d = correlation_distance(np.vstack([x[:3], np.full(120, 5.0)]))
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d[[2, 4, 5]], 1.0)
    assert correlation_distance(x[:1]).size == 0


def test_correlation_distance_blocks(x, monkeypatch):
    import pipeline.clustering as clustering

    monkeypatch.setattr(clustering, "_BLOCK_VALUES", 7 * 60)  # 7 rows/block
    np.testing.assert_allclose(correlation_distance(x), pdist(x, "correlation"), atol=1e-10)


def test_cluster_matches_scipy_without_optimal_ordering(x):
    res = cluster_rois(x, n_clusters=4, optimal_ordering=False)
    assert isinstance(res, ClusterResult)
    z = hierarchy.linkage(zscore_rows(x), method="average", metric="correlation")
    np.testing.assert_allclose(res.linkage, z, atol=1e-10)
    np.testing.assert_array_equal(res.leaf_order, hierarchy.leaves_list(z))
    np.testing.assert_array_equal(res.labels, hierarchy.fcluster(z, 4, criterion="maxclust"))
    np.testing.assert_array_equal(res.rows, np.arange(60))
    assert not res.capped and not res.optimally_ordered
    assert len(np.unique(res.labels)) == 4


def test_cluster_optimal_ordering_and_threshold(x):
    d = pdist(x, "correlation")
    z = hierarchy.optimal_leaf_ordering(hierarchy.linkage(d, "average"), d)
    res = cluster_rois(x, distance_threshold=0.5)
    assert res.optimally_ordered
    np.testing.assert_array_equal(res.leaf_order, hierarchy.leaves_list(z))
    np.testing.assert_array_equal(res.labels, hierarchy.fcluster(z, 0.5, criterion="distance"))
    default = cluster_rois(x)
    assert default.labels.max() == 8  # n_clusters defaults to min(8, n)


def test_matches_seaborn_clustermap_rows(x):
    sns = pytest.importorskip("seaborn")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = sns.clustermap(x, metric="correlation", z_score=0, col_cluster=False)
    order = grid.dendrogram_row.reordered_ind
    plt.close("all")
    res = cluster_rois(x, optimal_ordering=False)
    np.testing.assert_array_equal(res.leaf_order, order)


def test_max_rois_cap(x):
    priority = np.random.default_rng(1).random(60)
    priority[10] = np.nan
    res = cluster_rois(x, max_rois=20, priority=priority)
    top = np.sort(np.argsort(-np.nan_to_num(priority, nan=-1))[:20])
    np.testing.assert_array_equal(res.rows, top)
    assert res.capped and res.labels.size == 20
    assert sorted(res.leaf_order) == list(range(20))
    z = hierarchy.linkage(pdist(x[top], "correlation"), "average")
    z = hierarchy.optimal_leaf_ordering(z, pdist(x[top], "correlation"))
    np.testing.assert_array_equal(res.leaf_order, hierarchy.leaves_list(z))
    first = cluster_rois(x, max_rois=5)
    np.testing.assert_array_equal(first.rows, np.arange(5))


def test_candidates(x):
    mask = np.zeros(60, bool)
    mask[[3, 7, 20, 41, 59]] = True
    res = cluster_rois(x, candidates=mask, n_clusters=2)
    np.testing.assert_array_equal(res.rows, [3, 7, 20, 41, 59])
    capped = cluster_rois(x, candidates=np.flatnonzero(mask), max_rois=2, priority=np.arange(60.0))
    np.testing.assert_array_equal(capped.rows, [41, 59])


def test_small_inputs(x):
    one = cluster_rois(x[:1])
    assert one.linkage.shape == (0, 4)
    np.testing.assert_array_equal(one.leaf_order, [0])
    np.testing.assert_array_equal(one.labels, [1])
    none = cluster_rois(x[:0])
    assert none.linkage.shape == (0, 4)
    assert none.leaf_order.size == none.labels.size == none.rows.size == 0
    two = cluster_rois(x[:2])
    assert two.linkage.shape == (1, 4)


def test_cluster_validation(x):
    with pytest.raises(ValueError, match="not both"):
        cluster_rois(x, n_clusters=3, distance_threshold=0.5)
    with pytest.raises(ValueError, match="Euclidean"):
        cluster_rois(x, method="ward")
    with pytest.raises(ValueError, match="priority"):
        cluster_rois(x, max_rois=3, priority=np.ones(5))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cluster_rois(bad)


def test_precomputed_distance_gives_the_same_tree():
    """Clustering a subset from the full distance vector equals clustering it afresh."""
    from pipeline.clustering import condensed_subset

    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 80))
    rows = np.sort(rng.choice(60, size=25, replace=False))
    full = correlation_distance(x)
    np.testing.assert_allclose(condensed_subset(full, 60, rows), pdist(x[rows], "correlation"), atol=1e-12)
    fresh = cluster_rois(x, candidates=rows, n_clusters=4)
    reused = cluster_rois(x, candidates=rows, n_clusters=4, distance=full)
    np.testing.assert_allclose(reused.linkage, fresh.linkage, atol=1e-12)
    np.testing.assert_array_equal(reused.leaf_order, fresh.leaf_order)
    np.testing.assert_array_equal(reused.labels, fresh.labels)
    np.testing.assert_array_equal(reused.rows, rows)
