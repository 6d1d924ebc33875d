"""The ``tectum`` command end to end on the real server: ingest, populate, export, report, paramset, stimulus,
config and demo, with strict restrictions everywhere."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, cli_env
from dbutil import row_counts


def run(*argv):
    from tectum.cli import main

    return main(["-q", *argv])


def tectum(*argv, cwd=ROOT, env=None):
    """``python -m tectum.cli`` in a new process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tectum.cli", "-q", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else cli_env(),
        timeout=600,
    )


def last_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("tectum ")]
    assert lines, stderr
    return lines[-1]


# --------------------------------------------------------------------------- without a database


def test_help_lists_every_subcommand():
    from tectum.cli import build_parser

    text = build_parser().format_help()
    for command in ("ingest", "populate", "status", "report", "export", "paramset", "stimulus", "config", "db", "demo"):
        assert f"    {command} " in text


def test_paramset_options_are_parsed_before_any_database_work():
    from tectum.commands.paramset import derive_stages, parse_settings, parse_value
    from tectum.errors import TectumError

    assert parse_value("2.5") == 2.5 and parse_value("null") is None and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value("onset") == "onset"
    changes, methods = parse_settings(["regressors.tau_decay_s=2.5", "fit.fdr_alpha=0.01"], ["regressors=exponential"])
    assert changes == {"regressors": {"tau_decay_s": 2.5}, "fit": {"fdr_alpha": 0.01}}
    base = {
        "dff": ("percentile", {"percentile": 8.0}),
        "regressors": ("sensor", {"delay_s": 0.5}),
        "fit": ("ols", {"fdr_alpha": 0.05, "r2_min": 0.05}),
        "clustering": ("average", {"n_clusters": 8}),
    }
    stages = derive_stages(base, changes, methods)
    # a new method starts from its own defaults, not from the other method's parameters
    assert stages["regressors"] == ("exponential", {"tau_decay_s": 2.5})
    assert stages["fit"] == ("ols", {"fdr_alpha": 0.01, "r2_min": 0.05})
    assert stages["dff"] == base["dff"]
    for sets, meths, message in [
        (["fdr_alpha=0.01"], [], "STAGE.PARAMETER=VALUE"),
        (["fits.fdr_alpha=0.01"], [], "unknown stage 'fits'"),
        (["fit.a.b=1"], [], "STAGE.PARAMETER=VALUE"),
        (["fit.x=1", "fit.x=2"], [], "fit.x is set twice"),
        ([], ["regressors"], "STAGE=METHOD"),
        ([], ["fit=ols", "fit=ols"], "given twice"),
    ]:
        with pytest.raises(TectumError, match=message):
            parse_settings(sets, meths)


def test_config_init_writes_no_password(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DJ_PASS", "must-not-be-written")
    assert run("config", "init", "--host", "db.example.org", "--user", "alice", "--backend", "postgresql") == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "datajoint.json").read_text())
    assert data == {"database": {"host": "db.example.org", "user": "alice", "port": 5432, "backend": "postgresql"}}
    assert "must-not-be-written" not in (tmp_path / "datajoint.json").read_text()
    secrets = tmp_path / ".secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700 and (secrets / ".gitignore").read_text().strip().endswith("*")
    assert not (secrets / "database.password").exists()
    assert ".secrets/database.password" in out and "DJ_PASS" in out

    # an existing file is kept unless --force, which keeps its other keys
    data["stores"] = {"tectum": {"protocol": "file", "location": "/lab/share"}}
    (tmp_path / "datajoint.json").write_text(json.dumps(data))
    assert run("config", "init", "--user", "bob") == 1
    assert "exists; add --force" in capsys.readouterr().err
    assert run("config", "init", "--user", "bob", "--force", "--empty-password") == 0
    data = json.loads((tmp_path / "datajoint.json").read_text())
    assert data["database"] == {"host": "localhost", "user": "bob", "port": 3306, "backend": "mysql"}
    assert data["stores"]["tectum"]["location"] == "/lab/share"
    password = secrets / "database.password"
    assert password.read_text() == "" and stat.S_IMODE(password.stat().st_mode) == 0o600
    password.write_text("secret")
    assert run("config", "init", "--user", "bob", "--force", "--empty-password") == 1
    assert "already holds a password" in capsys.readouterr().err
    assert password.read_text() == "secret"


