"""The import contracts of ``[tool.importlinter]`` (pyproject.toml) hold, and no import cycle.

- ``lint-imports``: the layers of ``service/`` (cli > app > ui > http > analysis > application >
  explanations > store > contract), the store imports no API schema, only the command line
  imports the demo job, ``allocator/`` imports no edge;
- grimp: the module graph of ``service/`` has no cycle at all (every strongly connected component
  is a single module), function-level imports included: an import moved into a function to hide
  a cycle still counts.

Known violations that other work removes are listed once, as ``ignore_imports`` of the contracts;
the cycle check below skips the edges ignored by the ``acyclic`` contract.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grimp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def ignored_edges(contract: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``"a -> b"`` entries of a contract's ``ignore_imports`` as ``(a, b)``."""
    out = set()
    for entry in contract.get("ignore_imports", ()):
        importer, imported = (part.strip() for part in entry.split("->"))
        out.add((importer, imported))
    return out


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def service_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("service", include_external_packages=False, cache_dir=None)
    return {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith("service")}
        for m in graph.modules
        if m.startswith("service")
    }


def test_import_contracts_are_kept() -> None:
    """``lint-imports`` with the project's configuration: every contract kept."""
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_the_contracts_name_the_planned_layers() -> None:
    layers = contracts()["layers"]["layers"]
    assert layers == [
        "service.cli",
        "service.app",
        "service.ui",
        "service.http",
        "service.analysis",
        "service.application",
        "service.explanations",
        "service.store",
        "service.contract",
        "service.speed",
    ]
    assert contracts()["store-no-api-schema"]["forbidden_modules"] == ["service.contract.documents"]


def test_no_import_cycle_between_service_modules() -> None:
    edges = service_graph()
    for importer, imported in ignored_edges(contracts()["acyclic"]):
        edges.get(importer, set()).discard(imported)
    assert cycles(edges) == []


def test_every_ignored_import_still_exists() -> None:
    """An ``ignore_imports`` entry whose import is gone must be deleted with it."""
    edges = service_graph()
    for contract in contracts().values():
        for importer, imported in ignored_edges(contract):
            assert imported in edges.get(importer, ()), f"{importer} -> {imported} is gone"


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 7).map(str), st.sets(st.integers(0, 7).map(str), max_size=4), max_size=8
    )
)
def test_cycles_agree_with_reachability(edges: dict[str, set[str]]) -> None:
    """Two modules are in one reported cycle iff each reaches the other."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    found = cycles(edges)
    where = {m: k for k, component in enumerate(found) for m in component}
    nodes = set(edges) | {m for targets in edges.values() for m in targets}
    for a in nodes:
        for b in nodes:
            if a != b:
                mutual = b in reach(a) and a in reach(b)
                assert mutual == (a in where and where.get(a) == where.get(b))


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"a"}}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycles_examples(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(edges) == expected
