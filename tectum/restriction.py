"""Strict restrictions from the command line: ``fish=F1,paramset=default`` or a small SQL condition.

DataJoint silently ignores dict keys that are not attributes of the table,
and hands a string condition to the server as it is. A typed restriction must
do neither: ``fsh=Z1`` is a typo, not "everything". So a restriction is parsed
here into a small tree, every name in it is checked against the attributes
the command offers, and the tree is rendered again as SQL with the backend's
identifier quoting and literal syntax. What is accepted:

* ``name=value`` pairs separated by commas (all must hold). The value is
  taken as text (quotes around it optional) and converted to the
  attribute's type: ``roi=3``, ``selected=true``, ``genotype=wild type``.
* a SQL condition made of comparisons (``= != <> < <= > >=``) between an
  attribute and a literal or another attribute, ``[NOT] IN (...)``,
  ``[NOT] BETWEEN ... AND ...``, ``[NOT] LIKE '...'``, ``IS [NOT] NULL``, a
  boolean attribute on its own, ``AND``/``OR``/``NOT`` and parentheses.
  Literals are numbers, ``'text'`` (a quote doubled inside), ``TRUE`` and
  ``FALSE``. No function calls, subqueries, arithmetic, comments or
  semicolons.

The whole restriction becomes ONE parenthesised predicate, applied to the
table whose attributes it names (joined with the other tables the command
allows, when it names theirs).

Public API
----------
:func:`parse` (text -> :class:`Restriction`, syntax only, no database),
:func:`restrict` (table + text -> restricted DataJoint expression),
:func:`key_restriction` (table + text -> its matching keys, to restrict other tables),
:func:`allowed_names`, :class:`RestrictionError`, and the tables that
commands let a restriction name besides their own: :func:`recording_tables`,
:func:`roi_tables`.

Examples
--------
>>> parse("fish=F1, paramset=default").names
('fish', 'paramset')
>>> parse("r2 > 0.2 AND roi_class IN ('prey', 'looming')").names
('r2', 'roi_class')
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, Union

import datajoint as dj

from schemas import acquisition, analysis

from .errors import TectumError

__all__ = [
    "RestrictionError",
    "Restriction",
    "parse",
    "restrict",
    "key_restriction",
    "KeyRestriction",
    "allowed_names",
    "recording_tables",
    "roi_tables",
]


class RestrictionError(TectumError, ValueError):
    """A restriction cannot be used: bad syntax, an unknown attribute or a value of the wrong type."""


# --------------------------------------------------------------------------- the tree


class Attr(NamedTuple):
    name: str


class Lit(NamedTuple):
    kind: str          # "number", "text" or "bool"
    value: object
    source: str        # as written, for messages


Operand = Union[Attr, Lit]


class Cmp(NamedTuple):
    op: str            # = <> < <= > >=
    left: Operand
    right: Operand


class In(NamedTuple):
    negate: bool
    operand: Operand
    values: tuple


class Between(NamedTuple):
    negate: bool
    operand: Operand
    low: Operand
    high: Operand


class Like(NamedTuple):
    negate: bool
    operand: Operand
    pattern: Lit


class IsNull(NamedTuple):
    negate: bool
    operand: Operand


class Truth(NamedTuple):
    """A boolean attribute on its own (``selected``)."""

    operand: Operand


class Not(NamedTuple):
    child: object


class And(NamedTuple):
    children: tuple


class Or(NamedTuple):
    children: tuple


class Pair(NamedTuple):
    """``name=value`` from the pairs form: the value is converted to the attribute's type when bound."""

    name: str
    value: str


@dataclass(frozen=True)
class Restriction:
    """A parsed restriction: ``tree`` is None when nothing is restricted."""

    text: str
    tree: object = None

    @property
    def names(self) -> tuple[str, ...]:
        """The attribute names it uses, in order of first appearance."""
        found: list[str] = []
        _collect_names(self.tree, found)
        return tuple(dict.fromkeys(found))

    def __bool__(self) -> bool:
        return self.tree is not None

    def __str__(self) -> str:
        return self.text


def _collect_names(node, out: list) -> None:
    if node is None or isinstance(node, Lit):
        return
    if isinstance(node, Attr):
        out.append(node.name)
    elif isinstance(node, Pair):
        out.append(node.name)
    elif isinstance(node, (And, Or)):
        for child in node.children:
            _collect_names(child, out)
    elif isinstance(node, Not):
        _collect_names(node.child, out)
    elif isinstance(node, In):
        _collect_names(node.operand, out)
    else:  # Cmp, Between, Like, IsNull, Truth: operands are fields after the first
        for value in node:
            if isinstance(value, (Attr, Lit)):
                _collect_names(value, out)