def test_without_settings_the_error_says_what_to_set(tmp_path):
    env = {k: v for k, v in cli_env().items() if not k.startswith("DJ_")}
    proc = tectum("status", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    line = last_error_line(proc.stderr)
    assert "no database user configured" in line and "tectum config init" in line and "DJ_PASS" in line
    assert "Traceback" not in proc.stderr and "No datajoint.json found" not in proc.stderr


# --------------------------------------------------------------------------- on the server


@pytest.fixture(scope="module")
def lab(db, tmp_path_factory):
    """Three demo recordings ingested and populated through the command line; paramsets and stimuli made by the
    tests are removed afterwards."""
    from tectum.demo_data import write_demo_dataset

    db.acquisition.Fish.delete(prompt=False)
    shipped_paramsets = set(db.reference.ParamSet().to_arrays("paramset"))
    shipped_stimuli = set(db.reference.StimulusType().to_arrays("stimulus"))
    manifest = write_demo_dataset(
        tmp_path_factory.mktemp("lab"), n_recordings=3, n_rois=50, seed=1, formats=("npy", "csv")
    )
    assert run("ingest", str(manifest)) == 0
    assert run("populate") == 0
    db.manifest = manifest
    yield db
    db.acquisition.Fish.delete(prompt=False)
    for name in set(db.reference.ParamSet().to_arrays("paramset")) - shipped_paramsets:
        (db.reference.ParamSet & {"paramset": name}).delete(prompt=False)
    for name in set(db.reference.StimulusType().to_arrays("stimulus")) - shipped_stimuli:
        (db.reference.StimulusType & {"stimulus": name}).delete(prompt=False)


def test_reingest_changes_nothing(lab, capsys):
    before = row_counts(lab)
    assert run("ingest", str(lab.manifest)) == 0
    out = capsys.readouterr().out
    assert "already ingested" in out and "0 inserted" in out
    assert row_counts(lab) == before


def test_bad_entry_fails_alone(lab, capsys):
    text = lab.manifest.read_text()
    first = text.split("[[recording]]")[1]
    broken = first.replace('recording = "', 'recording = "broken-').replace('.csv"', '_missing.csv"', 1)
    bad = lab.manifest.parent / "with_bad_entry.toml"
    bad.write_text(text + "\n[[recording]]" + broken)
    n = len(lab.acquisition.Recording())
    assert run("ingest", str(bad)) == 1
    captured = capsys.readouterr()
    assert "broken-" in captured.out + captured.err and "1 failed" in captured.out
    assert len(lab.acquisition.Recording()) == n


def test_export_restrictions(lab, tmp_path, capsys):
    fits = lab.analysis.Fit.Roi()
    # a typo is an error naming the allowed attributes, and nothing is written
    target = tmp_path / "typo.csv"
    assert run("export", "fsh=Z1", "--out", str(target)) == 1
    err = capsys.readouterr().err
    assert "fsh is not an attribute here; did you mean fish?" in err and "genotype" in err and "roi_class" in err
    assert not target.exists()

    # the two orderings give the same rows, of one parameter set
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run("export", "selected=1 AND paramset='default'", "--out", str(a)) == 0
    assert run("export", "paramset='default' AND selected=1", "--out", str(b)) == 0
    da, db_ = pd.read_csv(a), pd.read_csv(b)
    assert da.equals(db_) and set(da["paramset"]) == {"default"} and da["selected"].all()
    assert len(da) == len(fits & {"paramset": "default"} & "selected")

    # what the README shows
    target = tmp_path / "r2.csv"
    assert run("export", "r2 > 0.2", "--out", str(target)) == 0
    df = pd.read_csv(target)
    assert len(df) == len(fits & "r2 > 0.2") and (df["r2"] > 0.2).all()
    assert f"{len(df)} rows" in capsys.readouterr().out

    # names of the joined tables
    target = tmp_path / "joined.parquet"
    assert run("export", "genotype='wild type' AND roi_class IN ('looming', 'dimming')", "--out", str(target)) == 0
    df = pd.read_parquet(target)
    assert len(df) and set(df["genotype"]) == {"wild type"} and set(df["roi_class"]) <= {"looming", "dimming"}
    expected = (
        lab.analysis.Classification.Roi
        & "roi_class IN ('looming', 'dimming')"
        & (lab.acquisition.Fish & {"genotype": "wild type"}).proj()
    )
    assert len(df) == len(expected)

    # nothing matches: said, exit 0, only the header; --strict: an error and no file
    target = tmp_path / "none.csv"
    assert run("export", "paramset=x,roi_class=grating", "--out", str(target)) == 0
    assert "0 ROIs match 'paramset=x,roi_class=grating'" in capsys.readouterr().out
    assert len(pd.read_csv(target)) == 0 and "roi_class" in pd.read_csv(target).columns
    target = tmp_path / "strict.csv"
    assert run("export", "paramset=x", "--strict", "--out", str(target)) == 1
    assert "0 ROIs match 'paramset=x'" in capsys.readouterr().err and not target.exists()


@pytest.mark.parametrize(
    "text",
    [
        "r2 > 0 AND SLEEP(1) = 0",
        "r2 > 0 OR pg_sleep(1) IS NULL",
        "fish IN (SELECT fish FROM fish)",
        "r2 > 0; DELETE FROM fish",
        "r2 > 0 -- x",
    ],
)
def test_export_refuses_more_than_a_condition(lab, tmp_path, capsys, text):
    target = tmp_path / "x.csv"
    assert run("export", text, "--out", str(target)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not allowed" in err[0] and not target.exists()


def test_export_all_columns(lab, tmp_path):
    from tectum.results import COLUMNS

    target = tmp_path / "all.csv"
    assert run("export", "--out", str(target)) == 0
    df = pd.read_csv(target)
    assert len(df) == len(lab.analysis.Fit.Roi())
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    regressors = set(lab.analysis.Regressors.Regressor().to_arrays("regressor"))
    for reg in regressors:
        for column in (f"coef_{reg}", f"t_{reg}", f"amplitude_{reg}"):
            assert column in df.columns
    assert (df.loc[~df["selected"].astype(bool), "roi_class"].fillna("") == "").all()


def test_populate_restrictions(lab, capsys):
    db = lab
    assert run("populate", "fsh=F1") == 1
    assert "did you mean fish?" in capsys.readouterr().err
    assert run("populate", "r2 > 0.2") == 1  # r2 is not an attribute of a recording: nothing silently widened
    assert "r2 is not an attribute here" in capsys.readouterr().err
    assert run("populate", "fish=Z1") == 0
    assert "0 analysis tasks (recording x parameter set) match 'fish=Z1'" in capsys.readouterr().out
    assert run("populate", "fish=Z1", "--strict") == 1
    assert run("populate", "--paramset", "defualt") == 1
    assert "unknown parameter set(s) 'defualt'" in capsys.readouterr().err

    # drop seed2020's results, then bring back only those of the wild-type fish
    (db.analysis.DeltaF & {"paramset": "seed2020"}).delete(prompt=False)
    assert run("populate", "genotype = 'wild type'", "--paramset", "seed2020") == 0
    made = db.analysis.ClassSummary & {"paramset": "seed2020"}
    wild = db.acquisition.Recording & (db.acquisition.Fish & {"genotype": "wild type"}).proj()
    assert {(k["fish"], k["recording"]) for k in made.proj().to_dicts()} == {
        (k["fish"], k["recording"]) for k in wild.proj().to_dicts()
    }
    assert run("populate") == 0
    assert len(db.analysis.ClassSummary()) == 2 * len(db.acquisition.Recording())


def test_report_restriction(lab, tmp_path, capsys):
    out = tmp_path / "report"
    assert run("report", "genotyp='wild type'", "--out", str(out)) == 1
    assert "did you mean genotype?" in capsys.readouterr().err and not out.exists()
    assert run("report", "genotype='nobody'", "--out", str(out)) == 0
    assert "0 fitted recordings match" in capsys.readouterr().out and not out.exists()
    assert run("report", "genotype='wild type' AND paramset='default'", "--out", str(out)) == 0
    index = (out / "index.html").read_text()
    assert "genotype=&#x27;wild type&#x27; AND paramset=&#x27;default&#x27;" in index
    wild = {k["fish"] for k in (lab.acquisition.Fish & {"genotype": "wild type"}).proj().to_dicts()}
    others = {k["fish"] for k in lab.acquisition.Fish.proj().to_dicts()} - wild
    assert all(f"{fish}/" in index or f">{fish}<" in index for fish in wild)
    assert not any(f"{fish}/" in index or f">{fish}<" in index for fish in others)
    assert "seed2020" not in index.split("restriction")[-1]


def test_stimulus_add_and_list(lab, capsys):
    assert run("stimulus", "add", "grating", "--description", "drifting grating") == 0
    assert "added 'grating'" in capsys.readouterr().out
    assert (lab.reference.StimulusType & {"stimulus": "grating"}).fetch1("description") == "drifting grating"
    assert run("stimulus", "add", "grating") == 1
    assert "already exists" in capsys.readouterr().err
    assert run("stimulus", "add", "mixed") == 1
    assert "reserved" in capsys.readouterr().err
    assert run("stimulus", "add", "x" * 65) == 1
    assert "at most 64" in capsys.readouterr().err
    assert run("stimulus", "list") == 0
    out = capsys.readouterr().out
    n_looming = len(lab.acquisition.Recording & (lab.acquisition.Presentation & {"stimulus": "looming"}))
    line = next(ln for ln in out.splitlines() if ln.startswith("looming "))
    assert line.split()[1] == str(n_looming) and "grating" in out


def test_paramset_create_show_list(lab, capsys):
    reference = lab.reference
    assert (
        run(
            "paramset",
            "create",
            "tau25",
            "--from",
            "default",
            "--method",
            "regressors=exponential",
            "--set",
            "regressors.tau_decay_s=2.5",
            "--set",
            "fit.fdr_alpha=0.01",
        )
        == 0
    )
    assert "created 'tau25'" in capsys.readouterr().out
    stages = reference.ParamSet.stage_params("tau25")
    default = reference.ParamSet.stage_params("default")
    assert stages["regressors"][0] == "exponential" and stages["regressors"][1]["tau_decay_s"] == 2.5
    assert stages["fit"][1] == {**default["fit"][1], "fdr_alpha": 0.01}
    assert stages["dff"] == default["dff"] and stages["clustering"] == default["clustering"]
    assert not (reference.ParamSet & {"paramset": "tau25"}).fetch1("auto_assign")

    assert run("paramset", "show", "tau25") == 0
    out = capsys.readouterr().out
    assert "regressors: method exponential" in out and "regressors.tau_decay_s=2.5" in out
    assert "fit.fdr_alpha=0.01" in out
    for stage, (_, params) in stages.items():  # complete: every parameter of every stage
        for name in params:
            assert f"  {stage}.{name}=" in out

    before = row_counts(lab)
    assert run("paramset", "create", "typo", "--set", "fit.fdr_alfa=0.01") == 1
    err = capsys.readouterr().err
    assert "'fdr_alfa'" in err and "fdr_alpha" in err
    assert run("paramset", "create", "tau25") == 1
    assert "already exists" in capsys.readouterr().err
    assert run("paramset", "create", "other", "--from", "nope") == 1
    assert "unknown parameter set; known:" in capsys.readouterr().err
    assert run("paramset", "create", "other", "--method", "regressors=gamma") == 1
    assert "unknown regressors method 'gamma'" in capsys.readouterr().err
    assert row_counts(lab) == before

    assert (
        run("paramset", "create", "auto", "--set", "fit.r2_min=0.1", "--auto-assign", "--description", "stricter r2")
        == 0
    )
    auto_assign, description = (reference.ParamSet & {"paramset": "auto"}).fetch1("auto_assign", "description")
    assert bool(auto_assign) and description == "stricter r2"
    capsys.readouterr()
    assert run("paramset", "list") == 0
    out = capsys.readouterr().out
    assert {"default", "seed2020", "tau25", "auto"} <= {ln.split()[0] for ln in out.splitlines()[1:]}


def test_paramset_assign(lab, capsys):
    db = lab
    if not (db.reference.ParamSet & {"paramset": "tau3"}):
        assert (
            run("paramset", "create", "tau3", "--method", "regressors=exponential", "--set", "regressors.tau_decay_s=3")
            == 0
        )
    tasks = db.analysis.AnalysisTask & {"paramset": "tau3"}
    wild = db.acquisition.Recording & (db.acquisition.Fish & {"genotype": "wild type"}).proj()
    assert len(tasks) == 0

    assert run("paramset", "assign", "tau3", "genotype='wild type'", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.count("would assign tau3 to") == len(wild) and len(tasks) == 0

    assert run("paramset", "assign", "tau3", "genotype='wild type'") == 0
    out = capsys.readouterr().out
    assert out.count("assigned tau3 to") == len(wild)
    assert {(k["fish"], k["recording"]) for k in tasks.proj().to_dicts()} == {
        (k["fish"], k["recording"]) for k in wild.proj().to_dicts()
    }

    assert run("paramset", "assign", "tau3") == 0  # the rest; the wild type ones are skipped with the reason
    out = capsys.readouterr().out
    assert out.count(": already assigned") == len(wild)
    assert len(tasks) == len(db.acquisition.Recording())

    for argv, message in [
        (("tau3", "fish=nobody"), "no recording matches 'fish=nobody'"),
        (("tau3", "fsh=F1"), "did you mean fish?"),
        (("nope",), "unknown parameter set 'nope'"),
    ]:
        assert run("paramset", "assign", *argv) == 1
        assert message in capsys.readouterr().err

    assert run("populate", "--paramset", "tau3") == 0
    assert len(db.analysis.Fit & {"paramset": "tau3"}) == len(db.acquisition.Recording())


def test_tectum_works_with_datajoint_settings_alone(lab, tmp_path):
    """``tectum config init`` + ``.secrets/database.password``, no DJ_* variable: what a newcomer has."""
    import datajoint as dj

    env = {k: v for k, v in cli_env().items() if not k.startswith("DJ_")}
    argv = [
        "config",
        "init",
        "--host",
        str(dj.config["database.host"]),
        "--user",
        str(dj.config["database.user"]),
        "--backend",
        str(dj.config["database.backend"]),
        "--port",
        str(dj.config["database.port"]),
    ]
    proc = tectum(*argv, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / ".secrets" / "database.password").write_text(str(dj.config["database.password"] or ""))
    proc = tectum("status", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(lab.acquisition.Recording())} recordings" in proc.stdout
    proc = tectum("config", "show", cwd=tmp_path, env=env)
    assert f"settings file: {tmp_path / 'datajoint.json'}" in proc.stdout
    assert f"password: set ({tmp_path / '.secrets' / 'database.password'})" in proc.stdout


def test_demo_runs_in_its_own_schemas(db, request):
    import datajoint as dj

    before = row_counts(db)
    demo = request.getfixturevalue("demo")  # runs `tectum demo` now unless another test already did
    assert row_counts(db) == before  # this session's schemas are untouched
    names = set(dj.list_schemas())
    for suffix in ("reference", "acquisition", "analysis"):
        assert f"{demo.prefix}{suffix}" in names
    assert "ingest: 2 inserted" in demo.stdout and "demo: report at" in demo.stdout
    assert (demo.cwd / "demo_out" / "report" / "index.html").is_file()
    conn = dj.conn()
    q = conn.adapter.quote_identifier
    n = conn.query(f"SELECT COUNT(*) FROM {q(demo.prefix + 'acquisition')}.{q('recording')}").fetchone()[0]
    done = conn.query(f"SELECT COUNT(*) FROM {q(demo.prefix + 'analysis')}.{q('__class_summary')}").fetchone()[0]
    assert n == 2 and done == 4  # two recordings, both shipped parameter sets


def test_demo_refuses_schemas_with_other_recordings(lab, tmp_path):
    from tectum.demo import run_demo
    from tectum.errors import TectumError

    before = row_counts(lab)
    with pytest.raises(TectumError, match="hold recordings that are not the demo's"):
        run_demo(tmp_path, prefix=None, n_recordings=2, n_rois=30, progress=False)
    assert row_counts(lab) == before


def test_errors_are_one_line_with_nonzero_exit(db, tmp_path):
    proc = tectum("ingest", str(tmp_path / "nope.toml"))
    assert proc.returncode != 0
    assert "nope.toml" in last_error_line(proc.stderr) and "Traceback" not in proc.stderr
