"""Territorial diagnostic: need, existing advisors and access, per département / EPCI / commune.

Columns (per row of the chosen level)
-------------------------------------
- ``population``: INSEE population municipale; ``fragile_population``: need (see
  :mod:`geodata.need`, calibrated to 13 M nationally);
- ``advisors``: existing advisors hosted there (bundled 2021 state, or the given mapping);
- ``advisors_per_10k_fragile``: ``10^4 × advisors / fragile_population`` (administrative);
- ``accessibility_10k``: E2SFCA advisors per 10,000 fragile inhabitants within reach, averaged
  over the fragile population (``10^4 × Σ P_i A_i / Σ P_i``; straight-line × detour / speed
  proxy, no road network, see :mod:`geodata.access`);
- ``share_without_advisor``: share of the fragile population with no advisor within the
  catchment (45 min by default);
- ``communes``, ``communes_fallback``: number of communes, and of communes whose need uses a
  fallback score.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from geodata.access import AccessParams
from geodata.errors import GeodataError
from geodata.round import commune_indicators

LEVELS = ("departement", "epci", "commune")


def _summarise(c: pd.DataFrame, by: str) -> pd.DataFrame:
    lacking = c["fragile_population"].where(~c["has_advisor_within_reach"], 0.0)
    g = c.assign(_lacking=lacking, _fb=(c["need_fallback"] != "").astype(int), _n=1).groupby(
        by, sort=True, dropna=False
    )
    out = g.agg(
        population=("population", "sum"),
        fragile_population=("fragile_population", "sum"),
        advisors=("advisors", "sum"),
        served=("served", "sum"),
        lacking=("_lacking", "sum"),
        communes=("_n", "sum"),
        communes_fallback=("_fb", "sum"),
    )
    fragile = out["fragile_population"].where(out["fragile_population"] > 0)
    out["advisors_per_10k_fragile"] = out["advisors"] / fragile * 1e4
    out["accessibility_10k"] = out["served"] / fragile * 1e4
    out["share_without_advisor"] = out["lacking"] / fragile
    return out.drop(columns=["served", "lacking"])


def diagnostic_table(
    departement: str | None = None,
    existing: Mapping[str, int] | None = None,
    *,
    level: str | None = None,
    params: AccessParams | None = None,
) -> pd.DataFrame:
    """Need and coverage table, nationally per département or inside one département.

    Parameters
    ----------
    departement
        ``None`` for the national table (one row per programme département); a code
        (``"01"``, ``"2A"``, ``"974"``) for the rows of that département.
    existing
        ``{code_insee: nombre}`` replacing the bundled 2021 advisors.
    level
        ``"departement"`` (default without ``departement``), ``"epci"`` or ``"commune"``
        (default with a ``departement``).
    params
        Accessibility parameters.

    Returns
    -------
    pandas.DataFrame
        Indexed by code (département, EPCI SIREN or code INSEE), with ``nom`` and the columns
        of the module docstring; sorted by code.

    Raises
    ------
    GeodataError
        Unknown département or level.
    """
    level = level or ("departement" if departement is None else "commune")
    if level not in LEVELS:
        raise GeodataError(f"level must be one of {LEVELS}, got {level!r}")
    c = commune_indicators(existing, params)
    if departement is not None:
        if departement not in set(c["departement"]):
            raise GeodataError(
                f"unknown département {departement!r} (programme: métropole and 971-976; "
                "codes as strings, e.g. '01', '2A', '974')"
            )
        c = c[c["departement"] == departement]
    if level == "departement":
        out = _summarise(c, "departement")
        names = c.groupby("departement")[["departement_nom", "region"]].first()
        return names.rename(columns={"departement_nom": "nom"}).join(out)
    if level == "epci":
        c = c.assign(epci_siren=c["epci_siren"].fillna("sans_epci"))
        out = _summarise(c, "epci_siren")
        names = c.groupby("epci_siren")[["epci_nom"]].first().rename(columns={"epci_nom": "nom"})
        return names.join(out)
    lacking = c["has_advisor_within_reach"].map({True: 0.0, False: 1.0})
    out = c[
        [
            "nom",
            "epci_siren",
            "population",
            "fragile_population",
            "advisors",
            "advisors_per_10k_fragile",
            "accessibility_10k",
        ]
    ].copy()
    out["share_without_advisor"] = lacking.where(c["fragile_population"] > 0)
    out["score_global"] = c["score_global"]
    out["need_fallback"] = c["need_fallback"]
    out["zrr"] = c["zrr"]
    out["france_services"] = c["france_services"]
    return out.sort_index()


#: French labels of the table's columns, as users read them (command line, CSV, workbook).
LABELS_FR: dict[str, str] = {
    "nom": "nom",
    "region": "région (code)",
    "epci_siren": "EPCI (SIREN)",
    "population": "population",
    "fragile_population": "population fragile",
    "advisors": "conseillers",
    "advisors_per_10k_fragile": "conseillers / 10 000 fragiles",
    "accessibility_10k": "accessibles / 10 000 fragiles",
    "share_without_advisor": "% fragiles sans conseiller à portée",
    "score_global": "indice de fragilité",
    "need_fallback": "besoin estimé par repli",
    "zrr": "ZRR",
    "france_services": "France Services",
    "communes": "communes",
    "communes_fallback": "communes au besoin estimé par repli",
}


def table_fr(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`diagnostic_table` as users read it: French labels (:data:`LABELS_FR`), the share
    without an advisor in %, numbers to 3 decimals, the index named ``code``. Columns without a
    label keep their name."""
    out = table.copy()
    if "share_without_advisor" in out:
        out["share_without_advisor"] = out["share_without_advisor"] * 100
    floats = out.select_dtypes("float").columns
    out[floats] = out[floats].round(3)
    out.index = out.index.rename("code")
    return out.rename(columns=LABELS_FR)
