"""Strict restrictions: the parser alone (no database), then bound to the real tables on the server."""

from __future__ import annotations

import pytest

from tectum.restriction import (
    And,
    Cmp,
    Pair,
    RestrictionError,
    allowed_names,
    key_restriction,
    parse,
    recording_tables,
    restrict,
    roi_tables,
)

# --------------------------------------------------------------------------- parsing only


def test_blank_is_no_restriction():
    for text in (None, "", "   "):
        assert not parse(text)


def test_pairs_form():
    r = parse("fish=F1, paramset=default")
    assert r.tree == And((Pair("fish", "F1"), Pair("paramset", "default")))
    assert parse("genotype=gad1b:Gal4; UAS:NTR-mCherry").tree == Pair("genotype", "gad1b:Gal4; UAS:NTR-mCherry")
    assert parse("fish='F 1'").tree == Pair("fish", "F 1")
    # a quote inside an unquoted value is part of it; a quoted value may hold commas
    assert parse("fish=F1'; DROP TABLE fish; --,recording=R1").tree == And(
        (Pair("fish", "F1'; DROP TABLE fish; --"), Pair("recording", "R1"))
    )
    assert parse('fish="a,b", recording=R1').tree == And((Pair("fish", "a,b"), Pair("recording", "R1")))
    assert parse({"fish": "F1", "selected": True}).tree == And((Pair("fish", "F1"), Pair("selected", "true")))


def test_sql_with_and_is_not_a_pair():
    # the old parser read this as selected = "1 AND paramset='default'"
    r = parse("selected=1 AND paramset='default'")
    assert isinstance(r.tree, And) and all(isinstance(c, Cmp) for c in r.tree.children)
    assert r.names == ("selected", "paramset")


@pytest.mark.parametrize(
    "text, message",
    [
        ("SLEEP(1)", "function calls are not allowed"),
        ("r2 > 0 AND pg_sleep(1) IS NULL", "function calls are not allowed"),
        ("fish IN (SELECT fish FROM fish)", "SELECT is not allowed"),
        ("(SELECT 1) = 1", "SELECT is not allowed"),
        ("r2 > 0.2; DROP TABLE x", "';' is not allowed"),
        ("r2 > 0.2 -- all", "comments are not allowed"),
        ("r2 > 0.2 /* x */", "comments are not allowed"),
        ("r2 > 0.2 # x", "comments are not allowed"),
        ("r2 + 1 > 2", "'+' at position 4 is not allowed"),
        ('fish = "F1" AND r2 > 0', "use single quotes"),
        ("fish = 'F1", "no closing quote"),
        ("q_value = NULL", "use IS NULL"),
        ("fish=F1,fish=F2", "fish is given twice"),
        ("r2 > 0.2, fish='F1'", "commas separate name=value pairs"),
        ("fish=F1,", "a name=value pair is empty"),
        ("r2 >", "expected an attribute name or a value at the end"),
        ("fish = F1 AND r2 > 0 x", "expected AND or OR"),
        ("fish LIKE 3", "LIKE takes a text pattern"),
        ("fish = 'a\\b' AND r2 > 0", "backslashes"),
        ("UNION", "UNION is not allowed"),
    ],
)
def test_refused_in_one_line(text, message):
    with pytest.raises(RestrictionError) as exc:
        parse(text)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value) and repr(text) in str(exc.value)


def test_operators_and_literals():
    r = parse(
        "NOT selected OR (r2 BETWEEN 0.1 AND 0.5 AND roi_class NOT IN ('prey', 'dimming')) "
        "OR fish LIKE 'F%' OR q_value IS NOT NULL OR `roi` <> -3 OR 0.2 < adj_r2"
    )
    assert r.names == ("selected", "r2", "roi_class", "fish", "q_value", "roi", "adj_r2")


# --------------------------------------------------------------------------- against the tables


@pytest.fixture(scope="module")
def populated(db, tmp_path_factory):
    """Two recordings (F1 gad1b, F2 wild type) analysed with both shipped parameter sets."""
    from tectum.demo_data import write_demo_dataset
    from tectum.ingest import ingest_manifest

    db.acquisition.Fish.delete(prompt=False)
    manifest = write_demo_dataset(
        tmp_path_factory.mktemp("restriction"), n_recordings=2, n_rois=40, seed=3, formats=("npy",)
    )
    assert ingest_manifest(manifest, progress=False).ok
    db.populate_all()
    yield db
    db.acquisition.Fish.delete(prompt=False)


