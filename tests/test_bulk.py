"""The populate fast paths: statement splitting, foreign-key lookups, dF/F converted within its buffer."""

from __future__ import annotations

import numpy as np
import pytest


def test_statements_stay_within_the_byte_budget():
    from schemas.bulk import _statements

    head = "INSERT INTO t (a) VALUES ("
    rows = [str(i) * (i % 7 + 1) for i in range(500)]
    for budget in (1, 40, 1000, 10**6):
        statements = list(_statements(head, rows, budget))
        assert [r for s in statements for r in s[len(head) : -1].split("),(")] == rows
        # a statement is over the budget only when one row alone is
        assert all(len(s) - len(head) <= budget or "),(" not in s for s in statements)


def test_float32_and_back_within_the_buffer():
    from schemas.analysis import _CONVERT_STEP, _float32_in_place, _float64_in_place

    rng = np.random.default_rng(0)
    for shape in [(1, 1), (3, 5), (2, _CONVERT_STEP + 3)]:
        a = rng.standard_normal(shape)
        a.flat[::7] = np.nan
        want = a.astype(np.float32)
        half = _float32_in_place(a)
        assert np.shares_memory(half, a) and half.shape == shape
        assert np.array_equal(half, want, equal_nan=True)
        assert np.array_equal(_float64_in_place(a, half), want.astype(np.float64), equal_nan=True)


def test_foreign_key_lookups_skipped_only_when_the_parents_are_known(db):
    from schemas import analysis, bulk

    conn = analysis.Fit.connection
    if conn.adapter.backend != "mysql":
        pytest.skip("foreign-key lookups are only switched off on MySQL/MariaDB")

    def checks() -> int:
        return int(conn.query("SELECT @@SESSION.foreign_key_checks").fetchone()[0])

    with bulk.parents_present(conn):
        inside = checks()
    with pytest.raises(RuntimeError), bulk.parents_present(conn):
        raise RuntimeError("a failing insert")
    assert (inside, checks()) == (0, 1)  # restored, also after the error
    fit = analysis.Fit()
    with analysis._own_parts(fit, {}, 5, rois=(np.arange(5),)):
        assert checks() == 0
    with analysis._own_parts(fit, {}, 5, rois=(np.array([0, 5]),)):  # ROI 5 is not the recording's
        assert checks() == 1
    assert checks() == 1


def test_json_rendered_a_chunk_at_a_time_is_the_whole_column():
    from schemas.analysis import _json_block, _json_rows

    rng = np.random.default_rng(1)
    per_regressor = [rng.standard_normal((53, k)) for k in (3, 5, 1)]
    per_regressor[1][7] = np.nan  # an excluded ROI: null
    whole = np.column_stack([_json_rows(v) for v in per_regressor]).ravel().tolist()
    for start, stop in [(0, len(whole)), (0, 1), (2, 3), (5, 17), (150, len(whole))]:
        assert _json_block(per_regressor, start, stop) == whole[start:stop]
