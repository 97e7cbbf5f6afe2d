"""Codes INSEE: format checks and re-keying of older codes to COG 2026.

Pure functions: the referential (the set of COG 2026 codes) and the history (``old -> new``)
are arguments, so tests can feed toy tables; :mod:`geodata.layers` feeds the bundled ones.
:func:`rekey_codes` works on plain lists (no pandas import on the allocation path).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from geodata.errors import (
    MalformedCommuneCode,
    RekeyedCodeWarning,
    UnknownCommuneCode,
    UnknownDepartement,
)

if TYPE_CHECKING:
    import pandas as pd

CODE_INSEE_PATTERN = r"^(?:\d{5}|2[AB]\d{3})$"
_CODE_RE = re.compile(CODE_INSEE_PATTERN)


#: The valid form of a programme département, as users are told it.
DEPARTEMENT_FORM = (
    "département attendu : code 01 à 95, 2A, 2B, 971 à 974 ou 976, ou nom (p. ex. 59 ou Nord)"
)


def _name_key(name: str) -> str:
    """Case, accents, hyphens, apostrophes and a leading article do not matter in a name."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^a-z0-9]+", " ", plain).split()
    if words and words[0] in ("la", "le", "les", "l"):
        words = words[1:]
    return " ".join(words)


def departement_code(value: str, names: Mapping[str, str]) -> str:
    """The programme département named by ``value``: its code, or its name.

    Parameters
    ----------
    value
        A code as written in the COG (``"01"``, ``"2A"``, ``"974"``; ``"2a"`` is read as
        ``"2A"``) or a name (``"Nord"``, ``"la réunion"``, ``"Cotes d'Armor"``: case, accents,
        hyphens, apostrophes and a leading article are ignored). ``"1"`` is not ``"01"``:
        codes are never padded.
    names
        ``{code: nom}`` of the programme's départements (:func:`geodata.layers
        .programme_departements` for the bundled ones).

    Returns
    -------
    str
        The code, a key of ``names``.

    Raises
    ------
    UnknownDepartement
        Anything else, with a French message naming the valid form.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.upper() in names:
            return text.upper()
        key = _name_key(text)
        if key:
            for code, nom in names.items():
                if _name_key(nom) == key:
                    return code
    raise UnknownDepartement(value, DEPARTEMENT_FORM)


def check_code_series(codes: pd.Series, source: str) -> pd.Series:
    """Check that every value of ``codes`` is a well-formed code INSEE; return it unchanged.

    Raises
    ------
    MalformedCommuneCode
        With every malformed value (numbers, 4-character codes from a CSV read without
        ``dtype=str``, missing values...).
    """
    _check_values(codes.tolist(), source)
    return codes


def _check_values(values: Sequence[object], source: str) -> None:
    # A plain loop beats the pandas string accessors here (arrow-backed str, 35k values).
    match = _CODE_RE.match
    bad = [v for v in values if not (isinstance(v, str) and match(v))]
    if bad:
        raise MalformedCommuneCode([v if isinstance(v, str) else repr(v) for v in bad], source)


def _rekey_values(
    values: Sequence[str],
    known: Container[str],
    history: Mapping[str, str],
    source: str,
    stacklevel: int,
) -> dict[str, str] | None:
    """Checked ``{old: new}`` of the codes not in ``known`` (None when all are known).

    ``stacklevel`` is the one given to the public caller: the warning is issued one frame
    deeper, attributed to the same place.
    """
    is_known = [v in known for v in values]
    if all(is_known):
        return None
    old = [v for v, k in zip(values, is_known, strict=True) if not k]
    unknown = [v for v in old if v not in history]
    if unknown:
        raise UnknownCommuneCode(unknown, source)
    mapping = {v: history[v] for v in old}
    warnings.warn(RekeyedCodeWarning(mapping, source), stacklevel=stacklevel + 1)
    return mapping


def rekey_series(
    codes: pd.Series,
    known: Container[str],
    history: Mapping[str, str],
    source: str,
    *,
    stacklevel: int = 2,
) -> pd.Series:
    """Re-key a column of codes INSEE to COG 2026.

    Codes already in ``known`` are kept; older codes found in ``history`` are replaced by
    their COG 2026 commune, with one :class:`~geodata.errors.RekeyedCodeWarning` naming them;
    any other code raises.

    Parameters
    ----------
    codes
        The codes (strings).
    known
        The COG 2026 codes (a set, or any container: membership is tested per value).
    history
        ``{code_ancien: code_insee_2026}``.
    source
        Name used in messages (file or argument).
    stacklevel
        As for :func:`warnings.warn`: 2 attributes the warning to the direct caller.

    Returns
    -------
    pandas.Series
        Same index, COG 2026 codes.

    Raises
    ------
    MalformedCommuneCode, UnknownCommuneCode
    """
    import pandas as pd

    check_code_series(codes, source)
    values = codes.tolist()
    mapping = _rekey_values(values, known, history, source, stacklevel)
    if mapping is None:
        return codes
    return pd.Series([mapping.get(v, v) for v in values], index=codes.index, dtype=codes.dtype)


def rekey_codes(
    codes: Iterable[str],
    known: Container[str],
    history: Mapping[str, str],
    source: str,
    *,
    stacklevel: int = 2,
) -> list[str]:
    """List version of :func:`rekey_series` (same checks, same single warning)."""
    values = list(codes)
    if not values:
        return []
    _check_values(values, source)
    mapping = _rekey_values(values, known, history, source, stacklevel)
    if mapping is None:
        return values
    return [mapping.get(v, v) for v in values]
