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

Modules: :mod:`.tree` (the parse tree, :class:`RestrictionError`),
:mod:`.parse` (tokenizer and parser; no database), :mod:`.bind` (names
checked against tables, values typed, SQL rendered), :mod:`.tables` (what
each command lets a restriction name besides its own table).

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

from .bind import KeyRestriction, allowed_names, key_restriction, restrict
from .parse import parse
from .tables import recording_tables, roi_tables
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
    Or,
    Pair,
    Restriction,
    RestrictionError,
    Truth,
)

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
    "And",
    "Attr",
    "Between",
    "Cmp",
    "In",
    "IsNull",
    "Like",
    "Lit",
    "Not",
    "Or",
    "Pair",
    "Truth",
]
