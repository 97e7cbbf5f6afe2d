"""Tables of a scenario comparison (notebooks, CSV exports, maps): départements, moved
structures, communes — base against a variant, with coverage per 10,000 fragile inhabitants.
"""

from __future__ import annotations

import pandas as pd

import geodata
from service.analysis.differences import departement_rows
from service.analysis.scenarios import Comparison


def departement_table(comparison: Comparison, variant: str | None = None) -> pd.DataFrame:
    """Per département: need, existing, fair share, posts of the base (and of ``variant``).

    Adds coverage per 10,000 fragile inhabitants before the round, after the base and after the
    variant (``couverture_*``).
    """
    other = comparison.run(variant) if variant else comparison.base
    rows = departement_rows(comparison.prepared, comparison.base, other)
    table = pd.DataFrame(rows).set_index("code")
    need = table["besoin"].where(table["besoin"] > 0)
    table["couverture_avant"] = table["existants"] / need * 1e4
    table["couverture_base"] = (table["existants"] + table["base"]) / need * 1e4
    table["couverture_variante"] = (table["existants"] + table["variante"]) / need * 1e4
    return table


def structure_table(comparison: Comparison, variant: str) -> pd.DataFrame:
    """The moved structures of ``variant`` as a table (one row per structure)."""
    block = next(b for b in comparison.report["variantes"] if b["nom"] == variant)
    rows = [
        {
            **{k: v for k, v in m.items() if k not in ("priorite", "seuil")},
            "causes": ", ".join(m["causes"]),
            "motifsBase": ", ".join(m["motifsBase"]),
            "motifsVariante": ", ".join(m["motifsVariante"]),
            "priorite_base": m["priorite"]["base"],
            "priorite_variante": m["priorite"]["variante"],
        }
        for m in block["structures"]
    ]
    return pd.DataFrame(rows)


def commune_table(comparison: Comparison, variant: str | None = None) -> pd.DataFrame:
    """Per programme commune: need, advisors before, after the base and after ``variant``.

    Granted posts are placed at the host's seat commune (as existing advisors are); coverage is
    advisors per 10,000 fragile inhabitants of the commune.
    """
    table = geodata.round.commune_indicators(comparison.prepared.existing)[
        ["nom", "departement", "population", "fragile_population", "advisors"]
    ].copy()
    other = comparison.run(variant) if variant else comparison.base
    base = pd.Series(comparison.base.grants_by_commune(), dtype=float)
    var = pd.Series(other.grants_by_commune(), dtype=float)
    table["base"] = base.reindex(table.index).fillna(0.0)
    table["variante"] = var.reindex(table.index).fillna(0.0)
    table["ecart"] = table["variante"] - table["base"]
    fragile = table["fragile_population"].where(table["fragile_population"] > 0)
    table["couverture_avant"] = table["advisors"] / fragile * 1e4
    table["couverture_base"] = (table["advisors"] + table["base"]) / fragile * 1e4
    table["couverture_variante"] = (table["advisors"] + table["variante"]) / fragile * 1e4
    return table
