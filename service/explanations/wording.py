"""French numbers and words of the letters: ``nombre``, ``pluriel``, euros, dates, months,
authors, place names, and the per-round memoisation of repeated wordings."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

# -- formatting ---------------------------------------------------------------------------------

NBSP = "\u202f"
#: ``format`` specifications of :func:`nombre` by number of decimals (the common cases), with
#: and without digit grouping (below 999 in absolute value, no rounding reaches 1,000).
_FORMATS = tuple(f",.{d}f" for d in range(10))
_FORMATS_SIMPLES = tuple(f".{d}f" for d in range(10))
#: Integers up to this magnitude are exact as floats (``f`` formatting goes through a float).
_EXACT_INT = 2**53


def nombre(value: float | int | None, decimales: int = 0) -> str:
    """French number formatting: ``1 234,5`` (narrow no-break space), ``—`` for ``None``."""
    # Fast paths for plain finite floats and ints (tens of calls per decision of a round);
    # every other value goes through the general formatting below, with the same result.
    kind = type(value)
    x: Any = value  # (``type(...) is`` does not narrow for mypy)
    if kind is float:
        if x - x == 0.0 and type(decimales) is int and 0 <= decimales < 10:
            if -999.0 < x < 999.0:  # no digit grouping (no "." either without decimals)
                return format(x, _FORMATS_SIMPLES[decimales]).replace(".", ",")
            return format(x, _FORMATS[decimales]).replace(",", NBSP).replace(".", ",")
    elif kind is int and decimales == 0 and type(decimales) is int:
        if -1000 < x < 1000:
            return str(x)
        if -_EXACT_INT <= x <= _EXACT_INT:
            return format(x, ",").replace(",", NBSP)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    text = f"{value:,.{decimales}f}"
    return text.replace(",", NBSP).replace(".", ",")


def est_pluriel(value: float | int | None, decimales: int = 0) -> bool:
    """Whether a noun after ``nombre(value, decimales)`` takes the plural: from 2 on, as French
    writes it ("0 poste", "1,5 poste", "2 postes"), judged on the number as it is printed."""
    kind = type(value)
    if kind is int:  # (bool is not int here: "oui"/"non" take no plural)
        return value >= 2 or value <= -2  # type: ignore[operator]
    if value is None or kind is bool:
        return False
    try:
        shown = round(float(value), decimales)
    except (TypeError, ValueError, OverflowError):  # NaN, infinities: printed "—"
        return False
    return shown >= 2.0 or shown <= -2.0


def pluriel(
    value: float | int | None, singulier: str, pluriel: str | None = None, decimales: int = 0
) -> str:
    """``value`` in French (:func:`nombre`) and the words that agree with it: ``pluriel(1,
    "poste")`` is ``1 poste``, ``pluriel(3, "poste attribué", "postes attribués")`` is
    ``3 postes attribués`` (``pluriel`` defaults to ``singulier + "s"``). The one rule of
    agreement of every number of the letters and the notice: never "poste(s)"."""
    mots = (pluriel or singulier + "s") if est_pluriel(value, decimales) else singulier
    return f"{nombre(value, decimales)} {mots}"


#: ``postes(n)`` for the usual numbers of posts.
_POSTES = tuple(pluriel(n, "poste") for n in range(1001))


def postes(n: int) -> str:
    """``pluriel(n, "poste")`` (the most frequent agreement: memoised for 0 to 1,000)."""
    if type(n) is int and 0 <= n <= 1000:
        return _POSTES[n]
    return pluriel(n, "poste")


_MOIS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
).split()


def date_en_clair(iso: object) -> str:
    """An ISO-8601 date or date-time as a letter writes it: ``1er juillet 2021``, ``15 juillet
    2021`` (the date part as recorded; anything else is returned on one line, unchanged)."""
    text = une_ligne(iso)
    try:
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        if text[4] != "-" or text[7] != "-" or not 1 <= month <= 12 or not 1 <= day <= 31:
            return text
    except (ValueError, IndexError):
        return text
    return f"{'1er' if day == 1 else day} {_MOIS[month - 1]} {year}"


def mois_en_clair(mois: object) -> str:
    """A round's month ``2021-06`` as ``juin 2021`` (anything else on one line, unchanged)."""
    text = une_ligne(mois)
    try:
        year, month = int(text[0:4]), int(text[5:7])
        if len(text) != 7 or text[4] != "-" or not 1 <= month <= 12:
            return text
    except ValueError:
        return text
    return f"{_MOIS[month - 1]} {year}"


#: Who recorded a step of a round, by the role part of the recorded author (``role:label``
#: of an API token, ``cli:<system user>`` on the command line, or a fixed name).
_AUTEURS = {
    "agence": "un agent de l'ANCT",
    "cli": "un agent de l'ANCT (ligne de commande)",
    "admin": "un administrateur du service",
    "analyste": "un analyste du service",
    "portail": "le portail national",
    "démonstration": "la démonstration du service",
    "import-historique": "l'import de l'historique des comités",
}


def auteur_en_clair(auteur: object) -> str | None:
    """Who recorded a step (a round drafted, a lock, a commit), in words for a letter.

    Never the technical id recorded (``cli:root``, ``agence:7``, a token's label): the role in
    words (the id stays in the explanation's data, for the audit). ``None`` when no one is
    recorded; an author of unknown form is "un utilisateur du service".
    """
    if auteur is None or auteur == "":
        return None
    role = str(auteur).split(":", 1)[0]
    return _AUTEURS.get(role, "un utilisateur du service")


def oui_non(value: object) -> str:
    if value is None:
        return "non renseigné"
    return "oui" if value else "non"


# -- reference names (static bundled data, cached per process) ----------------------------------


