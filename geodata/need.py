"""Need: fragile inhabitants per commune, and its aggregates.

Formula
-------
For a commune ``i`` of région ``r`` (métropole or DROM; the COM are outside the programme):

- ``P_i``: INSEE population municipale (COG 2026, ``communes_2026.parquet``);
- ``s_i``: La MedNum's *indice de fragilité numérique* ``score_global`` of the commune
  (IRIS-population-weighted), normalised **within the région**: 100 = the région's average,
  higher = more fragile. It ranks communes inside a région but says nothing about régions
  relative to each other;
- ``u_r``: unemployment rate 15-64 of the région, ``Σ chômeurs / Σ actifs`` (INSEE RP 2021,
  comparateur), and ``u`` the same rate over every programme commune;
- ``z_r``: share of the région's population living in a ZRR commune (``oui`` = 1,
  ``partiel`` = 1/2, ``non`` = 0), and ``z`` the national share.

The within-région index is combined with a *région factor* built from the nationally
comparable figures, so that régions compare::

    R_r    = (u_r / u) ** beta  *  (1 + gamma * z_r) / (1 + gamma * z)
    need_i = min(P_i,  K * P_i * (s_i / 100) * R_r)

``K`` is calibrated so that ``Σ_i need_i = national_total`` (13,000,000 people far from
digital tools, the call's figure); the cap at ``P_i`` never binds with the defaults (the
largest share is about 0.7) but keeps the formula safe for any parameter, and the calibration
iterates until the capped total matches. Defaults: ``beta = 0.5`` (an elasticity below 1:
unemployment is a proxy of the socio-economic side only), ``gamma = 0.5`` (a région entirely in
ZRR weighs 1.5× a région without ZRR, for the access side: rural broadband and mobile gaps that
the région-normalised index cannot compare).

Fallbacks (column ``need_fallback``, never a silent zero)
---------------------------------------------------------
- ``indice_absent``: no index for the commune (the 7 communes re-created after 2018, whose IRIS
  were counted in their former parent) → the population-weighted mean ``s`` of the indexed
  communes of its département;
- ``indice_nul``: score 0 (component not computed, 8 tiny communes) → same département mean;
- ``indice_absent_departement``: no index in the whole département (971 Guadeloupe, 973 Guyane,
  976 Mayotte) → the national population-weighted mean of ``s`` (≈ 99: each région averages
  100 by construction), the région factor still carrying the DROM's unemployment;
- ``population_nulle`` (appended, ``;``-separated): population 0, hence need 0;
- ``com_hors_programme``: the COM (975, 977, 978, 984, 986-989): need is NaN, no geometry,
  ``in_programme`` is False.
When a région has no unemployment figure (Mayotte's RP is not in the comparateur), ``u_r`` is
the rate of its zone (all DROM together, or all métropole; else the national rate) and
``region_factor_source`` says so.

Limits
------
The index dates from 2020 with INSEE inputs of 2016-2017; ZRR is a historical rurality flag
(replaced by FRR in 2024); QPV (priority urban neighbourhoods) cannot enter the formula: no
commune-level QPV file is bundled, only a per-structure flag in the 2021 host list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geodata.checks import check_columns
from geodata.errors import GeodataError

if TYPE_CHECKING:
    import pandas as pd

NATIONAL_FRAGILE_POPULATION = 13_000_000.0

NEED_INPUT_COLUMNS = (
    "code_insee",
    "departement",
    "region",
    "zone",
    "population",
    "score_global",
    "chomeurs",
    "actifs",
    "zrr",
)

ZRR_WEIGHT = {"oui": 1.0, "partiel": 0.5, "non": 0.0}


@dataclass(frozen=True)
class NeedParams:
    """Parameters of the need formula (see the module docstring).

    Parameters
    ----------
    national_total
        Calibration target: fragile inhabitants in the programme's territory.
    unemployment_exponent
        ``beta``, elasticity of the région factor to the relative unemployment rate.
    zrr_weight
        ``gamma``, extra weight of a région's population share in ZRR.
    """

    national_total: float = NATIONAL_FRAGILE_POPULATION
    unemployment_exponent: float = 0.5
    zrr_weight: float = 0.5


def _weighted_mean(values: pd.Series, weights: pd.Series) -> float:
    w = weights.to_numpy(float)
    v = values.to_numpy(float)
    if w.sum() > 0:
        return float((v * w).sum() / w.sum())
    return float(v.mean()) if len(v) else float("nan")


def fallback_scores(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Score used per commune and the fallback reason (``""`` when the own score is used).

    Parameters
    ----------
    table
        Programme communes with ``departement, population, score_global`` (NaN when absent).

    Returns
    -------
    (score_used, reason)
        Two Series aligned on ``table``.
    """
    import pandas as pd

    score = table["score_global"].astype(float)
    valid = score.notna() & (score > 0)
    reason = pd.Series("", index=table.index, dtype=object)
    reason[score.isna()] = "indice_absent"
    reason[score.notna() & (score <= 0)] = "indice_nul"
    if not valid.any():
        raise GeodataError("no commune has a fragility score: cannot define a fallback")
    national = _weighted_mean(score[valid], table["population"][valid])
    v = table[valid]
    sums = (
        v.assign(_sp=v["score_global"] * v["population"], _n=1.0)
        .groupby("departement")[["_sp", "population", "score_global", "_n"]]
        .sum()
    )
    # population-weighted mean; plain mean for a département whose indexed communes are empty
    dep_mean = (sums["_sp"] / sums["population"]).where(
        sums["population"] > 0, sums["score_global"] / sums["_n"]
    )
    dep_fallback = table["departement"].map(dep_mean)
    no_dep = ~valid & dep_fallback.isna()
    reason[no_dep] = "indice_absent_departement"
    used = score.where(valid, dep_fallback).where(~no_dep, national)
    return used.astype(float), reason