# --------------------------------------------------------------------------- tokens

_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL", "TRUE", "FALSE"}
# words that mean the text is trying to be more than a condition
_FORBIDDEN_WORDS = {
    "SELECT", "FROM", "WHERE", "UNION", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "EXISTS",
    "CASE", "WHEN", "THEN", "ELSE", "END", "ESCAPE", "INTO", "EXEC", "EXECUTE", "CALL", "GRANT", "SET",
}
_COMPARISONS = ("<=", ">=", "<>", "!=", "=", "<", ">")
_ALLOWED_SUMMARY = (
    "a restriction is name=value pairs separated by commas, or a condition of comparisons "
    "(= != < <= > >=), IN (...), BETWEEN ... AND ..., LIKE '...', IS [NOT] NULL, AND/OR/NOT and parentheses"
)


class Token(NamedTuple):
    kind: str          # "ident", "keyword", "number", "text", "op", "(", ")", ",", "end"
    value: object
    pos: int


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _error(text: str, message: str) -> RestrictionError:
    return RestrictionError(f"restriction {text!r}: {message}")


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("--", i) or text.startswith("/*", i) or c == "#":
            raise _error(text, "comments are not allowed")
        if c == ";":
            raise _error(text, "';' is not allowed: give one condition")
        if c == "'":
            j, chars = i + 1, []
            while True:
                if j >= n:
                    raise _error(text, f"the text starting at position {i + 1} has no closing quote")
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        chars.append("'")
                        j += 2
                        continue
                    break
                chars.append(text[j])
                j += 1
            value = "".join(chars)
            if "\\" in value:
                raise _error(text, "backslashes in text values are not supported")
            tokens.append(Token("text", value, i))
            i = j + 1
            continue
        if c == '"':
            raise _error(text, "use single quotes around text values ('F1'); attribute names need no quotes")
        if c == "`":
            j = text.find("`", i + 1)
            name = text[i + 1:j] if j > 0 else ""
            if j < 0 or not _IDENT.fullmatch(name):
                raise _error(text, f"bad quoted name at position {i + 1}")
            tokens.append(Token("ident", name, i))
            i = j + 1
            continue
        m = _NUMBER.match(text, i)
        if m and (c.isdigit() or c == "."):
            end = m.end()
            if end < n and (text[end].isalpha() or text[end] == "_"):
                raise _error(text, f"bad number {text[i:end + 1]!r}")
            tokens.append(Token("number", m.group(0), i))
            i = end
            continue
        m = _IDENT.match(text, i)
        if m:
            word = m.group(0)
            upper = word.upper()
            if upper in _KEYWORDS:
                tokens.append(Token("keyword", upper, i))
            elif upper in _FORBIDDEN_WORDS:
                what = "subqueries" if upper in ("SELECT", "FROM", "WHERE", "UNION", "EXISTS") else "statements"
                raise _error(text, f"{word} is not allowed ({what} are not part of a condition); {_ALLOWED_SUMMARY}")
            else:
                tokens.append(Token("ident", word, i))
            i = m.end()
            continue
        op = next((o for o in _COMPARISONS if text.startswith(o, i)), None)
        if op:
            tokens.append(Token("op", "<>" if op == "!=" else op, i))
            i += len(op)
            continue
        if c in "(),":
            tokens.append(Token(c, c, i))
            i += 1
            continue
        if c == "-":  # a negative number, nothing else
            m = _NUMBER.match(text, i + 1)
            if m and (text[i + 1].isdigit() or text[i + 1] == "."):
                tokens.append(Token("number", "-" + m.group(0), i))
                i = m.end()
                continue
        raise _error(text, f"{c!r} at position {i + 1} is not allowed (no arithmetic or other operators); "
                     f"{_ALLOWED_SUMMARY}")
    tokens.append(Token("end", None, n))
    return tokens


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the tokens: or_expr := and_expr (OR and_expr)* and so on down."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_keyword(self, *words) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.value in words

    def expect(self, kind: str, value=None) -> Token:
        token = self.peek()
        if token.kind != kind or (value is not None and token.value != value):
            want = value if value is not None else {"(": "'('", ")": "')'", ",": "','"}.get(kind, kind)
            raise self.fail(f"expected {want}")
        return self.take()

    def fail(self, message: str) -> RestrictionError:
        token = self.peek()
        where = "at the end" if token.kind == "end" else f"at {self._show(token)} (position {token.pos + 1})"
        return _error(self.text, f"{message} {where}")

    def _show(self, token: Token) -> str:
        if token.kind == "text":
            return "'" + str(token.value).replace("'", "''") + "'"
        return str(token.value)

    def parse(self):
        tree = self.or_expr()
        if self.peek().kind != "end":
            token = self.peek()
            if token.kind == "ident":
                raise self.fail("expected AND or OR (to compare with text, put it in single quotes)")
            raise self.fail("expected AND, OR or the end")
        return tree

    def or_expr(self):
        children = [self.and_expr()]
        while self.is_keyword("OR"):
            self.take()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self):
        children = [self.not_expr()]
        while self.is_keyword("AND"):
            self.take()
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_expr(self):
        if self.is_keyword("NOT"):
            self.take()
            return Not(self.not_expr())
        return self.predicate()

    def predicate(self):
        token = self.peek()
        if token.kind == "(":
            self.take()
            if self.peek().kind == "keyword" or self.peek().kind in ("ident", "number", "text", "("):
                inner = self.or_expr()
            else:
                raise self.fail("expected a condition")
            self.expect(")")
            return inner
        left = self.operand()
        token = self.peek()
        if token.kind == "op":
            op = self.take().value
            if self.is_keyword("NULL"):
                raise self.fail(f"'{op} NULL' is never true; use IS NULL or IS NOT NULL")
            return Cmp(op, left, self.operand())
        negate = False
        if self.is_keyword("NOT") and self.peek(1).kind == "keyword" and self.peek(1).value in ("IN", "BETWEEN", "LIKE"):
            self.take()
            negate = True
        if self.is_keyword("IN"):
            self.take()
            self.expect("(")
            values = [self.literal("IN (...) takes literal values")]
            while self.peek().kind == ",":
                self.take()
                values.append(self.literal("IN (...) takes literal values"))
            self.expect(")")
            return In(negate, left, tuple(values))
        if self.is_keyword("BETWEEN"):
            self.take()
            low = self.operand()
            self.expect("keyword", "AND")
            return Between(negate, left, low, self.operand())
        if self.is_keyword("LIKE"):
            self.take()
            pattern = self.literal("LIKE takes a text pattern in single quotes")
            if pattern.kind != "text":
                raise _error(self.text, f"LIKE takes a text pattern in single quotes, not {pattern.source}")
            return Like(negate, left, pattern)
        if self.is_keyword("IS"):
            self.take()
            negated = False
            if self.is_keyword("NOT"):
                self.take()
                negated = True
            self.expect("keyword", "NULL")
            return IsNull(negated, left)
        # an operand on its own: a boolean attribute (checked when bound) or TRUE/FALSE
        return Truth(left)

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind == "ident":
            self.take()
            if self.peek().kind == "(":
                raise _error(self.text, f"function calls are not allowed ({token.value}(...)); {_ALLOWED_SUMMARY}")
            return Attr(token.value)
        if token.kind == "(" and self.peek(1).kind == "keyword" and self.peek(1).value == "SELECT":
            raise _error(self.text, "subqueries are not allowed")
        return self.literal("expected an attribute name or a value")

    def literal(self, what: str) -> Lit:
        token = self.peek()
        if token.kind == "number":
            self.take()
            value = float(token.value) if any(ch in token.value for ch in ".eE") else int(token.value)
            if isinstance(value, float) and not math.isfinite(value):
                raise _error(self.text, f"number {token.value} is out of range")
            return Lit("number", value, token.value)
        if token.kind == "text":
            self.take()
            return Lit("text", token.value, self._show(token))
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE"):
            self.take()
            return Lit("bool", token.value == "TRUE", token.value)
        if token.kind == "keyword" and token.value == "NULL":
            raise self.fail("NULL compares with nothing; use IS NULL or IS NOT NULL")
        if token.kind == "ident" and self.peek(1).kind == "(":
            raise _error(self.text, f"function calls are not allowed ({token.value}(...)); {_ALLOWED_SUMMARY}")
        raise self.fail(what)


