"""A parsed restriction bound to DataJoint tables: names checked, values typed, SQL rendered with the backend's quoting."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import datajoint as dj

from .parse import NUMBER, parse
from .tree import (
    And,
    Attr,
    Between,
    Cmp,
    In,
    IsNull,
    Like,
    Lit,
    Not,
    Operand,
    Or,
    Pair,
    Restriction,
    RestrictionError,
    Truth,
    error,
)

__all__ = ["restrict", "key_restriction", "KeyRestriction", "allowed_names"]


def _kind(attr) -> str:
    """What an attribute can be compared with: number, bool, text, time, any, or unsupported."""
    if attr.is_blob or attr.codec is not None or attr.json or attr.uuid or getattr(attr, "is_hidden", False):
        return "unsupported"
    core = (attr.original_type or "").lower()
    sql = (attr.type or "").lower()
    if core == "bool" or sql == "boolean":
        return "bool"
    if attr.attribute_expression is not None or sql == "expression":
        return "any"
    for t in (core, sql):
        if re.match(r"(tiny|small|medium|big)?int|integer|float|double|real|decimal|numeric|uint|serial", t):
            return "number"
        if re.match(r"varchar|char|text|enum|character|string|longtext|mediumtext|tinytext", t):
            return "text"
        if re.match(r"date|time|timestamp", t):
            return "time"
    return "any"


@dataclass
class _Binder:
    text: str
    kinds: dict  # name -> kind
    quote: callable

    def ident(self, name: str) -> str:
        return self.quote(name)

    def literal(self, lit: Lit, kind: str, name: str) -> str:
        """Render ``lit`` for comparison with attribute ``name`` of ``kind``, refusing mismatched types."""
        if kind == "bool":
            if lit.kind == "bool" or (lit.kind == "number" and lit.value in (0, 1)):
                return "TRUE" if lit.value else "FALSE"
            raise error(self.text, f"{name} is true/false; compare it with TRUE, FALSE, 1 or 0, not {lit.source}")
        if kind == "number":
            if lit.kind != "number":
                raise error(self.text, f"{name} is a number; compare it with a number, not {lit.source}")
            return repr(lit.value) if isinstance(lit.value, float) else str(lit.value)
        if kind in ("text", "time"):
            if lit.kind != "text":
                what = "text" if kind == "text" else "a date/time"
                raise error(self.text, f"{name} is {what}; put the value in single quotes: {name} = '{lit.source}'")
            return "'" + str(lit.value).replace("'", "''") + "'"
        # of unknown type: render as written
        if lit.kind == "text":
            return "'" + str(lit.value).replace("'", "''") + "'"
        if lit.kind == "bool":
            return "TRUE" if lit.value else "FALSE"
        return str(lit.value)

    def attr_kind(self, operand: Operand) -> str:
        return self.kinds[operand.name]

    def render(self, node) -> str:
        if isinstance(node, And):
            return " AND ".join(f"({self.render(c)})" for c in node.children)
        if isinstance(node, Or):
            return " OR ".join(f"({self.render(c)})" for c in node.children)
        if isinstance(node, Not):
            return f"NOT ({self.render(node.child)})"
        if isinstance(node, Pair):
            return self.pair(node)
        if isinstance(node, Cmp):
            return self.compare(node)
        if isinstance(node, In):
            attr = self.need_attr(node.operand, "IN")
            kind = self.attr_kind(attr)
            if kind == "bool":
                raise error(self.text, f"{attr.name} is true/false; compare it with = TRUE or = FALSE")
            values = ", ".join(self.literal(v, kind, attr.name) for v in node.values)
            return f"{self.ident(attr.name)} {'NOT ' if node.negate else ''}IN ({values})"
        if isinstance(node, Between):
            attr = self.need_attr(node.operand, "BETWEEN")
            kind = self.attr_kind(attr)
            if kind not in ("number", "time", "any"):
                raise error(self.text, f"BETWEEN needs a number or a date/time; {attr.name} is {kind}")
            low, high = (self.side(v, kind, attr.name) for v in (node.low, node.high))
            return f"{self.ident(attr.name)} {'NOT ' if node.negate else ''}BETWEEN {low} AND {high}"
        if isinstance(node, Like):
            attr = self.need_attr(node.operand, "LIKE")
            if self.attr_kind(attr) not in ("text", "any"):
                raise error(self.text, f"LIKE compares text; {attr.name} is {self.attr_kind(attr)}")
            return f"{self.ident(attr.name)} {'NOT ' if node.negate else ''}LIKE {self.literal(node.pattern, 'text', attr.name)}"
        if isinstance(node, IsNull):
            attr = self.need_attr(node.operand, "IS NULL")
            return f"{self.ident(attr.name)} IS {'NOT ' if node.negate else ''}NULL"
        if isinstance(node, Truth):
            if isinstance(node.operand, Lit):
                if node.operand.kind == "bool":
                    return "1 = 1" if node.operand.value else "1 = 0"
                raise error(self.text, f"{node.operand.source} on its own is not a condition")
            kind = self.attr_kind(node.operand)
            if kind != "bool":
                raise error(
                    self.text,
                    f"{node.operand.name} on its own is not a condition (it is {kind}, "
                    f"not true/false); compare it, e.g. {node.operand.name} = ...",
                )
            return f"{self.ident(node.operand.name)} = TRUE"
        raise AssertionError(node)

    def need_attr(self, operand: Operand, what: str) -> Attr:
        if not isinstance(operand, Attr):
            raise error(self.text, f"{what} needs an attribute on its left, not {operand.source}")
        return operand

    def side(self, operand: Operand, kind: str, name: str) -> str:
        if isinstance(operand, Attr):
            other = self.attr_kind(operand)
            if other != kind and "any" not in (kind, other):
                raise error(self.text, f"{name} ({kind}) cannot be compared with {operand.name} ({other})")
            return self.ident(operand.name)
        return self.literal(operand, kind, name)

    def compare(self, node: Cmp) -> str:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Lit) and isinstance(right, Lit):
            raise error(self.text, f"{left.source} {op} {right.source} compares two values; name an attribute")
        if isinstance(left, Lit):  # 0.2 < r2 -> r2 > 0.2
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        kind = self.attr_kind(left)
        if kind == "bool" and op not in ("=", "<>"):
            raise error(self.text, f"{left.name} is true/false; use = or != with it")
        return f"{self.ident(left.name)} {op} {self.side(right, kind, left.name)}"

    def pair(self, pair: Pair) -> str:
        kind, name, raw = self.kinds[pair.name], pair.name, pair.value
        if kind == "number":
            if not NUMBER.fullmatch(raw[1:] if raw.startswith("-") else raw):
                raise error(self.text, f"{name} is a number, not {raw!r}")
            value = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
            lit = Lit("number", value, raw)
        elif kind == "bool":
            truth = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
            if truth is None:
                raise error(self.text, f"{name} is true/false, not {raw!r} (use true, false, 1 or 0)")
            lit = Lit("bool", truth, raw)
        else:
            if "\\" in raw:
                raise error(self.text, "backslashes in text values are not supported")
            lit = Lit("text", raw, repr(raw))
        return f"{self.ident(name)} = {self.literal(lit, kind, name)}"


def _headings(expr, allowed_extra) -> list[tuple[object, dict]]:
    """``[(table, {name: kind})]`` for ``expr`` then each extra table, as restrictable names."""
    out = []
    for table in (expr, *allowed_extra):
        table = table() if isinstance(table, type) else table
        out.append((table, {name: _kind(table.heading.attributes[name]) for name in table.heading.names}))
    return out


def allowed_names(expr, allowed_extra=()) -> list[str]:
    """Every attribute name a restriction of ``expr`` may use (``expr``'s first, then the extras')."""
    names: dict[str, None] = {}
    for _, kinds in _headings(expr, allowed_extra):
        names.update((n, None) for n, kind in kinds.items() if kind != "unsupported")
    return list(names)


def _compared_names(node, out: set) -> None:
    """Names on the right of a comparison (``fish = F1``): probably text that lacks its quotes."""
    if isinstance(node, (And, Or)):
        for child in node.children:
            _compared_names(child, out)
    elif isinstance(node, Not):
        _compared_names(node.child, out)
    elif isinstance(node, Cmp) and isinstance(node.right, Attr):
        out.add(node.right.name)


def _unknown(restriction: Restriction, name: str, allowed: list[str]) -> RestrictionError:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    compared: set = set()
    _compared_names(restriction.tree, compared)
    if name in compared and not close:
        hint = f"; if it is a value, put it in single quotes: '{name}'"
    return error(restriction.text, f"{name} is not an attribute here{hint} (allowed: {', '.join(allowed)})")


def restrict(expr, text, *, allowed_extra=()):
    """Restrict a DataJoint table or query expression by a command-line restriction.

    Parameters
    ----------
    expr : DataJoint table (class or instance) or query expression
        What is restricted; its attributes may be named.
    text : str or Restriction or None
        ``name=value`` pairs or a SQL condition (see the module
        docstring); ``None`` or blank restricts nothing.
    allowed_extra : sequence of tables or query expressions
        Further tables whose attributes the restriction may name, e.g.
        :func:`recording_tables` for ``genotype`` or ``region``. When it
        names one of theirs, ``expr`` is restricted to the rows whose key
        matches a row of ``expr`` joined with them that satisfies the
        condition. Each must join with ``expr`` on its primary key.

    Returns
    -------
    DataJoint query expression
        ``expr`` restricted by ONE parenthesised predicate, rendered from
        the parse tree with the backend's quoting.

    Raises
    ------
    RestrictionError
        Bad syntax, an attribute neither ``expr`` nor ``allowed_extra`` has
        (listing the allowed names and the closest one), a value of the
        wrong type, or an attribute that cannot be compared (json, blobs).

    Examples
    --------
    >>> restrict(analysis.Fit.Roi, "r2 > 0.2 AND paramset='default'")          # doctest: +SKIP
    >>> restrict(analysis.Fit.Roi, "genotype='wild type'", allowed_extra=recording_tables())  # doctest: +SKIP
    """
    expr = expr() if isinstance(expr, type) else expr
    restriction = parse(text)
    if not restriction:
        return expr
    headings = _headings(expr, allowed_extra)
    allowed = allowed_names(expr, allowed_extra)
    owner: dict[str, int] = {}  # name -> index of the first table that has it
    kinds: dict[str, str] = {}
    for name in restriction.names:
        for index, (_, table_kinds) in enumerate(headings):
            if name in table_kinds:
                owner[name], kinds[name] = index, table_kinds[name]
                break
        else:
            raise _unknown(restriction, name, allowed)
        if kinds[name] == "unsupported":
            raise error(
                restriction.text,
                f"{name} holds structured data (json, arrays) and cannot be "
                f"compared here; allowed: {', '.join(allowed)}",
            )
    quote = expr.connection.adapter.quote_identifier
    predicate = "(" + _Binder(restriction.text, kinds, quote).render(restriction.tree) + ")"
    extras_used = sorted({i for i in owner.values() if i > 0})
    if not extras_used:
        return expr & predicate

    # join expr's key (and the attributes of expr the condition names) with the extras' named attributes,
    # apply the predicate once there, and keep the rows of expr whose key is in the result
    def secondary(table, index):
        return [n for n, i in owner.items() if i == index and n not in table.primary_key]

    joined = expr.proj(*secondary(expr, 0))
    for index in extras_used:
        table = headings[index][0]
        joined = joined * table.proj(*secondary(table, index))
    return expr & (joined & predicate).proj()


class KeyRestriction(dj.AndList):
    """A DataJoint restriction (usable with ``&`` on any table with the key) that prints as the user's text.

    Made by :func:`key_restriction`; e.g. handed to ``populate()`` or a
    report that shows what it was restricted by.
    """

    def __init__(self, keys, text: str):
        super().__init__([keys])
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"KeyRestriction({self.text!r})"


def key_restriction(expr, text, *, allowed_extra=()) -> KeyRestriction | None:
    """The primary keys of ``expr`` matching ``text``, as a restriction for other tables; None if ``text`` is blank.

    Same checks as :func:`restrict`. ``populate`` uses it with
    ``analysis.AnalysisTask`` so a restriction may name the recording's and
    the fish's attributes, although the computed tables' key sources do not
    have them.
    """
    restriction = parse(text)
    if not restriction:
        return None
    return KeyRestriction(restrict(expr, restriction, allowed_extra=allowed_extra).proj(), restriction.text)
