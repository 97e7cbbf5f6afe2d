"""Every dotted name of the project that the code's docstrings, the docs and the README cite
(``service.application.adapter.build_round_input``, ``allocator.rules.quality_factor``…) exists:
a rename or a move cannot leave a stale pointer behind."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_readme_architecture import resolve

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["allocator", "geodata", "service", "benchmarks", "notebooks", "docs", "README.md"]
SUFFIXES = {".py", ".md", ".html"}
REFERENCE = re.compile(r"(?<![\w./-])((?:service|allocator|geodata)(?:\.[A-Za-z_]\w*)+)")
#: Dotted strings that name no object: file names and a Flask extension key.
NOT_OBJECTS = {"allocator.db", "allocator.sqlite3", "allocator.openapi"}


def references() -> dict[str, str]:
    found: dict[str, str] = {}
    for source in SOURCES:
        base = ROOT / source
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        for path in files:
            if path.suffix in SUFFIXES and path.is_file():
                for match in REFERENCE.finditer(path.read_text(encoding="utf-8", errors="ignore")):
                    found.setdefault(match.group(1), str(path.relative_to(ROOT)))
    return found


def resolves(dotted: str) -> bool:
    try:
        resolve(dotted)
    except (ModuleNotFoundError, AttributeError):
        return False
    return True


def test_every_cited_name_exists() -> None:
    found = references()
    assert len(found) > 250
    stale = {
        ref: where for ref, where in found.items() if ref not in NOT_OBJECTS and not resolves(ref)
    }
    assert stale == {}, f"names cited but not found (name: first file citing it): {stale}"
