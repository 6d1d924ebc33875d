"""The parse tree of a restriction, and its error type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..errors import TectumError


class RestrictionError(TectumError, ValueError):
    """A restriction cannot be used: bad syntax, an unknown attribute or a value of the wrong type."""


def error(text: str, message: str) -> RestrictionError:
    """``restriction 'TEXT': MESSAGE``: every message names the restriction it is about."""
    return RestrictionError(f"restriction {text!r}: {message}")


class Attr(NamedTuple):
    name: str


class Lit(NamedTuple):
    kind: str  # "number", "text" or "bool"
    value: object
    source: str  # as written, for messages


Operand = Attr | Lit


class Cmp(NamedTuple):
    op: str  # = <> < <= > >=
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