def rows(expr) -> list[dict]:
    return expr.proj().to_dicts(order_by=["fish", "recording", "paramset", "roi"])


def test_condition_orderings_agree_on_one_paramset(populated):
    roi = populated.analysis.Fit.Roi
    a = rows(restrict(roi, "selected=1 AND paramset='default'"))
    b = rows(restrict(roi, "paramset='default' AND selected=1"))
    c = rows(restrict(roi, "selected AND paramset = 'default'"))
    d = rows(restrict(roi, "paramset=default,selected=true"))
    expected = rows(roi & {"paramset": "default"} & "selected")
    assert a == b == c == d == expected
    assert expected and {r["paramset"] for r in a} == {"default"}
    assert len(a) < len(roi & {"paramset": "default"})  # not every ROI is selected


def test_unknown_name_is_refused_with_suggestion(populated):
    roi = populated.analysis.Fit.Roi
    with pytest.raises(RestrictionError) as exc:
        restrict(roi, "fsh=Z1", allowed_extra=roi_tables())
    message = str(exc.value)
    assert "fsh is not an attribute" in message and "did you mean fish?" in message
    for name in allowed_names(roi, roi_tables()):
        assert name in message
    with pytest.raises(RestrictionError, match="if it is a value, put it in single quotes: 'Z1'"):
        restrict(roi, "fish = Z1 AND r2 > 0")
    with pytest.raises(RestrictionError, match="genotype is not an attribute"):
        restrict(roi, "genotype='wild type'")  # not allowed without the extra tables


def test_extra_tables_are_joined(populated):
    db = populated
    roi = db.analysis.Fit.Roi()
    wild = rows(restrict(roi, "genotype='wild type' AND paramset='default'", allowed_extra=roi_tables()))
    assert wild and {r["fish"] for r in wild} == {"F2"}
    assert len(wild) == len(db.acquisition.RoiTraces.Roi & {"fish": "F2"})
    looming = rows(restrict(roi, "roi_class = 'looming' AND r2 > 0.1", allowed_extra=roi_tables()))
    expected = rows(roi & "r2 > 0.1" & (db.analysis.Classification.Roi & {"roi_class": "looming"}).proj())
    assert looming == expected and looming
    assert not restrict(roi, "paramset=x,roi_class=grating", allowed_extra=roi_tables())


def test_values_are_typed(populated):
    roi = populated.analysis.Fit.Roi
    for text, message in [
        ("r2 > 'high'", "r2 is a number"),
        ("roi=abc", "roi is a number"),
        ("selected=yes", "selected is true/false"),
        ("selected > 0", "use = or != with it"),
        ("fish = 1 AND r2 > 0", "fish is text; put the value in single quotes"),
        ("fish BETWEEN 'a' AND 'b'", "BETWEEN needs a number"),
        ("r2 LIKE '1%'", "LIKE compares text"),
        ("fish", "fish on its own is not a condition"),
        ("r2 > fish", "cannot be compared"),
    ]:
        with pytest.raises(RestrictionError, match=message):
            restrict(roi, text)
    with pytest.raises(RestrictionError, match="imaging_metadata holds structured data"):
        restrict(roi, "imaging_metadata = 'x'", allowed_extra=recording_tables())


def test_conditions_return_what_they_say(populated):
    db = populated
    roi = db.analysis.Fit.Roi()
    r2 = {(r["fish"], r["recording"], r["paramset"], r["roi"]): r["r2"] for r in roi.to_dicts()}
    got = {(r["fish"], r["recording"], r["paramset"], r["roi"]) for r in rows(restrict(roi, "r2 BETWEEN 0.1 AND 0.3"))}
    assert got == {k for k, v in r2.items() if v is not None and 0.1 <= v <= 0.3} and got
    assert len(restrict(roi, "fish LIKE 'F%'")) == len(roi)
    assert len(restrict(roi, "NOT fish IN ('F1')")) == len(roi & {"fish": "F2"})
    assert len(restrict(roi, "q_value IS NULL OR q_value IS NOT NULL")) == len(roi)
    assert len(restrict(roi, "fish = 'it''s'")) == 0


def test_key_restriction_prints_as_text(populated):
    db = populated
    keys = key_restriction(db.analysis.AnalysisTask, "genotype='wild type'", allowed_extra=recording_tables())
    assert str(keys) == "genotype='wild type'"
    assert {k["fish"] for k in (db.analysis.Fit & keys).proj().to_dicts()} == {"F2"}
    assert key_restriction(db.analysis.AnalysisTask, "") is None
