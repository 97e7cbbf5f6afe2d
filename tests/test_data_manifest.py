"""The bundled files are exactly those described in DATA.md (size and SHA-256)."""

import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "geodata" / "data"
MANIFEST = re.findall(
    r"^\s*(\d+)\s+([0-9a-f]{64})\s+(\S+)$", (ROOT / "DATA.md").read_text(encoding="utf-8"), re.M
)


def test_manifest_lists_every_bundled_file() -> None:
    listed = {name for _, _, name in MANIFEST}
    on_disk = {p.name for p in DATA.iterdir() if p.is_file()}
    assert listed == on_disk


@pytest.mark.parametrize(("size", "sha256", "name"), MANIFEST, ids=[m[2] for m in MANIFEST])
def test_bundled_file_matches_manifest(size: str, sha256: str, name: str) -> None:
    content = (DATA / name).read_bytes()
    assert len(content) == int(size)
    assert hashlib.sha256(content).hexdigest() == sha256
