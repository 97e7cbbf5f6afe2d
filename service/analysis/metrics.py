"""Equity and reach metrics of a round or a scenario — one definition for every screen and report.

All metrics compare *posts per département* (existing advisors plus what a round grants) with the
départements' need (fragile population, ``geodata.need``). Definitions:

- ``share_away_from_need`` = ½ Σ_d |p_d/P − n_d/N|: the share of posts that would have to move
  between départements to reach the need-proportional split (0 = perfectly proportional; the
  Loosemore–Hanby index of apportionment).
- ``gini`` and ``theil`` of posts per 10,000 fragile inhabitants across départements, each
  département weighted by its fragile population (0 = equal everywhere).
- ``fragile_within_reach``: fragile inhabitants living in a commune with at least one advisor
  within the E2SFCA catchment (``geodata.AccessParams``), before and after the round's grants
  (granted posts are placed at the applicant's seat commune, like existing advisors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import geodata


@dataclass(frozen=True)
class EquityMetrics:
    posts: int
    share_away_from_need: float
    gini: float
    theil: float
    fragile_within_reach: float
    fragile_total: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def share_away_from_need(posts: Mapping[str, float], need: Mapping[str, float]) -> float:
    """½ Σ |p_d/P − n_d/N| over the départements of ``need``."""
    total_posts = sum(posts.get(d, 0.0) for d in need)
    total_need = sum(need.values())
    if total_posts <= 0 or total_need <= 0:
        return 0.0
    return 0.5 * sum(abs(posts.get(d, 0.0) / total_posts - n / total_need) for d, n in need.items())


def _rates(posts: Mapping[str, float], need: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    codes = sorted(d for d, n in need.items() if n > 0)
    weights = np.array([need[d] for d in codes], dtype=float)
    rates = np.array([posts.get(d, 0.0) / need[d] * 1e4 for d in codes], dtype=float)
    return rates, weights


def gini(posts: Mapping[str, float], need: Mapping[str, float]) -> float:
    """Need-weighted Gini coefficient of posts per 10,000 fragile inhabitants."""
    rates, weights = _rates(posts, need)
    mean = float(np.average(rates, weights=weights)) if len(rates) else 0.0
    if mean <= 0:
        return 0.0
    diff = np.abs(rates[:, None] - rates[None, :])
    w = weights[:, None] * weights[None, :]
    return float((diff * w).sum() / (2 * weights.sum() ** 2 * mean))


def theil(posts: Mapping[str, float], need: Mapping[str, float]) -> float:
    """Need-weighted Theil T index of posts per 10,000 fragile inhabitants (0 log 0 = 0)."""
    rates, weights = _rates(posts, need)
    mean = float(np.average(rates, weights=weights)) if len(rates) else 0.0
    if mean <= 0:
        return 0.0
    ratio = rates / mean
    terms = np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    return float(np.average(terms, weights=weights))


def fragile_within_reach(existing: Mapping[str, int] | None) -> tuple[float, float]:
    """(fragile inhabitants with an advisor within reach, all fragile inhabitants)."""
    table = geodata.round.commune_indicators(existing)
    fragile = table["fragile_population"].fillna(0.0)
    reach = float(fragile[table["has_advisor_within_reach"].astype(bool)].sum())
    return reach, float(fragile.sum())


def advisors_after(
    existing: Mapping[str, int] | None, grants_by_commune: Mapping[str, int]
) -> dict[str, int]:
    """Existing advisors by code commune plus a round's grants at the hosts' seat communes."""
    base = dict(geodata.bundled_existing_advisors() if existing is None else existing)
    for code, n in grants_by_commune.items():
        if n:
            base[code] = base.get(code, 0) + int(n)
    return base


def equity(
    posts_by_departement: Mapping[str, float],
    need_by_departement: Mapping[str, float],
    advisors_by_commune: Mapping[str, int] | None,
) -> EquityMetrics:
    """All metrics for one state of the programme (posts per département and their sites)."""
    reach, total = fragile_within_reach(advisors_by_commune)
    values = (
        share_away_from_need(posts_by_departement, need_by_departement),
        gini(posts_by_departement, need_by_departement),
        theil(posts_by_departement, need_by_departement),
    )
    if not all(math.isfinite(v) for v in values):
        raise ValueError("equity metrics are not finite: check the need figures")
    return EquityMetrics(
        posts=round(sum(posts_by_departement.values())),
        share_away_from_need=values[0],
        gini=values[1],
        theil=values[2],
        fragile_within_reach=reach,
        fragile_total=total,
    )


def _by_code(totals: Any) -> dict[str, float]:
    """A pandas Series of totals by département code as a plain dict (values unchanged)."""
    return {str(code): value for code, value in totals.to_dict().items()}


def round_equity(
    result: Mapping[str, Any], existing: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Before/after metrics of a contract round result (``service.application.pipeline.run_round``).

    ``existing`` is the advisors state the round was solved against (``None`` = bundled 2021).
    """
    base = dict(geodata.bundled_existing_advisors() if existing is None else existing)
    need_table = geodata.round.commune_indicators(base)
    by_departement = need_table.groupby("departement")
    need = _by_code(by_departement["fragile_population"].sum())
    before = _by_code(by_departement["advisors"].sum())
    grants: dict[str, int] = {}
    after_posts = dict(before)
    for d in result["decisions"]:
        n = int(d["nombreConseillersAttribues"])
        if n:
            t = d["explication"]["territoire"] if "territoire" in d.get("explication", {}) else None
            code = t["codeCommune"] if t else None
            dep = t["departement"] if t else None
            if code is None or dep is None:
                raise ValueError(f"decision {d['idPG']}: no territory in its explanation")
            grants[code] = grants.get(code, 0) + n
            after_posts[dep] = after_posts.get(dep, 0) + n
    return {
        "avant": equity(before, need, base).as_dict(),
        "apres": equity(after_posts, need, advisors_after(base, grants)).as_dict(),
    }