@cache
def noms_de_lieux() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Names of communes, départements and EPCI (COG 2026, source S1).

    :func:`geodata.layers.reference_names`: the same dicts as ``load_communes()`` & co. give,
    read from geodata's disk cache without importing pandas (which alone costs a fresh process
    about half a second). Shared: read only.
    """
    from geodata import layers

    names = layers.reference_names()
    return names.communes, names.departements, names.epcis


def nom_commune(code: str | None) -> str:
    return noms_de_lieux()[0].get(code or "", code or "—")


def nom_departement(code: str | None) -> str:
    return noms_de_lieux()[1].get(code or "", code or "—")


def une_ligne(value: object) -> str:
    """``value`` as text on one line: every line break (``str.splitlines``'s, as the Markdown
    reader of :func:`markdown_html` splits) becomes a space, so that a free text written into
    a letter (a structure's name, a comment, a reason) cannot open a heading or a list item."""
    text = str(value)
    lines = text.splitlines()
    return text if len(lines) == 1 and lines[0] == text else " ".join(lines)


def ligne_du_tour(lignes: dict[Any, str], key: Any, render: Callable[..., str], *args: Any) -> str:
    """The round's line for ``key``, ``render(*args)`` once (``key`` ``None``: rendered, not kept).

    A round has a few distinct texts for most lines of the explanation: they are kept in the
    round's ``lignes`` by a key of everything they depend on. Callers build no key (``None``)
    for values that compare equal yet print differently (``2`` and ``2.0``, ``-0.0``).
    """
    if key is None:
        return render(*args)
    text = lignes.get(key)
    if text is None:
        text = lignes[key] = render(*args)
    return text


def nombre_memo(cache: dict[float, str], value: Any, decimales: int) -> str:
    """``nombre(value, decimales)``, formatted once per distinct float of the round.

    Only non-zero, non-NaN floats are kept (``-0.0 == 0.0`` but they print differently).
    """
    if type(value) is float:
        text = cache.get(value)
        if text is None:
            text = nombre(value, decimales)
            if value and value == value:
                cache[value] = text
        return text
    return nombre(value, decimales)


# Lists of numbers with one decimal, formatted by one ``str.format`` call when they are all
# finite floats: ``_`` groups digits exactly as ``,`` does (then becomes the narrow no-break
# space), and the text around the numbers holds neither ``_`` nor ``.``.
# (Without grouping when every value is below 999 in absolute value.)
_LISTES_1 = (
    tuple("|".join(["{:.1f}"] * n) for n in range(21)),
    tuple("|".join(["{:_.1f}"] * n) for n in range(21)),
)
_PAR_POSTE_1 = (
    tuple(", ".join(f"poste {k} : {{:.1f}}" for k in range(1, n + 1)) for n in range(21)),
    tuple(", ".join(f"poste {k} : {{:_.1f}}" for k in range(1, n + 1)) for n in range(21)),
)


_FLOAT = {float}


def _floats_finis(values: Any) -> int:
    """0 unless ``values`` are 1 to 20 plain finite floats (not ints, bools or numpy); then
    1 when they are all below 999 in absolute value (no digit grouping), else 2."""
    if len(values) > 20 or set(map(type, values)) != _FLOAT:
        return 0
    total = sum(values)
    if total - total != 0.0:  # an infinite or NaN value (or a sum beyond the float range)
        return 0
    return 1 if -999.0 < min(values) and max(values) < 999.0 else 2


def nombres_1(values: Any) -> list[str]:
    """``[nombre(v, 1) for v in values]``."""
    if not values:
        return []
    genre = _floats_finis(values)
    if genre == 1:
        return _LISTES_1[0][len(values)].format(*values).replace(".", ",").split("|")
    if genre == 2:
        text = _LISTES_1[1][len(values)].format(*values)
        return text.replace("_", NBSP).replace(".", ",").split("|")
    return [nombre(v, 1) for v in values]


def par_poste(values: Any) -> str:
    """``poste 1 : 541,7, poste 2 : 3,6``: one value per post, as :func:`nombre` words it."""
    genre = _floats_finis(values)
    if genre == 1:
        return _PAR_POSTE_1[0][len(values)].format(*values).replace(".", ",")
    if genre == 2:
        text = _PAR_POSTE_1[1][len(values)].format(*values)
        return text.replace("_", NBSP).replace(".", ",")
    return ", ".join([f"poste {k} : {nombre(v, 1)}" for k, v in enumerate(values, 1)])


def cle_texte(*values: Any) -> tuple[Any, ...] | None:
    """A cache key for values whose French wording depends on their value alone, else ``None``.

    Strings, ``None``, ints and non-zero floats only: ``-0.0 == 0.0`` but they print
    differently, and other types (``bool``, numpy scalars) are worded by their own rules.
    """
    for v in values:
        kind = type(v)
        if kind is float:
            if not v or v != v:
                return None
        elif kind is not int and kind is not str and v is not None:
            return None
    return values


def euros(value: float | None) -> str:
    return nombre(value, 0 if value is None or float(value).is_integer() else 2) + " €"


#: Words of a committee's reason quoted in the opening paragraph (it is quoted whole in part 2).
EXTRAIT_MOTS = 15


def note_courte(value: Any) -> str:
    """A score as the opening paragraph writes it: ``62``, ``62,5``, ``82,79``."""
    if value is None or isinstance(value, bool):
        return nombre(value)
    x = round(float(value), 2)
    return nombre(x, 0 if x.is_integer() else 1 if round(x, 1) == x else 2)


def extrait(text: object, mots: int = EXTRAIT_MOTS) -> str:
    """``text`` on one line, cut after ``mots`` words (then ending with ``…``)."""
    words = une_ligne(text).split()
    return " ".join(words[:mots]) + (" …" if len(words) > mots else "")