def region_factors(table: pd.DataFrame, params: NeedParams) -> pd.DataFrame:
    """Région factor ``R_r`` and its inputs, one row per région (see module docstring).

    Parameters
    ----------
    table
        Programme communes with ``region, zone, population, chomeurs, actifs, zrr``.
    params
        Exponent and ZRR weight.

    Returns
    -------
    pandas.DataFrame
        Indexed by région: ``unemployment_rate, zrr_share, region_factor,
        region_factor_source``.
    """
    import pandas as pd

    t = table.assign(
        _zrr_pop=table["population"] * table["zrr"].map(ZRR_WEIGHT).fillna(0.0),
    )
    g = t.groupby("region").agg(
        chomeurs=("chomeurs", "sum"),
        actifs=("actifs", "sum"),
        population=("population", "sum"),
        zrr_pop=("_zrr_pop", "sum"),
        zone=("zone", "first"),
    )
    national_u = g["chomeurs"].sum() / g["actifs"].sum()
    zone_g = g.groupby("zone")[["chomeurs", "actifs"]].sum()
    zone_u = zone_g["chomeurs"] / zone_g["actifs"]
    own = g["actifs"] > 0
    zone_rate = g["zone"].map(zone_u.where(zone_g["actifs"] > 0))
    u = (g["chomeurs"] / g["actifs"].where(own)).where(own, zone_rate)
    source = np.where(own, "region", np.where(zone_rate.notna(), "zone", "national"))
    u = u.fillna(national_u)
    z = g["zrr_pop"] / g["population"].where(g["population"] > 0, 1)
    z_nat = g["zrr_pop"].sum() / g["population"].sum()
    gamma = params.zrr_weight
    factor = (
        (u / national_u) ** params.unemployment_exponent * (1 + gamma * z) / (1 + gamma * z_nat)
    )
    return pd.DataFrame(
        {
            "unemployment_rate": u,
            "zrr_share": z,
            "region_factor": factor,
            "region_factor_source": source,
        },
        index=g.index,
    )


