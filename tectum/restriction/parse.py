"""Text -> :class:`~tectum.restriction.tree.Restriction`: the tokenizer, the parser and the ``name=value`` form.

Syntax only: no database and no DataJoint here; names are checked when the
tree is bound to tables (:mod:`tectum.restriction.bind`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

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

__all__ = ["parse", "NUMBER"]


# --------------------------------------------------------------------------- tokens

_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL", "TRUE", "FALSE"}
# words that mean the text is trying to be more than a condition
_FORBIDDEN_WORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "UNION",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "CREATE",
    "ALTER",
    "EXISTS",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "ESCAPE",
    "INTO",
    "EXEC",
    "EXECUTE",
    "CALL",
    "GRANT",
    "SET",
}
_COMPARISONS = ("<=", ">=", "<>", "!=", "=", "<", ">")
_ALLOWED_SUMMARY = (
    "a restriction is name=value pairs separated by commas, or a condition of comparisons "
    "(= != < <= > >=), IN (...), BETWEEN ... AND ..., LIKE '...', IS [NOT] NULL, AND/OR/NOT and parentheses"
)


class Token(NamedTuple):
    kind: str  # "ident", "keyword", "number", "text", "op", "(", ")", ",", "end"
    value: object
    pos: int


NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("--", i) or text.startswith("/*", i) or c == "#":
            raise error(text, "comments are not allowed")
        if c == ";":
            raise error(text, "';' is not allowed: give one condition")
        if c == "'":
            j, chars = i + 1, []
            while True:
                if j >= n:
                    raise error(text, f"the text starting at position {i + 1} has no closing quote")
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
                raise error(text, "backslashes in text values are not supported")
            tokens.append(Token("text", value, i))
            i = j + 1
            continue
        if c == '"':
            raise error(text, "use single quotes around text values ('F1'); attribute names need no quotes")
        if c == "`":
            j = text.find("`", i + 1)
            name = text[i + 1 : j] if j > 0 else ""
            if j < 0 or not _IDENT.fullmatch(name):
                raise error(text, f"bad quoted name at position {i + 1}")
            tokens.append(Token("ident", name, i))
            i = j + 1
            continue
        m = NUMBER.match(text, i)
        if m and (c.isdigit() or c == "."):
            end = m.end()
            if end < n and (text[end].isalpha() or text[end] == "_"):
                raise error(text, f"bad number {text[i : end + 1]!r}")
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
                raise error(text, f"{word} is not allowed ({what} are not part of a condition); {_ALLOWED_SUMMARY}")
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
            m = NUMBER.match(text, i + 1)
            if m and (text[i + 1].isdigit() or text[i + 1] == "."):
                tokens.append(Token("number", "-" + m.group(0), i))
                i = m.end()
                continue
        raise error(
            text, f"{c!r} at position {i + 1} is not allowed (no arithmetic or other operators); {_ALLOWED_SUMMARY}"
        )
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
        return error(self.text, f"{message} {where}")

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
        if (
            self.is_keyword("NOT")
            and self.peek(1).kind == "keyword"
            and self.peek(1).value in ("IN", "BETWEEN", "LIKE")
        ):
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
                raise error(self.text, f"LIKE takes a text pattern in single quotes, not {pattern.source}")
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
                raise error(self.text, f"function calls are not allowed ({token.value}(...)); {_ALLOWED_SUMMARY}")
            return Attr(token.value)
        if token.kind == "(" and self.peek(1).kind == "keyword" and self.peek(1).value == "SELECT":
            raise error(self.text, "subqueries are not allowed")
        return self.literal("expected an attribute name or a value")

    def literal(self, what: str) -> Lit:
        token = self.peek()
        if token.kind == "number":
            self.take()
            value = float(token.value) if any(ch in token.value for ch in ".eE") else int(token.value)
            if isinstance(value, float) and not math.isfinite(value):
                raise error(self.text, f"number {token.value} is out of range")
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
            raise error(self.text, f"function calls are not allowed ({token.value}(...)); {_ALLOWED_SUMMARY}")
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
            value, i = text[i + 1 : close], close + 1
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
                raise error(text, f"{pair.name} is given twice; for either value write \"{pair.name} IN ('a', 'b')\"")
            seen.add(pair.name)
        return Restriction(text=text, tree=pairs[0] if len(pairs) == 1 else And(tuple(pairs)))
    parts = _split_top_level(text)
    if parts is not None and len(parts) > 1:
        if any(not part.strip() for part in parts):
            raise error(text, "a name=value pair is empty (two commas, or a comma at the start or end)")
        if not re.search(r"\bIN\s*\(", text, re.I):
            raise error(text, "commas separate name=value pairs; in a condition combine with AND / OR")
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
