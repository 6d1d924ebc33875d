"""The walkthrough notebook runs top to bottom against the test database."""

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


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, cell.source[:60]


def test_walkthrough_runs(clean_db, monkeypatch):
    """Same schema prefix, server and object store as this session: the kernel inherits os.environ."""
    import datajoint as dj

    db = clean_db
    assert os.environ["TECTUM_SCHEMA_PREFIX"] == db.schema_prefix()
    assert os.environ.get("TECTUM_STORE_DIR")  # set by the session's store_dir fixture
    password = dj.config["database.password"]
    monkeypatch.setenv("DJ_PASS", password.get_secret_value() if hasattr(password, "get_secret_value") else str(password or ""))
    monkeypatch.setenv("DJ_HOST", str(dj.config["database.host"]))
    monkeypatch.setenv("DJ_USER", str(dj.config["database.user"]))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError on any failing cell

    text = "\n".join(_text(c.outputs) for c in nb.cells if c.cell_type == "code")
    assert f"schema prefix: {db.schema_prefix()}" in text
    assert "inserted synthetic_fish/synthetic_1" in text
    assert "selected ROIs per class (DataJoint):" in text and "selected ROIs per class (SQL):" in text
    assert "class counts:" in text
    for cls in ("prey", "looming", "dimming"):
        assert cls in text
    images = sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs)
    assert images >= 5  # r2 histogram, one browser per class, clustermap
    assert "report:" in text and "index.html" in text

    # the notebook wrote into this session's database
    key = {"fish": "synthetic_fish", "recording": "synthetic_1"}
    assert len(db.acquisition.RoiTraces.Roi & key) == 150
    assert len(db.analysis.ClassSummary & key) == 2  # default and seed2020
    counts = (db.analysis.ClassSummary.Count & key & {"paramset": "default"}).to_arrays("n_rois")
    assert counts.sum() == (db.analysis.Fit & key & {"paramset": "default"}).fetch1("n_selected") > 0
