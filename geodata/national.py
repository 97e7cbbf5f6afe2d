"""The national commune table: every bundled layer joined on the COG 2026 code, computed once.

This module only *feeds* the pure functions of :mod:`geodata.need`, :mod:`geodata.coverage`
and :mod:`geodata.access` with the bundled files; the results are cached per process, and the
table of the default :class:`~geodata.need.NeedParams` across processes (:mod:`geodata.cache`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from geodata import cache as disk_cache
from geodata import layers
from geodata.need import NeedParams, compute_need

if TYPE_CHECKING:
    import pandas as pd


def commune_table(params: NeedParams | None = None) -> pd.DataFrame:
    """All 34,969 communes with need, flags and projected positions (cached, read-only).

    Columns: those of :func:`geodata.layers.load_communes` plus the MedNum scores
    (``score_global`` ...), ``chomeurs, actifs`` (RP 2021), ``zrr`` (``oui``/``non``/
    ``partiel``, ``inconnu`` for the 7 re-created communes and the COM), ``france_services``
    (number of sites on 2024-08-01) and the need columns of
    :func:`geodata.need.compute_need`. Indexed by ``code_insee`` (sorted).

    Treat the result as read-only: it is shared by every caller of the process.
    """
    # One cache entry per parameter set: ``commune_table()`` and ``commune_table(None)`` must not
    # build the table twice (functools.cache keys on how the arguments were passed).
    return _commune_table(params or NeedParams())


@cache
def _commune_table(params: NeedParams) -> pd.DataFrame:
    if params == NeedParams():
        return disk_cache.cached_frame(
            "commune_table", params, layers.DATA_DIR, lambda: _build_commune_table(params)
        )
    return _build_commune_table(params)


def _build_commune_table(params: NeedParams) -> pd.DataFrame:
    communes = layers.shared_communes(layers.DATA_DIR / "communes_2026.parquet")
    frag = layers.shared_fragilite(layers.DATA_DIR / "fragilite_numerique_communes_2026.csv")
    comp = layers.shared_comparateur(layers.DATA_DIR / "insee_comparateur_communes_2024.csv")
    zrr = layers.shared_zrr(layers.DATA_DIR / "zrr_communes_2026.csv")
    fs = layers.shared_france_services(layers.DATA_DIR / "france_services_2024-08-01.csv")

    # The comparateur has one row per COG 2024 commune (and the arrondissements of Paris, Lyon,
    # Marseille instead of the commune): summing per COG 2026 code merges both cases.
    by_code = comp.groupby("code_insee_2026")
    unemp = (
        by_code[["pop_15_64_chomage_2021", "pop_15_64_active_2021"]]
        .sum()
        .rename(columns={"pop_15_64_chomage_2021": "chomeurs", "pop_15_64_active_2021": "actifs"})
    )
    t = communes.set_index("code_insee", drop=False).sort_index()
    t.index.name = None
    scores = frag.set_index("code_insee")[list(layers.FRAGILITE_SCORES)]
    t = t.join(scores).join(unemp)
    t[["chomeurs", "actifs"]] = t[["chomeurs", "actifs"]].fillna(0.0)
    zrr_of = dict(zip(zrr["code_insee"].tolist(), zrr["zrr"].tolist(), strict=True))
    t["zrr"] = [zrr_of.get(c, "inconnu") for c in t.index.tolist()]
    fs_count = fs.groupby("code_insee_2026").size()
    t["france_services"] = fs_count.reindex(t.index, fill_value=0).astype("int64").to_numpy()
    t["zone"] = t["zone"].astype(object)
    out = compute_need(t, params)
    out["zrr"] = out["zrr"].astype(object)
    return out


def programme_table(params: NeedParams | None = None) -> pd.DataFrame:
    """:func:`commune_table` restricted to the programme (métropole + DROM), read-only."""
    return _programme_table(params or NeedParams())


@cache
def _programme_table(params: NeedParams) -> pd.DataFrame:
    t = _commune_table(params)
    return t[t["in_programme"].to_numpy()]
