"""docs/CONTRACT.md says what the code does, and every document the code cites is in the repository.

Both directions are checked: every command, route, role, field and motif the contract lists exists
in the code, and everything the code exposes is listed. Its JSON examples are run through the
real request schema and the real engine (one structure, real geodata).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from allocator.motifs import ALL_MOTIFS
from service import create_app
from service.cli.main import main as cli_main
from service.contract.schemas import PolitiqueIn, RoundRequest, StructureIn, parse_round_request

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "docs" / "CONTRACT.md").read_text(encoding="utf-8")
PUBLIC = "public"


def section(title: str, text: str = CONTRACT) -> str:
    """The text under the heading (any level) whose title starts with ``title``."""
    m = re.search(rf"^#+ {re.escape(title)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"docs/CONTRACT.md has no section {title!r}"
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in ``text`` (cells stripped; headers dropped)."""
    rows: list[list[str]] = []
    table: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        for row in table[2:]:  # a header row, a rule row, then the body
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]])
        table = []
    return rows


def code_names(cell: str) -> str:
    m = re.match(r"`([^`]+)`", cell)
    assert m, f"expected a code span in {cell!r}"
    return m.group(1)


def json_blocks(text: str) -> list[dict]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]


# -- command line -------------------------------------------------------------------------------


def cli_commands() -> set[str]:
    ctx = click.Context(cli_main)
    found: set[str] = set()

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None
            if isinstance(cmd, click.Group):
                walk(cmd, [*prefix, name])
            else:
                found.add(" ".join(["allocator", *prefix, name]))

    walk(cli_main, [])
    return found


def test_every_command_is_in_the_contract_and_exists() -> None:
    documented = {code_names(r[0]) for r in table_rows(section("Command line"))}
    assert documented == cli_commands()


# -- HTTP ---------------------------------------------------------------------------------------


def _norm(path: str) -> str:
    return re.sub(r"<[^>]*>|\{[^}]*\}", "{}", path)


def served_routes() -> dict[tuple[str, str], frozenset[str]]:
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True})
    routes: dict[tuple[str, str], frozenset[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/agence", "/static")):
            continue
        roles = getattr(app.view_functions[rule.endpoint], "roles", None)
        for method in sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"}):
            routes[(method, _norm(rule.rule))] = frozenset(roles or {PUBLIC})
    return routes


def documented_routes() -> dict[tuple[str, str], frozenset[str]]:
    routes = {}
    for method, path, roles, _ in table_rows(section("HTTP")):
        names = {r.strip() for r in roles.split(",")}
        routes[(method, _norm(code_names(path)))] = frozenset(
            names if names == {PUBLIC} else names | {"admin"}
        )
    return routes


def test_every_route_and_its_roles_are_in_the_contract() -> None:
    documented, served = documented_routes(), served_routes()
    assert set(documented) == set(served), "routes differ between the contract and the app"
    wrong = {k: (documented[k], served[k]) for k in served if documented[k] != served[k]}
    assert not wrong, f"roles differ (contract, app): {wrong}"


# -- request and result -------------------------------------------------------------------------


def test_field_tables_list_every_field_of_the_schemas() -> None:
    structure = {code_names(r[0]) for r in table_rows(section("Round request").split("Policy")[0])}
    assert structure == set(StructureIn.model_fields)
    politique = {code_names(r[0]) for r in table_rows(section("Round request").split("Policy")[1])}
    assert politique == set(PolitiqueIn.model_fields)
    top = set(re.findall(r"`(\w+)` \(", section("Round request").split("Structure fields")[0]))
    top |= {"structures"}
    assert top == set(RoundRequest.model_fields)


def test_motif_table_lists_every_motif() -> None:
    assert {code_names(r[0]) for r in table_rows(section("Round result"))} == set(ALL_MOTIFS)


@pytest.fixture(scope="module")
def example_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    request = json_blocks(section("Round request"))[0]
    parse_round_request(request)  # the example is a valid request
    folder = tmp_path_factory.mktemp("contract")
    (folder / "req.json").write_text(json.dumps(request), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "allocate", "req.json", "-o", "res.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((folder / "res.json").read_text(encoding="utf-8"))


def test_result_example_has_the_keys_the_engine_writes(example_result: dict) -> None:
    documented = json_blocks(section("Round result"))[0]
    assert list(documented) == list(example_result)
    assert list(documented["decisions"][0]) == list(example_result["decisions"][0])
    assert set(documented["totaux"]) <= set(example_result["totaux"])
    assert set(documented["solveur"]) <= set(example_result["solveur"])
    assert set(example_result["decisions"][0]["motifs"]) <= set(ALL_MOTIFS)


# -- cited documents ----------------------------------------------------------------------------

CITING = ["allocator", "geodata", "service", "tests", "benchmarks", "notebooks", "README.md"]


def test_every_document_the_code_cites_is_in_the_repository() -> None:
    missing = set()
    for root in CITING:
        base = ROOT / root
        files = [base] if base.is_file() else [*base.rglob("*.py"), *base.rglob("*.md")]
        for f in files:
            for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", f.read_text(encoding="utf-8")):
                if not ((ROOT / name).exists() or (ROOT / "docs" / name).exists()):
                    missing.add(f"{f.relative_to(ROOT)} cites {name}")
    assert not missing, sorted(missing)
