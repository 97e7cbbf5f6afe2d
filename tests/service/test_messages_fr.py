"""Messages are French and human: one month rule and message everywhere, no regular expression
and no English word shown to users."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from service.cli.main import main
from service.contract.schemas import InvalidRequest, check_mois, json_error, parse_round_request
from tests.service.test_ui import csrf, flashes, raw_tokens, sign_in

MOIS_MESSAGE = "mois attendu au format AAAA-MM ; reçu '07/2021'"
REGEX_MARKS = re.compile(r"[\^$\[\]\\{}|]")


def _has_month_form(s: str) -> bool:
    """Oracle of the form: four ASCII digits, a hyphen, a month 01 to 12."""
    return (
        len(s) == 7
        and s[4] == "-"
        and all(c in "0123456789" for c in s[:4] + s[5:])
        and 1 <= int(s[5:]) <= 12
    )


def _is_month(s: str) -> bool:
    """Oracle: the form, in the programme's years 2000 to 2099."""
    return _has_month_form(s) and s.startswith("20")


@given(
    st.one_of(
        st.text(max_size=9),
        st.from_regex(r"[0-9]{4}-[0-9]{2}", fullmatch=True),
        st.builds("{:04d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13)),
    )
)
def test_check_mois_is_the_one_month_rule_with_a_human_message(value: str) -> None:
    try:
        assert check_mois(value) == value
    except ValueError as exc:
        assert not _is_month(value)
        if _has_month_form(value):
            assert str(exc) == (
                f"mois hors de la période du programme (années 2000 à 2099) ; reçu {value!r}"
            )
        else:
            assert str(exc) == f"mois attendu au format AAAA-MM ; reçu {value!r}"
    else:
        assert _is_month(value)


def test_mois_message_names_the_form_on_the_api_never_a_regex(
    sqlite_client: Any, sqlite_tokens: dict[str, dict[str, str]]
) -> None:
    for path, body in (
        ("/v1/rounds/mensuel", {"mois": "07/2021"}),
        ("/v1/rounds", {"mois": "07/2021", "quota": 3}),
        ("/v1/allocate", {"mois": "07/2021", "quota": 0, "structures": []}),
    ):
        resp = sqlite_client.post(path, json=body, headers=sqlite_tokens["agence"])
        assert resp.status_code in (400, 422), resp.get_json()
        errors = resp.get_json()["errors"]
        assert {"champ": "mois", "message": MOIS_MESSAGE} in errors, (path, errors)
        assert not any(REGEX_MARKS.search(e["message"]) for e in errors)


def test_mois_message_is_the_same_on_the_review_page(sqlite_app: Any) -> None:
    tokens = raw_tokens(sqlite_app)
    client = sqlite_app.test_client()
    sign_in(client, tokens["agence"])
    resp = client.post(
        "/agence/tours",
        data={"csrf_token": csrf(client, "/agence/tours"), "mois": "07/2021", "quota": "4"},
    )
    assert resp.status_code == 302
    page = flashes(client, "/agence/tours")
    assert MOIS_MESSAGE in page and "[0-9]" not in page and "motif attendu" not in page


def test_mois_message_is_the_same_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite3'}")
    for argv in (["round", "draft", "--mois", "07/2021"], ["simulate", "--mois", "07/2021"]):
        result = CliRunner().invoke(main, argv)
        assert result.exit_code == 2
        assert result.output == f"entrée invalide : mois : {MOIS_MESSAGE}\n"


def test_a_literal_refusal_lists_the_values_without_an_english_or() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_round_request(
            {
                "quota": 1,
                "structures": [
                    {
                        "idPG": 1,
                        "type": "ASSOCIATION",
                        "codeCommune": "01283",
                        "nombreConseillersSouhaites": 1,
                    }
                ],
            }
        )
    (error,) = [e for e in err.value.errors if e.champ == "structures[0].type"]
    assert error.message.endswith("'COLLECTIVITE', 'GIP' ou 'PRIVATE'"), error.message
    assert " or " not in error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{bad", "JSON invalide (ligne 1, colonne 2)"),
        ('{"quota": 1,\n  ]', "JSON invalide (ligne 2, colonne 3)"),
    ],
)
def test_invalid_json_is_said_in_french_with_its_place(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        json.loads(text)
    assert json_error(err.value) == message
    request = tmp_path / "requete.json"
    request.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["allocate", str(request)])
    assert result.exit_code == 2
    assert result.output == f"entrée invalide : (corps) : {message}\n"
