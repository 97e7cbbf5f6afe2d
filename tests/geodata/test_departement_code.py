"""One check of a département given by a user: its code or its name, else a French refusal."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata import UnknownDepartement, programme_departement, programme_departements
from geodata.codes import DEPARTEMENT_FORM, departement_code

NAMES = programme_departements()


def test_the_programme_is_the_metropole_and_the_five_drom() -> None:
    assert len(NAMES) == 101
    assert {"01", "2A", "2B", "59", "95", "971", "972", "973", "974", "976"} <= set(NAMES)
    assert not {"20", "975", "977", "984", "988"} & set(NAMES)


@pytest.mark.parametrize(
    ("given_", "code"),
    [
        ("59", "59"),
        ("Nord", "59"),
        ("nord", "59"),
        (" NORD ", "59"),
        ("2a", "2A"),
        ("Corse-du-Sud", "2A"),
        ("haute corse", "2B"),
        ("La Réunion", "974"),
        ("Reunion", "974"),
        ("Côtes-d'Armor", "22"),
        ("Val-d’Oise", "95"),
    ],
)
def test_a_departement_is_read_from_its_code_or_its_name(given_: str, code: str) -> None:
    assert programme_departement(given_) == code


@pytest.mark.parametrize("wrong", ["9", "99", "1", "20", "975", "Nord-Est", "", "059", "2C"])
def test_departement_9_99_and_unknown_names_are_refused_naming_the_valid_form(wrong: str) -> None:
    with pytest.raises(UnknownDepartement) as err:
        programme_departement(wrong)
    assert str(err.value) == f"{DEPARTEMENT_FORM} ; reçu {wrong!r}"
    assert "01 à 95, 2A, 2B, 971 à 974 ou 976" in str(err.value)


@given(st.sampled_from(sorted(NAMES)))
def test_every_code_and_every_name_of_the_programme_is_accepted(code: str) -> None:
    assert departement_code(code, NAMES) == code
    assert departement_code(NAMES[code], NAMES) == code
    assert departement_code(NAMES[code].upper(), NAMES) == code


@given(st.text(max_size=30))
def test_anything_else_is_refused_never_guessed(value: str) -> None:
    """The answer is a programme département that the value names exactly (code or name,
    up to case, accents and punctuation), or the French refusal: never another département."""
    try:
        code = departement_code(value, NAMES)
    except UnknownDepartement as exc:
        assert str(exc).startswith("département attendu : ")
    else:
        assert code in NAMES
        assert value.strip().upper() == code or _letters(value) in _name_forms(NAMES[code])


def _letters(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


def _name_forms(name: str) -> set[str]:
    """The name's letters, with and without its leading article (La Réunion, Réunion)."""
    article = re.match(r"(?i)(la|le|les|l)\b\W*", name)
    return {_letters(name), _letters(name[article.end() :] if article else name)}
