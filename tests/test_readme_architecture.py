"""The README's architecture section matches the folders, and every rule it lists exists.

The section names every package of ``service/`` (its layers) and of the project; its table
"Where each rule lives" names each rule's home as a dotted path (``allocator.rules.quality_factor``)
or, after a first path in the same cell, as a bare name of that path's module (``cost_zone``).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section() -> str:
    start = README.index("## Architecture\n")
    return README[start : README.index("\n## ", start + 1)]


def rules_table() -> list[tuple[str, str]]:
    table = section().split("### Where each rule lives", 1)[1]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("rule", "---"):
            rows.append((cells[0], cells[1]))
    return rows


def resolve(dotted: str) -> object:
    """The object at ``dotted`` (a module, or an attribute of the longest importable prefix)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_service_layer_and_module_is_named() -> None:
    text = section()
    service = ROOT / "service"
    for child in sorted(service.iterdir()):
        if child.is_dir() and (child / "__init__.py").exists():
            assert f"{child.name}/" in text, f"service/{child.name}/ is not in the architecture"
        elif child.suffix == ".py" and child.name != "__init__.py":
            assert child.name in text, f"service/{child.name} is not in the architecture"
    for package in ("allocator/", "geodata/", "service/"):
        assert package in text


def test_the_layers_are_in_the_import_contracts_order() -> None:
    from tests.test_architecture import contracts

    layers = [name.removeprefix("service.") for name in contracts()["layers"]["layers"]]
    text = section()
    positions = []
    for layer in layers:
        label = f"{layer}.py" if (ROOT / "service" / f"{layer}.py").exists() else f"{layer}/"
        positions.append(text.index(label))
    assert positions == sorted(positions), "the drawing lists the layers out of order"


def test_every_rule_home_exists() -> None:
    rows = rules_table()
    assert len(rows) >= 25
    for rule, home in rows:
        names = re.findall(r"`([A-Za-z_][\w./]*)`", home)
        assert names, f"{rule}: no home named"
        module = None
        for name in names:
            if name.endswith(".py"):  # a file: allocator/model.py
                name = name.removesuffix(".py").replace("/", ".")
            if "." in name:
                obj = resolve(name)
                module = name if isinstance(obj, ModuleType) else name.rsplit(".", 1)[0]
            else:
                assert module is not None, f"{rule}: bare name {name} before any module"
                resolve(f"{module}.{name}")


def test_the_layout_names_every_service_module() -> None:
    start = README.index("- Layout of `service/`")
    end = README.find("\n## ", start)
    named = set(re.findall(r"`([\w./]+)`", README[start : None if end < 0 else end]))
    missing = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "service").rglob("*.py"))
        if p.name != "__init__.py"
        and "versions" not in p.parts
        and p.stem not in named
        and p.name not in named
    ]
    assert missing == [], f"modules the README's layout does not name: {missing}"
