"""Notebook hygiene: stored without outputs, paired with their ``py:percent`` twin, public API.

The notebooks themselves are executed by nbmake (``pytest --nbmake notebooks/``); this test
keeps what is committed reviewable: ``.ipynb`` without outputs or execution counts, the same
cells as the paired ``.py`` (jupytext), sanity checks at the end, outputs written under
``out/`` only, and no private names of the project's packages.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
IPYNB = sorted(NOTEBOOKS.glob("*.ipynb"))
PY = sorted(NOTEBOOKS.glob("*.py"))
PRIVATE = re.compile(r"\b(?:allocator|geodata|service)\b[\w.]*\._\w+|import\s+_\w+|\b_[a-z]\w*\(")


def test_every_notebook_is_paired() -> None:
    assert len(IPYNB) >= 4
    assert {p.stem for p in IPYNB} == {p.stem for p in PY}


@pytest.mark.parametrize("path", IPYNB, ids=lambda p: p.name)
def test_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} was executed"
        assert "attachments" not in cell or not cell["attachments"]
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("path", IPYNB, ids=lambda p: p.name)
def test_pair_matches(path: Path) -> None:
    ipynb = nbformat.read(path, as_version=4)
    py = jupytext.read(path.with_suffix(".py"), fmt="py:percent")
    assert _cells(py) == _cells(ipynb), (
        f"{path.name} and its .py differ: run `jupytext --sync notebooks/{path.name}`"
    )


@pytest.mark.parametrize("path", PY, ids=lambda p: p.name)
def test_conventions(path: Path) -> None:
    nb = jupytext.read(path, fmt="py:percent")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    last = code[-1]
    assert "assert" in last, f"{path.name} must end with sanity checks"
    text = "\n".join(code)
    assert 'ROOT / "out"' in text, f"{path.name} must write its outputs under out/"
    private = [m.group(0) for m in PRIVATE.finditer(text)]
    assert not private, f"{path.name} uses private names: {private}"
    assert "matplotlib.pyplot" not in text or "Agg" in text
