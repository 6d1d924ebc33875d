"""Every example in README.md and docs/*.md runs.

Fenced blocks are taken by language, in document order:

* ``sql``: every statement runs on this session's backend, through a plain
  DB-API connection like any SQL client; a SELECT/SHOW must return rows;
* ``python``: runs in a new Python process;
* ``bash`` / ``console``: run (with ``bash -e``; for ``console`` the ``$ ``
  lines) when the block is marked ``run``; the exported environment and the
  working directory carry over to the next shell block of the same document;
* ``toml`` / ``json``: must parse.

A mark is an HTML comment on the line before the block:
``<!-- docs-test: run -->``, ``<!-- docs-test: mysql-only -->``,
``<!-- docs-test: postgresql-only -->`` (SQL that is not portable) or
``<!-- docs-test: skip REASON -->``.

The examples run after ``tectum demo`` (the session's ``demo`` fixture), in
its working directory. Placeholders: ``tectum_demo_`` becomes the demo's
prefix and other ``tectum_`` schema and role names a scratch prefix of this
session (the "lab"), which is also ``TECTUM_SCHEMA_PREFIX`` of the Python and
shell blocks; ``tectum`` on the PATH is this checkout's command line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, drop_schemas

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"sql", "python", "bash", "console", "toml", "json"}
MARKS = {"run", "mysql-only", "postgresql-only", "skip"}
_MARK = re.compile(r"^<!--\s*docs-test:\s*(\S+)\s*(.*?)\s*-->$")
_FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    mark: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.lang})"


def read_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2).lower(), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : j])
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = _MARK.match(lines[k].strip()) if k >= 0 else None
        blocks.append(Block(path, start + 1, lang, body, *(mark.groups() if mark else ("", ""))))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for path in DOCS for b in read_blocks(path)]


# --------------------------------------------------------------------------- the marks themselves (no database)


def test_every_example_runs_or_says_why_not():
    assert any(b.lang == "sql" for b in ALL_BLOCKS) and any(b.lang == "python" for b in ALL_BLOCKS)
    for block in ALL_BLOCKS:
        assert block.mark in MARKS | {""}, f"{block}: unknown mark {block.mark!r}"
        if block.mark == "skip":
            assert block.reason, f"{block}: say why it is skipped"
        if block.mark in ("mysql-only", "postgresql-only"):
            assert block.lang == "sql", f"{block}: {block.mark} is for SQL blocks"
        if block.mark == "run":
            assert block.lang in ("bash", "console"), f"{block}: 'run' is for shell blocks"


def test_config_blocks_parse():
    for block in ALL_BLOCKS:
        if block.lang == "toml":
            tomllib.loads(block.text)
        elif block.lang == "json":
            json.loads(block.text)


def test_documented_table_names_exist(db):
    """Every DataJoint table name written in the docs (``__fit__roi``, ``#param_set``, ...) is a real one."""
    real = {name for module in (db.reference, db.acquisition, db.analysis) for name in module.schema.list_tables()}
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)
    named = set(re.findall(r"(?<![\w#(])(#[a-z][a-z0-9_]*[a-z0-9]|__[a-z][a-z0-9_]*[a-z0-9])(?!\w)", text))
    assert named, "the docs name no table"
    assert not named - real, f"not tables: {sorted(named - real)}"


# --------------------------------------------------------------------------- running them


@dataclass
class Runner:
    demo_prefix: str
    lab_prefix: str
    cwd: Path
    bin_dir: Path
    state: Path
    done: list = field(default_factory=list)

    def substitute(self, text: str) -> str:
        text = text.replace("tectum_demo_", self.demo_prefix)
        return re.sub(
            r"\btectum_(?=(reference|acquisition|analysis|operations|admin|analyst|viewer)\b)", self.lab_prefix, text
        )

    def env(self) -> dict:
        return cli_env(
            TECTUM_SCHEMA_PREFIX=self.lab_prefix,
            PATH=f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            MPLBACKEND="Agg",
        )

    def sql(self, block: Block, backend: str) -> None:
        for statement in split_sql(self.substitute(block.text)):
            with sql_connection() as conn:
                cursor = conn.cursor()
                try:
                    cursor.execute(statement)
                except Exception as err:
                    pytest.fail(f"{block}: {type(err).__name__}: {err}\n{statement}")
                if re.match(r"\s*(SELECT|SHOW|WITH)\b", statement, re.I):
                    assert cursor.fetchall(), f"{block}: no rows on {backend}\n{statement}"

    def python(self, block: Block) -> None:
        proc = subprocess.run(
            [sys.executable, "-c", self.substitute(block.text)],
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"{block}:\n{proc.stdout}\n{proc.stderr}"

    def shell(self, block: Block) -> None:
        text = self.substitute(block.text)
        if block.lang == "console":
            text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
        script = (
            f"[ -f {self.state} ] && source {self.state}\nset -e\n{text}\n"
            f'export -p > {self.state}\necho "cd $(printf %q "$PWD")" >> {self.state}\n'
        )
        proc = subprocess.run(
            ["bash", "-c", script], cwd=self.cwd, env=self.env(), capture_output=True, text=True, timeout=1800
        )
        assert proc.returncode == 0, f"{block}:\n{proc.stdout}\n{proc.stderr}"


def split_sql(text: str) -> list[str]:
    """Statements separated by ``;`` outside quotes; ``--`` comment lines dropped."""
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    statements, quote, start = [], None, 0
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"`":
            quote = c
        elif c == ";":
            statements.append(text[start:i])
            start = i + 1
    statements.append(text[start:])
    return [s.strip() for s in statements if s.strip()]


def sql_connection():
    """A plain DB-API connection with DataJoint's settings (no DataJoint between the SQL and the server)."""
    import contextlib

    import datajoint as dj

    settings = dict(
        host=dj.config["database.host"],
        port=int(dj.config["database.port"]),
        user=dj.config["database.user"],
        password=dj.config["database.password"] or "",
    )
    if dj.config["database.backend"] == "postgresql":
        import psycopg2

        conn = psycopg2.connect(dbname=dj.config["database.name"] or "postgres", **settings)
        conn.autocommit = True
    else:
        import pymysql

        conn = pymysql.connect(autocommit=True, **settings)
    return contextlib.closing(conn)


@pytest.fixture(scope="module")
def runner(demo, tmp_path_factory):
    bin_dir = tmp_path_factory.mktemp("docs_bin")
    shim = bin_dir / "tectum"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m tectum.cli "$@"\n')
    shim.chmod(0o755)
    lab_prefix = demo.prefix.removesuffix("demo_") + "lab_"
    try:
        yield Runner(
            demo_prefix=demo.prefix,
            lab_prefix=lab_prefix,
            cwd=demo.cwd,
            bin_dir=bin_dir,
            state=bin_dir / "shell_state.sh",
        )
    finally:
        drop_schemas(lab_prefix)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(runner, path):
    import datajoint as dj

    backend = dj.config["database.backend"]
    ran = 0
    for block in read_blocks(path):
        if block.mark == "skip" or block.lang not in ("sql", "python", "bash", "console"):
            continue
        if block.lang == "sql":
            if block.mark in ("mysql-only", "postgresql-only") and block.mark != f"{backend}-only":
                continue
            runner.sql(block, backend)
        elif block.lang == "python":
            runner.python(block)
        elif block.mark == "run":
            runner.shell(block)
        else:
            continue
        ran += 1
    runner.done.append((path.name, ran))
