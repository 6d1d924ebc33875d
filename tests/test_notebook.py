"""The walkthrough notebook runs top to bottom against the test database, with DataJoint's own settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def _text(outputs) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_committed_notebook_has_no_outputs_and_no_workarounds():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, cell.source[:60]
    source = "\n".join(c.source for c in code)
    # it imports the installed package and uses DataJoint's settings as they are
    for hack in ("sys.path", "filterwarnings", "database.password", "DJ_PASS", "find_spec"):
        assert hack not in source, hack
    assert "schemas.activate(" in source and "dj.Diagram" in source and ".to_pandas()" in source
    assert "dj.U(" in source and ".aggr(" in source and ".populate(" in source


def test_walkthrough_runs(clean_db, monkeypatch):
    """The kernel inherits this session's environment: its server (DJ_*), schema prefix and object store."""
    db = clean_db
    assert os.environ["TECTUM_SCHEMA_PREFIX"] == db.active_prefix()
    assert os.environ.get("TECTUM_STORE_DIR")  # set by the session's store_dir fixture
    # this checkout, not whatever is installed elsewhere
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError on any failing cell (the SQL twin's asserts included)

    cells = [c for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(_text(c.outputs) for c in cells)
    assert f"schema prefix: {db.active_prefix()}" in text
    # a diagram, or the real table names when Graphviz is absent
    svg = any("image/svg+xml" in out.get("data", {}) for c in cells for out in c.outputs)
    assert svg or ("__fit__roi" in text and "#param_set" in text)
    assert "ingest: 2 inserted" in text
    assert "selected ROIs per class (DataJoint):" in text
    assert "fraction of selected ROIs per genotype and class (SQL):" in text
    images = sum("image/png" in out.get("data", {}) for c in cells for out in c.outputs)
    assert images >= 2

    # the notebook wrote into this session's database
    key = {"fish": "F1", "recording": "R1"}
    assert len(db.acquisition.RoiTraces.Roi & key) == 150
    assert len(db.analysis.ClassSummary & key) == 2  # default and seed2020
    counts = (db.analysis.ClassSummary.Count & key & {"paramset": "default"}).to_arrays("n_in_class")
    assert counts.sum() == (db.analysis.Fit & key & {"paramset": "default"}).fetch1("n_selected") > 0
