"""Fast paths for the many small rows of per-ROI part tables.

DataJoint converts every value of every row through its codec machinery,
which costs ~70 µs per row, and the database driver escapes every value
again (~30 µs per row) — most of ``populate()`` for a 10,000-ROI recording.
Per-ROI rows here hold only numbers, short strings and small JSON values, so
they go to the server as multi-row ``INSERT`` statements whose literals are
rendered here from whole columns: numbers with ``repr`` (NaN and inf become
NULL), booleans as TRUE/FALSE, and each distinct string once through the
backend adapter's ``quote_string`` (which is also how DataJoint quotes
literals). Identifiers are quoted by the adapter too, so the SQL stays
backend-neutral. Columns come back from a plain ``SELECT``. Any column that
needs a codec (blobs, object-store arrays, UUIDs) falls back to DataJoint's
``insert``/``to_arrays``.

Statements are cut at :data:`~schemas.config.INSERT_CHUNK_ROWS` rows or
:data:`~schemas.config.INSERT_CHUNK_BYTES` (at most half the server's
``max_allowed_packet``), whichever comes first. On MySQL/MariaDB the server
looks up every foreign key of every row it inserts, about half its time for
these tables; :func:`parents_present` lets a ``make()`` that has checked the
parents itself skip that (see its docstring for when that is safe).

On PostgreSQL the rows go as ``COPY ... FROM STDIN`` in text format instead
(one per chunk, fields escaped for that format: backslash, tab, newline and
carriage return; NULL as ``\\N``), which the server takes in about 60 % of
the time of the same rows as ``INSERT`` statements; every foreign key is
still checked. Errors are translated as DataJoint translates its own.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from .config import INSERT_CHUNK_BYTES, INSERT_CHUNK_ROWS


def _plain(table, names) -> bool:
    heading = table.heading
    conn_config = table.connection._config
    if getattr(getattr(conn_config, "provenance", None), "capture", False):
        return False  # DataJoint must attach its provenance column
    for name in names:
        attr = heading[name]
        if attr.codec is not None or attr.is_blob or attr.uuid:
            return False
    return True


def _as_list(values) -> list:
    if isinstance(values, LazyJsonColumn):
        values = JsonTextColumn(values.render(0, len(values)))
    if isinstance(values, JsonTextColumn):
        # DataJoint's insert encodes JSON values itself
        return [None if t is None else json.loads(t) for t in values]
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        obj = arr.astype(object)
        obj[~np.isfinite(arr)] = None  # NaN and inf become NULL
        return obj.tolist()
    if arr.dtype.kind == "b":
        return [bool(v) for v in arr.tolist()]
    return arr.tolist()


class JsonText(str):
    """JSON already rendered as text, inserted as it is into a JSON column."""

    @classmethod
    def wrap(cls, texts) -> JsonTextColumn:
        """A whole column of rendered JSON texts (None: NULL), without a JsonText object per row."""
        return JsonTextColumn(texts)

    @classmethod
    def lazy(cls, n: int, render) -> LazyJsonColumn:
        """A column of ``n`` JSON texts that ``render(start, stop)`` returns a chunk at a time (a list)."""
        return LazyJsonColumn(n, render)


class JsonTextColumn(list):
    """A column of JSON already rendered as text (None for NULL), inserted as it is."""


class LazyJsonColumn:
    """A column of JSON texts rendered when its rows are inserted, by the thread that renders the next statement."""

    def __init__(self, n: int, render):
        self._n = n
        self.render = render

    def __len__(self) -> int:
        return self._n


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_literal(value):
    """JSON text of ``value`` with non-finite numbers as null (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ",".join(_json_literal(v) for v in np.asarray(value, dtype=object).tolist()) + "]"
    return json.dumps(value, default=_json_default)


# characters any of the adapters' quote_string would escape (pymysql escapes all of these, PostgreSQL only ')
_NEEDS_ESCAPE = re.compile(r"""[\\'"\x00\n\r\x1a]""")
# characters the text format of PostgreSQL's COPY gives a meaning to inside a field
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

_DJ_LOG = logging.getLogger("datajoint")


@dataclass(frozen=True)
class _Form:
    """How values are written: SQL literals of an INSERT, or fields of COPY's text format."""

    separator: str  # between the values of a row
    null: str
    true: str
    false: str
    text: Callable[[str], str]  # one string
    texts: Callable[[list], list]  # many strings, none of them None (one check for characters to escape)


def _sql_form(quote) -> _Form:
    """SQL literals, strings quoted by the adapter's ``quote_string``."""

    def texts(values: list) -> list[str]:
        if not _NEEDS_ESCAPE.search("".join(values)):
            return ["'" + t + "'" for t in values]
        return [quote(t) for t in values]

    return _Form(",", "NULL", "TRUE", "FALSE", quote, texts)


def _copy_text(text: str) -> str:
    """``text`` as a field of COPY's text format."""
    return text.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(text) else text


_COPY_FORM = _Form(
    "\t",
    "\\N",
    "t",
    "f",
    _copy_text,
    lambda values: list(values) if not _COPY_SPECIAL.search("".join(values)) else [_copy_text(t) for t in values],
)


def _literals(values, attr, form: _Form) -> list[str]:
    """One column written in ``form`` (NULL for None/NaN/inf)."""
    if attr.json:
        rendered = isinstance(values, JsonTextColumn)  # JSON texts rendered by the caller
        if rendered and None not in values:
            return form.texts(values)
        cache = {}
        out = []
        for v in values:
            if v is None:
                out.append(form.null)
                continue
            text = v if rendered or isinstance(v, JsonText) else _json_literal(v)
            if text not in cache:
                cache[text] = form.text(text)
            out.append(cache[text])
        return out
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        out = list(map(repr, arr.astype(np.float64, copy=False).tolist()))
        finite = np.isfinite(arr)
        if not finite.all():
            for i in np.flatnonzero(~finite).tolist():
                out[i] = form.null
        return out
    if arr.dtype.kind in "iu":
        return list(map(str, arr.tolist()))
    if arr.dtype.kind == "b":
        return [form.true if v else form.false for v in arr.tolist()]
    cache = {}
    out = []
    for v in arr.tolist():
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append(form.null)
        elif isinstance(v, bool):
            out.append(form.true if v else form.false)
        elif isinstance(v, (int, float)):
            out.append(repr(v))
        else:
            key = str(v)
            if key not in cache:
                cache[key] = form.text(key)
            out.append(cache[key])
    return out


def _copy_cursor(connection):
    """A cursor that can ``copy_expert`` (psycopg2) on the connection's own session, or None."""
    if connection.adapter.backend != "postgresql":
        return None
    raw = getattr(connection, "_conn", None)
    cursor = raw.cursor() if raw is not None and hasattr(raw, "cursor") else None
    return cursor if hasattr(cursor, "copy_expert") else None


def _max_statement_bytes(connection) -> int:
    """Longest INSERT to send: INSERT_CHUNK_BYTES, or half the server's max_allowed_packet if that is less."""
    cached = getattr(connection, "_tectum_max_statement", None)
    if cached is None:
        cached = INSERT_CHUNK_BYTES
        if connection.adapter.backend == "mysql":
            (packet,) = connection.query("SELECT @@max_allowed_packet").fetchone()
            cached = max(64 * 1024, min(cached, int(packet) // 2))
        connection._tectum_max_statement = cached
    return cached


@contextmanager
def parents_present(connection, ok: bool = True):
    """Skip the server's foreign-key lookups for the inserts inside (MySQL/MariaDB; elsewhere nothing changes).

    Only for a ``make()``'s own part rows whose parents it knows exist: the
    master row it inserted just before in the same transaction, and rows it
    has checked its ids against (ROI ids within the recording's ``n_rois``,
    regressor names as stored). The parents stay locked: the master's insert
    and the recording's ``LOCK IN SHARE MODE`` hold them until the
    transaction ends. ``ok=False`` (the caller's check failed) leaves the
    checks on, so the server reports the bad row. The session setting is
    restored on the way out, also after an error.
    """
    if not ok or connection.adapter.backend != "mysql":
        yield
        return
    (before,) = connection.query("SELECT @@SESSION.foreign_key_checks").fetchone()
    connection.query("SET SESSION foreign_key_checks = 0")
    try:
        yield
    finally:
        connection.query(f"SET SESSION foreign_key_checks = {int(before)}")


def insert_columns(table, columns: dict, constants: dict | None = None, *, chunk_rows: int = INSERT_CHUNK_ROWS) -> int:
    """Insert one row per element of equally long column arrays.

    Parameters
    ----------
    table : datajoint Table
        Target table (inside ``make()`` for computed tables).
    columns : dict of str -> array-like
        Values that vary per row (JSON columns: one Python value per row).
    constants : dict, optional
        Values shared by every row (typically the recording's key).
    chunk_rows : int
        At most this many rows per statement; a statement is also cut before
        it exceeds :func:`_max_statement_bytes` (half the server's
        ``max_allowed_packet`` on MySQL/MariaDB).

    Returns
    -------
    int
        Rows inserted.
    """
    if isinstance(table, type):
        table = table()  # a table class was passed
    constants = dict(constants or {})
    const_names = [n for n in constants if n not in columns]
    names = const_names + list(columns)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError("insert_columns: columns differ in length")
    n = lengths.pop() if lengths else 0
    if n == 0:
        return 0
    if not _plain(table, names):
        lists = {name: _as_list(values) for name, values in columns.items()}
        cols = [[constants[name]] * n if name not in lists else lists[name] for name in names]
        rows = [dict(zip(names, vals)) for vals in zip(*cols)]
        table.insert(rows, chunk_size=chunk_rows)
        return n
    connection = table.connection
    adapter = connection.adapter
    attrs = {name: table.heading[name] for name in names}  # read here: the heading may query the server
    fields = ",".join(adapter.quote_identifier(name) for name in names)
    cursor = _copy_cursor(connection)
    form = _COPY_FORM if cursor is not None else _sql_form(adapter.quote_string)
    shared = [repeat(_literals([constants[name]], attrs[name], form)[0]) for name in const_names]

    def render(start: int, stop: int) -> list[str]:
        """The rows ``start:stop``, each its values written in ``form`` and joined (no parentheses, no newline)."""
        values = (_literals(_rows(v, start, stop), attrs[name], form) for name, v in columns.items())
        return list(map(form.separator.join, zip(*shared, *values)))

    if cursor is not None:
        statement = f"COPY {table.full_table_name} ({fields}) FROM STDIN"

        def send(rows: list[str]) -> None:
            from datajoint.connection import translate_query_error

            _DJ_LOG.debug("Executing SQL:" + statement)  # as DataJoint logs its own statements
            try:
                cursor.copy_expert(statement, io.StringIO("\n".join(rows) + "\n"))
            except Exception as err:  # as DataJoint reports its own queries' errors
                raise translate_query_error(err, statement, adapter) from err

    else:
        head = f"INSERT INTO {table.full_table_name} ({fields}) VALUES ("
        budget = _max_statement_bytes(connection) - len(head) - 2

        def send(rows: list[str]) -> None:
            for sql in _statements(head, rows, budget):
                # no arguments: the literals are rendered above, so no '%' is interpreted by the driver
                connection.query(sql, args=None)

    # The next chunk is rendered in a thread while the server inserts this one (the waiting thread lets go of the
    # GIL), so most of the rendering costs no time; only this thread uses the connection.
    bounds = [(start, min(n, start + chunk_rows)) for start in range(0, n, chunk_rows)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(render, *bounds[0])
        for i in range(len(bounds)):
            rows = pending.result()
            if i + 1 < len(bounds):
                pending = pool.submit(render, *bounds[i + 1])
            send(rows)
    return n


def _rows(values, start: int, stop: int):
    """Elements ``start:stop`` of a column, keeping its kind."""
    if isinstance(values, LazyJsonColumn):
        return JsonTextColumn(values.render(start, stop))
    part = values[start:stop]
    return JsonTextColumn(part) if isinstance(values, JsonTextColumn) else part


def _statements(head: str, rows: list[str], budget: int):
    """INSERT statements of ``rows``, each as many rows as fit ``budget`` bytes (at least one)."""
    lengths = np.cumsum(np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)) + 3)  # "),(" between rows
    start = 0
    while start < len(rows):
        offset = lengths[start - 1] if start else 0
        stop = start + max(1, int(np.searchsorted(lengths[start:], budget + offset, side="right")))
        yield head + "),(".join(rows[start:stop]) + ")"
        start = stop


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
        kind = _column_kind(heading[a])
        if kind == "other":
            out.append(np.array(values, dtype=object))
        elif kind == "float" or any(v is None for v in values):
            out.append(np.array([np.nan if v is None else float(v) for v in values], dtype=float))
        else:
            out.append(np.array(values))
    return tuple(out)


def _column_kind(attr) -> str:
    """'float', 'integer' or 'other' for a column's SQL type (PostgreSQL's "double precision" included)."""
    sql_type = attr.type.lower()
    if sql_type.startswith(("float", "double", "real", "numeric", "decimal")):
        return "float"
    if attr.numeric or sql_type.startswith(("int", "smallint", "bigint", "tinyint", "mediumint")):
        return "integer"
    return "other"