def calibrate(raw: np.ndarray, cap: np.ndarray, total: float) -> np.ndarray:
    """Scale ``raw`` so that ``Σ min(cap, K·raw) = total``; returns the capped values.

    Iterates: communes whose scaled value exceeds their cap are fixed at the cap and ``K`` is
    recomputed on the others (terminates in at most ``len(raw)`` steps).
    """
    raw = np.asarray(raw, float)
    cap = np.asarray(cap, float)
    if total > cap.sum() + 1e-9:
        raise GeodataError(f"national_total {total:,.0f} exceeds the population {cap.sum():,.0f}")
    capped = np.zeros(len(raw), bool)
    while True:
        free = ~capped
        denom = raw[free].sum()
        if denom <= 0:
            raise GeodataError("calibration impossible: no commune with a positive raw need")
        k = (total - cap[capped].sum()) / denom
        out = np.where(capped, cap, k * raw)
        newly = free & (out > cap)
        if not newly.any():
            return out
        capped |= newly


def compute_need(table: pd.DataFrame, params: NeedParams | None = None) -> pd.DataFrame:
    """Fragile population per commune (see the module docstring for the formula).

    Parameters
    ----------
    table
        One row per commune with the columns of :data:`NEED_INPUT_COLUMNS`: ``zone`` is
        ``metro``/``drom``/``com``; ``score_global`` NaN when absent; ``chomeurs``/``actifs``
        the 15-64 unemployed and active counts; ``zrr`` in ``oui``/``non``/``partiel`` (NaN
        counts as ``non``).
    params
        Formula parameters; defaults to :class:`NeedParams`.

    Returns
    -------
    pandas.DataFrame
        ``table`` with ``in_programme, score_used, need_fallback, unemployment_rate,
        zrr_share, region_factor, fragile_population`` (NaN for the COM).
    """
    params = params or NeedParams()
    check_columns(table, NEED_INPUT_COLUMNS, "table")
    out = table.copy()
    out["population"] = out["population"].fillna(0).astype("int64")
    prog = (out["zone"] != "com").to_numpy()
    out["in_programme"] = prog
    p = out[prog]
    used, reason = fallback_scores(p)
    rf = region_factors(p, params)
    factor = p["region"].map(rf["region_factor"]).to_numpy(float)
    pop = p["population"].to_numpy(float)
    raw = pop * used.to_numpy(float) / 100.0 * factor
    need = calibrate(raw, pop, params.national_total)

    reason = reason.where(p["population"] > 0, (reason + ";population_nulle").str.lstrip(";"))
    out["score_used"] = np.nan
    out.loc[prog, "score_used"] = used.to_numpy()
    out["need_fallback"] = "com_hors_programme"
    out.loc[prog, "need_fallback"] = reason.to_numpy()
    for col in ("unemployment_rate", "zrr_share", "region_factor"):
        out[col] = np.nan
        out.loc[prog, col] = p["region"].map(rf[col]).to_numpy(float)
    out["fragile_population"] = np.nan
    out.loc[prog, "fragile_population"] = need
    return out


def aggregate(
    table: pd.DataFrame,
    by: str | Sequence[str],
    *,
    advisors: str = "advisors",
) -> pd.DataFrame:
    """Sum population, fragile population and advisors per group; add advisors per 10k fragile.

    Parameters
    ----------
    table
        Programme communes with ``population, fragile_population`` and the ``advisors`` column.
    by
        Grouping column(s): ``epci_siren``, ``departement``, ``region``...
    advisors
        Name of the advisor count column.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``: ``population, fragile_population, advisors,
        advisors_per_10k_fragile`` (NaN where the fragile population is 0).
    """
    keys = [by] if isinstance(by, str) else list(by)
    check_columns(table, [*keys, "population", "fragile_population", advisors], "table")
    g = table.groupby(keys, sort=True)[["population", "fragile_population", advisors]].sum()
    g = g.rename(columns={advisors: "advisors"})
    fragile = g["fragile_population"].where(g["fragile_population"] > 0)
    g["advisors_per_10k_fragile"] = g["advisors"] / fragile * 1e4
    return g
