"""Fast paths for the many small rows of per-ROI part tables.

DataJoint converts every value of every row through its codec machinery,
which costs ~70 µs per row — most of ``populate()`` for a 10,000-ROI
recording. Per-ROI rows here hold only plain numbers and short strings, so
they can go to the server as multi-row ``INSERT`` statements built from whole
columns, and come back as columns from a plain ``SELECT``. The SQL is
generated with DataJoint's own adapter (identifier quoting) and query builder,
so it stays backend-neutral; any table or column that needs a codec falls back
to DataJoint's ``insert``/``to_arrays``.
"""

from __future__ import annotations

import numpy as np

from .config import INSERT_CHUNK_ROWS


def _plain(table, names) -> bool:
    heading = table.heading
    conn_config = table.connection._config
    if getattr(getattr(conn_config, "provenance", None), "capture", False):
        return False  # DataJoint must attach its provenance column
    for name in names:
        attr = heading[name]
        if attr.codec is not None or attr.is_blob or attr.json or attr.uuid:
            return False
    return True


def _as_list(values) -> list:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        obj = arr.astype(object)
        obj[~np.isfinite(arr)] = None  # NaN and inf become NULL
        return obj.tolist()
    if arr.dtype.kind == "b":
        return [bool(v) for v in arr.tolist()]
    return arr.tolist()


def insert_columns(table, columns: dict, constants: dict | None = None, *, chunk_rows: int = INSERT_CHUNK_ROWS) -> int:
    """Insert one row per element of equally long column arrays.

    Parameters
    ----------
    table : datajoint Table
        Target table (inside ``make()`` for computed tables).
    columns : dict of str -> array-like
        Values that vary per row.
    constants : dict, optional
        Values shared by every row (typically the recording's key).
    chunk_rows : int
        Rows per statement; keeps statements well below MariaDB's default
        16 MB ``max_allowed_packet``.

    Returns
    -------
    int
        Rows inserted.
    """
    if isinstance(table, type):
        table = table()  # a table class was passed
    constants = dict(constants or {})
    names = [n for n in constants if n not in columns] + list(columns)
    lists = {name: _as_list(values) for name, values in columns.items()}
    n = len(next(iter(lists.values()))) if lists else 0
    if any(len(v) != n for v in lists.values()):
        raise ValueError("insert_columns: columns differ in length")
    if n == 0:
        return 0
    cols = [[constants[name]] * n if name not in lists else lists[name] for name in names]
    if not _plain(table, names):
        rows = [dict(zip(names, vals)) for vals in zip(*cols)]
        table.insert(rows, chunk_size=chunk_rows)
        return n
    quote = table.connection.adapter.quote_identifier
    fields = ",".join(quote(name) for name in names)
    row_ph = "(" + ",".join(["%s"] * len(names)) + ")"
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        args = [v for row in zip(*(c[start:stop] for c in cols)) for v in row]
        sql = f"INSERT INTO {table.full_table_name} ({fields}) VALUES " + ",".join([row_ph] * (stop - start))
        table.connection.query(sql, args=args)
    return n


def fetch_columns(expr, *attrs, order_by=None) -> tuple[np.ndarray, ...]:
    """Columns of plain attributes as NumPy arrays (NULL -> NaN for numbers).

    Equivalent to ``expr.to_arrays(*attrs, order_by=...)`` for attributes
    without codecs, without the per-row decoding.
    """
    heading = expr.heading
    if not all(heading[a].codec is None and not heading[a].is_blob and not heading[a].json for a in attrs):
        return expr.to_arrays(*attrs, order_by=order_by)
    quote = expr.connection.adapter.quote_identifier
    # select exactly the requested columns, in order, from DataJoint's own query
    sql = f"SELECT {','.join(quote(a) for a in attrs)} FROM ({expr.make_sql()}) AS _q"
    if order_by:
        order = [order_by] if isinstance(order_by, str) else list(order_by)
        sql += " ORDER BY " + ",".join(quote(o) for o in order)
    rows = expr.connection.query(sql).fetchall()
    out = []
    for i, a in enumerate(attrs):
        values = [r[i] for r in rows]
        if not heading[a].numeric:
            out.append(np.array(values, dtype=object))
        elif any(v is None for v in values) or heading[a].type.lower().startswith(("float", "double", "real")):
            out.append(np.array([np.nan if v is None else float(v) for v in values], dtype=float))
        else:
            out.append(np.array(values))
    return tuple(out)
