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


ODD_TEXTS = [
    "plain",
    "back\\slash",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "quotes ' and \"",
    "\\N",  # the text format's NULL, as text
    "\\.",
    "naïve — 鱼 🐟",
    "",
]


@pytest.fixture
def odd_table(db):
    """A scratch table with every kind of column the part rows use."""
    import os

    import datajoint as dj

    schema = dj.Schema(os.environ["TECTUM_SCHEMA_PREFIX"] + "bulktest", connection=db.analysis.Fit.connection)

    @schema
    class Odd(dj.Manual):
        definition = """
        row: int32
        ---
        label=null: varchar(64)
        value=null: float64
        count: int32
        flag: bool
        doc=null: json
        """

    yield Odd
    schema.drop(prompt=False)


def test_odd_values_round_trip_through_the_bulk_insert(odd_table):
    """Strings, JSON, NULLs, non-finite numbers and booleans are stored as given (INSERT or COPY)."""
    import json

    from schemas.bulk import JsonText, _copy_cursor, fetch_columns, insert_columns

    # PostgreSQL's rows go through COPY, MySQL's through INSERT
    postgres = odd_table.connection.adapter.backend == "postgresql"
    assert (_copy_cursor(odd_table.connection) is not None) == postgres
    n = len(ODD_TEXTS)
    values = np.array([0.5, np.nan, np.inf, -np.inf, 1e-300, -2.0, 3.25, 0.0, 1e300, 7.0])
    docs = [{"text": t, "list": [1.5, None]} for t in ODD_TEXTS]
    docs[3] = None
    inserted = insert_columns(
        odd_table,
        dict(
            row=np.arange(n),
            label=np.array([None if i == 5 else t for i, t in enumerate(ODD_TEXTS)], dtype=object),
            value=values,
            flag=np.arange(n) % 2 == 0,
            doc=JsonText.wrap([None if d is None else json.dumps(d) for d in docs]),
        ),
        {"count": 42},
        chunk_rows=3,  # several statements
    )
    assert inserted == n
    label, value, count, flag = fetch_columns(odd_table(), "label", "value", "count", "flag", order_by="row")
    assert list(label) == [None if i == 5 else t for i, t in enumerate(ODD_TEXTS)]
    want = np.where(np.isfinite(values), values, np.nan)  # non-finite numbers are stored as NULL
    np.testing.assert_array_equal(value, want)
    assert list(count) == [42] * n and [bool(f) for f in flag] == [i % 2 == 0 for i in range(n)]
    assert list(odd_table().to_arrays("doc", order_by="row")) == docs


def test_a_failed_bulk_insert_is_reported_and_rolled_back(odd_table):
    import datajoint as dj

    from schemas.bulk import insert_columns

    conn = odd_table.connection
    insert_columns(odd_table, dict(row=np.array([1]), count=np.array([1]), flag=np.array([True])))
    with pytest.raises(dj.errors.DuplicateError):
        insert_columns(odd_table, dict(row=np.array([2, 1]), count=np.array([1, 1]), flag=np.array([True, False])))
    assert len(odd_table()) == 1
    conn.start_transaction()
    insert_columns(odd_table, dict(row=np.array([3, 4]), count=np.array([1, 1]), flag=np.array([True, False])))
    assert len(odd_table()) == 3
    conn.cancel_transaction()
    assert list(odd_table().to_arrays("row")) == [1]
