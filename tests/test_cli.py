"""The ``tectum`` command end to end: manifest -> ingest -> populate -> export/status."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from dbutil import row_counts

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture(scope="module")
def demo_manifest(tmp_path_factory):
    from tectum.demo_data import write_demo_dataset

    return write_demo_dataset(tmp_path_factory.mktemp("demo"), n_recordings=3, n_rois=60, seed=1)


def run(*argv):
    from tectum.cli import main

    return main(["-q", *argv])


def test_help_documents_every_subcommand(capsys):
    from tectum.cli import build_parser

    text = build_parser().format_help()
    for command in ("ingest", "populate", "report", "status", "export", "demo"):
        assert command in text


def test_ingest_populate_export(db, demo_manifest, tmp_path, capsys):
    assert run("ingest", str(demo_manifest)) == 0
    assert "3 inserted" in capsys.readouterr().out
    assert len(db.acquisition.Recording()) == 3

    # re-ingesting says so and changes nothing
    before = row_counts(db)
    assert run("ingest", str(demo_manifest)) == 0
    out = capsys.readouterr().out
    assert "already ingested" in out and "0 inserted" in out
    assert row_counts(db) == before

    assert run("populate", "--paramset", "default") == 0
    out = capsys.readouterr().out
    assert "ClassSummary" in out and "3 made" in out

    assert run("status") == 0
    out = capsys.readouterr().out
    assert "3 recordings" in out and "Fit" in out

    for name in ("results.csv", "results.parquet"):
        target = tmp_path / name
        assert run("export", "paramset=default", "--out", str(target)) == 0
        df = pd.read_csv(target) if name.endswith(".csv") else pd.read_parquet(target)
        n_rois = int(sum(db.acquisition.Recording().to_arrays("n_rois")))
        assert len(df) == n_rois
        for column in ("fish", "recording", "paramset", "roi", "r2", "p_value", "q_value", "selected", "class",
                       "cluster", "coef_prey", "t_prey", "coef_looming", "t_looming", "coef_dimming", "t_dimming"):
            assert column in df.columns, column
        assert set(df["paramset"]) == {"default"}
        assert (df.loc[~df["selected"].astype(bool), "class"].fillna("") == "").all()


def test_bad_entry_fails_alone(db, demo_manifest, capsys):
    text = demo_manifest.read_text()
    base = demo_manifest.parent
    # the good entries plus a copy of the first whose events file does not exist;
    # paths are relative to the manifest, so it sits beside the original
    first = text.split("[[recording]]")[1]
    broken = first.replace('recording = "', 'recording = "broken-').replace(".csv\"", "_missing.csv\"", 1)
    bad = base / "with_bad_entry.toml"
    bad.write_text(text + "\n[[recording]]" + broken)
    assert run("ingest", str(bad)) == 1
    captured = capsys.readouterr()
    assert "broken-" in captured.out + captured.err
    assert "3 inserted" in captured.out and "1 failed" in captured.out
    assert len(db.acquisition.Recording()) == 3


def test_errors_are_one_line_with_nonzero_exit(db, tmp_path):
    env = dict(os.environ)
    missing = tmp_path / "nope.toml"
    proc = subprocess.run([sys.executable, "-m", "tectum.cli", "ingest", str(missing)], capture_output=True,
                          text=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "Warning" not in line and "warn" not in line]
    assert lines and "nope.toml" in lines[-1]
    assert "Traceback" not in proc.stderr