# --------------------------------------------------------------------------- the pairs form

_SQLISH = re.compile(r"[=<>!()]|\b(?:and|or|not|in|like|between|is|null)\b", re.I)


def _split_top_level(text: str) -> list[str] | None:
    """Split at commas outside quotes and parentheses; None when quotes do not close."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote:
        return None
    parts.append(text[start:])
    return parts


_PAIR_NAME = re.compile(r"\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s*=(?![=<>])\s*")


def _pairs(text: str) -> list[Pair] | None:
    """The ``name=value,...`` form, or None when the text is a SQL condition.

    A value is everything up to the next comma, or a quoted string (single
    or double quotes) when it starts with a quote; an unquoted value with a
    comparison, a parenthesis or a SQL keyword in it means the text is a
    condition (``selected=1 AND paramset='default'``). A quote inside an
    unquoted value is part of it (``fish=O'Brien``).
    """
    pairs, i, n = [], 0, len(text)
    while True:
        m = _PAIR_NAME.match(text, i)
        if not m:
            return None
        name, i = m.group(1), m.end()
        if i < n and text[i] in "'\"":
            close = text.find(text[i], i + 1)
            if close < 0:
                return None
            value, i = text[i + 1:close], close + 1
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] != ",":
                return None  # 'default' AND selected=1
        else:
            comma = text.find(",", i)
            end = n if comma < 0 else comma
            value, i = text[i:end].strip(), end
            if _SQLISH.search(value):
                return None
        pairs.append(Pair(name, value))
        if i >= n:
            return pairs
        i += 1  # the comma


def parse(text) -> Restriction:
    """Parse a command-line restriction (syntax only; names are checked by :func:`restrict`).

    Parameters
    ----------
    text : str or dict or None or Restriction
        ``None`` or blank: no restriction. A dict (a DataJoint key) is taken
        as ``name=value`` pairs, checked as strictly as text.

    Raises
    ------
    RestrictionError
        For anything outside the accepted forms, in one line that says what.
    """
    if isinstance(text, Restriction):
        return text
    if isinstance(text, Mapping):
        return _from_mapping(text)
    if text is None or not str(text).strip():
        return Restriction(text="")
    text = str(text).strip()
    pairs = _pairs(text)
    if pairs is not None:
        seen = set()
        for pair in pairs:
            if pair.name in seen:
                raise _error(text, f"{pair.name} is given twice; for either value write "
                                   f"\"{pair.name} IN ('a', 'b')\"")
            seen.add(pair.name)
        return Restriction(text=text, tree=pairs[0] if len(pairs) == 1 else And(tuple(pairs)))
    parts = _split_top_level(text)
    if parts is not None and len(parts) > 1:
        if any(not part.strip() for part in parts):
            raise _error(text, "a name=value pair is empty (two commas, or a comma at the start or end)")
        if not re.search(r"\bIN\s*\(", text, re.I):
            raise _error(text, "commas separate name=value pairs; in a condition combine with AND / OR")
    return Restriction(text=text, tree=_Parser(text).parse())


def _from_mapping(key: Mapping) -> Restriction:
    pairs = []
    for name, value in key.items():
        if value is None:
            raise RestrictionError(f"restriction {dict(key)!r}: {name} is None; use the condition '{name} IS NULL'")
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            value = "true" if value else "false"
        pairs.append(Pair(str(name), str(value)))
    if not pairs:
        return Restriction(text="")
    text = ", ".join(f"{p.name}={p.value}" for p in pairs)
    return Restriction(text=text, tree=pairs[0] if len(pairs) == 1 else And(tuple(pairs)))


# --------------------------------------------------------------------------- binding to tables


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
    kinds: dict            # name -> kind
    quote: callable

    def ident(self, name: str) -> str:
        return self.quote(name)

    def literal(self, lit: Lit, kind: str, name: str) -> str:
        """Render ``lit`` for comparison with attribute ``name`` of ``kind``, refusing mismatched types."""
        if kind == "bool":
            if lit.kind == "bool" or (lit.kind == "number" and lit.value in (0, 1)):
                return "TRUE" if lit.value else "FALSE"
            raise _error(self.text, f"{name} is true/false; compare it with TRUE, FALSE, 1 or 0, not {lit.source}")
        if kind == "number":
            if lit.kind != "number":
                raise _error(self.text, f"{name} is a number; compare it with a number, not {lit.source}")
            return repr(lit.value) if isinstance(lit.value, float) else str(lit.value)
        if kind in ("text", "time"):
            if lit.kind != "text":
                what = "text" if kind == "text" else "a date/time"
                raise _error(self.text, f"{name} is {what}; put the value in single quotes: {name} = '{lit.source}'")
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
                raise _error(self.text, f"{attr.name} is true/false; compare it with = TRUE or = FALSE")
            values = ", ".join(self.literal(v, kind, attr.name) for v in node.values)
            return f"{self.ident(attr.name)} {'NOT ' if node.negate else ''}IN ({values})"
        if isinstance(node, Between):
            attr = self.need_attr(node.operand, "BETWEEN")
            kind = self.attr_kind(attr)
            if kind not in ("number", "time", "any"):
                raise _error(self.text, f"BETWEEN needs a number or a date/time; {attr.name} is {kind}")
            low, high = (self.side(v, kind, attr.name) for v in (node.low, node.high))
            return f"{self.ident(attr.name)} {'NOT ' if node.negate else ''}BETWEEN {low} AND {high}"
        if isinstance(node, Like):
            attr = self.need_attr(node.operand, "LIKE")
            if self.attr_kind(attr) not in ("text", "any"):
                raise _error(self.text, f"LIKE compares text; {attr.name} is {self.attr_kind(attr)}")
            return f"{self.ident(attr.name)} {'NOT ' if node.negate else ''}LIKE {self.literal(node.pattern, 'text', attr.name)}"
        if isinstance(node, IsNull):
            attr = self.need_attr(node.operand, "IS NULL")
            return f"{self.ident(attr.name)} IS {'NOT ' if node.negate else ''}NULL"
        if isinstance(node, Truth):
            if isinstance(node.operand, Lit):
                if node.operand.kind == "bool":
                    return "1 = 1" if node.operand.value else "1 = 0"
                raise _error(self.text, f"{node.operand.source} on its own is not a condition")
            kind = self.attr_kind(node.operand)
            if kind != "bool":
                raise _error(self.text, f"{node.operand.name} on its own is not a condition (it is {kind}, "
                                        f"not true/false); compare it, e.g. {node.operand.name} = ...")
            return f"{self.ident(node.operand.name)} = TRUE"
        raise AssertionError(node)

    def need_attr(self, operand: Operand, what: str) -> Attr:
        if not isinstance(operand, Attr):
            raise _error(self.text, f"{what} needs an attribute on its left, not {operand.source}")
        return operand

    def side(self, operand: Operand, kind: str, name: str) -> str:
        if isinstance(operand, Attr):
            other = self.attr_kind(operand)
            if other != kind and "any" not in (kind, other):
                raise _error(self.text, f"{name} ({kind}) cannot be compared with {operand.name} ({other})")
            return self.ident(operand.name)
        return self.literal(operand, kind, name)

    def compare(self, node: Cmp) -> str:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Lit) and isinstance(right, Lit):
            raise _error(self.text, f"{left.source} {op} {right.source} compares two values; name an attribute")
        if isinstance(left, Lit):  # 0.2 < r2 -> r2 > 0.2
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        kind = self.attr_kind(left)
        if kind == "bool" and op not in ("=", "<>"):
            raise _error(self.text, f"{left.name} is true/false; use = or != with it")
        return f"{self.ident(left.name)} {op} {self.side(right, kind, left.name)}"

    def pair(self, pair: Pair) -> str:
        kind, name, raw = self.kinds[pair.name], pair.name, pair.value
        if kind == "number":
            if not _NUMBER.fullmatch(raw[1:] if raw.startswith("-") else raw):
                raise _error(self.text, f"{name} is a number, not {raw!r}")
            value = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
            lit = Lit("number", value, raw)
        elif kind == "bool":
            truth = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
            if truth is None:
                raise _error(self.text, f"{name} is true/false, not {raw!r} (use true, false, 1 or 0)")
            lit = Lit("bool", truth, raw)
        else:
            if "\\" in raw:
                raise _error(self.text, "backslashes in text values are not supported")
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
    return _error(restriction.text, f"{name} is not an attribute here{hint} (allowed: {', '.join(allowed)})")


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
    owner: dict[str, int] = {}     # name -> index of the first table that has it
    kinds: dict[str, str] = {}
    for name in restriction.names:
        for index, (_, table_kinds) in enumerate(headings):
            if name in table_kinds:
                owner[name], kinds[name] = index, table_kinds[name]
                break
        else:
            raise _unknown(restriction, name, allowed)
        if kinds[name] == "unsupported":
            raise _error(restriction.text, f"{name} holds structured data (json, arrays) and cannot be "
                                           f"compared here; allowed: {', '.join(allowed)}")
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


# --------------------------------------------------------------------------- what commands allow


def recording_tables() -> tuple:
    """Tables any recording-level restriction may also name: the recording's and the fish's attributes."""
    return (acquisition.Recording(), acquisition.Fish())


def roi_tables() -> tuple:
    """Tables a per-ROI restriction (export) may also name: the recording, fish, ROI, class and flat cluster.

    ``cluster`` is the flat cluster among all ROIs (``Clustering.Member`` of ``roi_set='all'``), as exported.
    """
    return (
        acquisition.RoiTraces.Roi.proj("source_id", "x", "y", "z"),
        analysis.Classification.Roi.proj("roi_class", "score", "margin"),
        (analysis.Clustering.Member & {"roi_set": "all"}).proj("cluster", "leaf_rank"),
        *recording_tables(),
    )
