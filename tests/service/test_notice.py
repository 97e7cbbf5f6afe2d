"""The public notice is generated from the code's policy objects and cannot drift."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import allocator
from allocator import ALL_MOTIFS, RoundPolicy, SolverConfig
from geodata import AccessParams, NeedParams
from service.application import notice
from service.explanations.legal import POLICY_DOCS, SOLVER_DOCS


def _defaults(cls: type) -> dict[str, Any]:
    return {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(cls)
    }


def _row(text: str, name: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, (name, rows)
    return rows[0]


def test_every_policy_field_is_documented_with_its_default() -> None:
    text = notice.render("md")
    assert notice.UNDOCUMENTED not in text
    for name, default in _defaults(RoundPolicy).items():
        assert name in POLICY_DOCS, f"RoundPolicy.{name} has no French description in POLICY_DOCS"
        row = _row(text, name)
        assert f"| {notice.valeur(default)} |" in row, (name, row)
        assert POLICY_DOCS[name][0] in row
    for cls, docs in (
        (SolverConfig, SOLVER_DOCS),
        (AccessParams, notice.ACCESS_DOCS),
        (NeedParams, notice.NEED_DOCS),
    ):
        for name, default in _defaults(cls).items():
            assert name in docs, f"{cls.__name__}.{name} undocumented"
            assert _row(text, name).endswith(f"| {notice.valeur(default)} |")
    for m in ALL_MOTIFS:
        _row(text, m)


def test_request_keys_come_from_the_pipeline() -> None:
    from service.application.adapter import POLICY_FIELDS

    text = notice.render("md")
    for key, target in POLICY_FIELDS.items():
        assert f"`politique.{key}`" in _row(text, target)


def test_a_new_undocumented_field_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class Extended(RoundPolicy):  # type: ignore[misc]
        new_rule: int = 7

    monkeypatch.setattr(allocator, "RoundPolicy", Extended)
    rows = notice.policy_rows()
    assert next(r for r in rows if r[0] == "`new_rule`")[2] == notice.UNDOCUMENTED


def test_values_are_french() -> None:
    assert notice.valeur(None) == "aucun"
    assert notice.valeur(0.5) == "0,5" and notice.valeur(4000) == "4\u202f000"
    assert notice.valeur(13_000_000.0) == "13\u202f000\u202f000"
    assert notice.valeur(((15.0, 1.0), (30.0, 2 / 3))) == "(15, 1) ; (30, 0,666667)"


def test_html_says_the_same() -> None:
    page = notice.render("html")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    for name in _defaults(RoundPolicy):
        assert f"<code>{name}</code>" in page
    assert "CADA" in page and "<table>" in page


def test_notice_endpoint_is_public(sqlite_client: Any) -> None:
    resp = sqlite_client.get("/v1/notice")
    assert resp.status_code == 200 and resp.mimetype == "text/markdown"
    assert resp.get_data(as_text=True) == notice.render("md")
    html = sqlite_client.get("/v1/notice", headers={"Accept": "text/html"})
    assert html.mimetype == "text/html" and html.get_data(as_text=True) == notice.render("html")
    assert sqlite_client.get("/v1/notice?format=html").mimetype == "text/html"
    assert sqlite_client.get("/v1/notice?format=md").mimetype == "text/markdown"
    bad = sqlite_client.get("/v1/notice?format=docx")
    assert bad.status_code == 406 and bad.mimetype == "application/problem+json"


def test_cli_notice(tmp_path: Path) -> None:
    from service.cli.main import main

    runner = CliRunner()
    out = tmp_path / "notice.html"
    result = runner.invoke(main, ["notice", "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == notice.render("html")
    result = runner.invoke(main, ["notice"])
    assert result.exit_code == 0 and result.output == notice.render("md")


def test_notice_says_a_missing_created_at_ranks_last() -> None:
    """Ties go to the earliest filing instant; an application without createdAt ranks last."""
    text = notice.render("md")
    section = text.split("### 3.4.")[1].split("### 3.5.")[0]
    assert "sans date de dépôt passe après toutes" in section
    assert "décalage horaire" in section


def test_notice_gives_voies_et_delais_de_recours() -> None:
    from service.explanations.legal import VOIES_DE_RECOURS

    section = notice.render("md").split("## 9.")[1]
    for line in VOIES_DE_RECOURS:
        assert line in section
    assert "tribunal administratif" in section and "recours gracieux" in section
