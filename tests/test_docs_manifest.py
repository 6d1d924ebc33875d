"""The examples of docs/manifest.md and README's manifest section run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "manifest.md"


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def readme_manifest_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme[readme.index("## The manifest") : readme.index("## Tables")]


@pytest.mark.parametrize("index", range(len(blocks(DOC.read_text(encoding="utf-8"), "python"))))
def test_python_examples_run(tmp_path, index):
    code = blocks(DOC.read_text(encoding="utf-8"), "python")[index]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, f"{DOC.name} python block {index + 1}", "exec"), {})
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("source", ["docs/manifest.md", "README.md"])
def test_toml_examples_are_valid_manifests(tmp_path, source):
    from tectum.manifest import parse_manifest

    text = readme_manifest_section() if source == "README.md" else DOC.read_text(encoding="utf-8")
    examples = blocks(text, "toml")
    assert examples
    for i, example in enumerate(examples):
        path = tmp_path / f"example{i}.toml"
        path.write_text(example, encoding="utf-8")
        manifest = parse_manifest(path)  # structure, keys and names; the files are not opened
        assert not manifest.problems, manifest.problems
        assert manifest.entries and "flash" in manifest.stimulus_types


def test_every_key_is_in_the_docs_table():
    from tectum.manifest import MANIFEST_KEYS

    table = DOC.read_text(encoding="utf-8").split("## Keys of a `[[recording]]` table")[1].split("\n## ")[0]
    for key in MANIFEST_KEYS:
        assert f"`{key}`" in table, key
