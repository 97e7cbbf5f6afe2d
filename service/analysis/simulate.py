"""Policy simulation: a year of monthly rounds, in memory, several policies side by side.

``simulate("2021-03", "2022-02")`` replays one round per month (on the 15th, as in
:mod:`service.application.cycle`) with applications arriving over time, for each policy
independently:

- ``premier_arrive`` — first come, first served
  (:func:`allocator.baselines.first_come_first_served`);
- ``enveloppes_departementales`` — département envelopes only: the quota split by Webster on need,
  then inside each département by Webster on the applicants' gains
  (:func:`allocator.baselines.need_proportional`);
- ``moteur`` — the engine (:func:`service.application.pipeline.solve_prepared`).

Each round calls the same pipeline functions as the service (``prepare_round`` →
``prepared_input`` → engine or baseline) on a contract request whose ``conseillersExistants`` is
the policy's own state (no store; nothing bundled is added: the simulation starts from zero
advisors in March 2021, before the first wave).

Applications
------------
- **Historical** (2021-03 .. 2021-05): the 1,443 placed first-wave structures of the bundled file,
  as :func:`service.application.history.portal_documents` builds them (their granted number as their
  request;
  synthetic scores, préfet opinions and submission dates, fixed seed: 3-40 days before their
  committee).
- **Synthetic** (from 2021-06): :func:`synthetic_applications` — ``synthetic_per_month``
  applications a month (default :data:`SYNTHETIC_PER_MONTH`), seat communes drawn with
  probability proportional to fragile population, type COMMUNE 70 % / EPCI 25 % / COLLECTIVITE
  5 %, request ``1 + Poisson(0.6)`` capped at 4, score ``N(65, 15)`` clipped to 0-100, 5 %
  négatif préfet opinions, submission day uniform in the month; seeded by ``(seed, month)``.
  Labelled ``synthetique`` like the demo's fields.

Rules of the simulated cycle
----------------------------
- Quota of a month: :func:`service.application.cycle.default_quota` of the policy's remaining
envelope over
  the months left until the simulation's last month.
- An application received by the 15th enters that month's round. After a round, an applicant
  whose request is not fully served stays in complementary review for the next rounds, for at
  most :data:`MAX_ROUNDS` rounds in all; an applicant the rules exclude (type, score, préfet
  opinion: engine bound 0) leaves at once.

Indicators (per month and at the end, per policy)
-------------------------------------------------
posts per 10,000 fragile inhabitants by département; the share of posts away from the
need-proportional split (``½ Σ_d |posts_d − webster_d| / Σ posts``, Webster of the posts held on
need); the share of fragile inhabitants with an advisor within reach (E2SFCA reach of
:func:`geodata.round.commune_indicators`); envelope use (posts / national envelope); the State's
cost of the month's grants and the hosts' co-funding (``cofinancementEur``: standard cost − State's
cost, from the applications' ``cofinancementEur`` / ``cofinancementPart``).

Money
-----
``budget_eur`` gives the programme a budget in euros beside the envelope in posts: each month's
round gets the budget left (``politique.budgetEur`` = budget − State's cost so far) and
``budgetUtilise`` is the share spent. The engine and first come, first served respect it; the
département-envelopes baseline does not (:func:`allocator.baselines.need_proportional`), so its
share may exceed 1. ``politique`` overrides the engine's policy in every round (e.g.
``{"cofinancement": "prioritaire"}``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator import programme
from service.analysis import runs
from service.application import cycle

POLICIES: dict[str, str] = {
    "premier_arrive": "premier arrivé, premier servi",
    "enveloppes_departementales": "enveloppes départementales (besoin)",
    "moteur": "moteur d'allocation",
}
SYNTHETIC_PER_MONTH = 150
SYNTHETIC_FROM = "2021-06"
SYNTHETIC_ID_BASE = 1_000_000
MAX_ROUNDS = 3


# -- applications -------------------------------------------------------------------------------


def historical_applications(seed: int = 2021) -> list[dict[str, Any]]:
    """The placed 2021 structures as portal documents (see the module docstring)."""
    import geodata
    from service.application.history import portal_documents

    table = geodata.load_structures_2021()
    return portal_documents(table[table["code_insee_2026"].notna()], seed=seed)


def synthetic_applications(mois: str, n: int, seed: int, start_id: int) -> list[dict[str, Any]]:
    """``n`` synthetic applications submitted during ``mois`` (rule in the module docstring)."""
    from geodata.national import programme_table

    if n <= 0:
        return []
    t = programme_table()
    weights = t["fragile_population"].to_numpy(float)
    codes = t.index.to_numpy().astype(str)
    y, m = cycle.parse_mois(mois)
    rng = np.random.default_rng([seed, y, m])
    picks = rng.choice(len(codes), size=n, p=weights / weights.sum())
    kinds = rng.choice(["COMMUNE", "EPCI", "COLLECTIVITE"], size=n, p=[0.70, 0.25, 0.05])
    requested = np.minimum(4, 1 + rng.poisson(0.6, size=n))
    scores = np.clip(np.round(rng.normal(65, 15, size=n)), 0, 100)
    negative = rng.random(n) < 0.05
    days = rng.integers(1, 29, size=n)
    seconds = rng.integers(0, 86_400, size=n)
    docs = []
    for k in range(n):
        req = int(requested[k])
        docs.append(
            {
                "idPG": start_id + k,
                "type": str(kinds[k]),
                "nom": f"Candidature synthétique {mois} n° {k + 1}",
                "codeCommune": str(codes[picks[k]]),
                "nombreConseillersSouhaites": req,
                "qualiteProjet": int(scores[k]),
                "prefet": [
                    {
                        "avisPrefet": "NÉGATIF" if negative[k] else "POSITIF",
                        "nombreConseillersPrefet": 0 if negative[k] else req,
                    }
                ],
                "coselec": [],
                "createdAt": f"{mois}-{int(days[k]):02d}T{int(seconds[k]) // 3600:02d}:"
                f"{int(seconds[k]) % 3600 // 60:02d}:00Z",
                "synthetique": ["tout"],
            }
        )
    return docs


# -- state ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class PolicyState:
    """One policy's trajectory: grants per applicant, advisors per commune, rounds seen."""

    name: str
    granted: dict[int, int] = dataclasses.field(default_factory=dict)
    existing: dict[str, int] = dataclasses.field(default_factory=dict)
    rounds_seen: dict[int, int] = dataclasses.field(default_factory=dict)
    closed: set[int] = dataclasses.field(default_factory=set)
    consumed: int = 0
    cost_eur: float = 0.0
    cofunding_eur: float = 0.0


@dataclasses.dataclass
class Simulation:
    """Result of :func:`simulate` (plain tables, JSON/CSV-ready)."""

    months: list[str]
    policies: list[str]
    monthly: pd.DataFrame
    departements: pd.DataFrame
    final_grants: dict[str, dict[int, int]]
    seconds: float
    parameters: dict[str, Any]


def _request(
    docs: Sequence[dict[str, Any]],
    state: PolicyState,
    quota: int,
    mois: str,
    politique: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    structures = []
    for d in docs:
        g = state.granted.get(d["idPG"], 0)
        doc = dict(d)
        doc["coselec"] = (
            [{"nombreConseillersCoselec": g, "avisCoselec": "POSITIF"}] if g > 0 else []
        )
        structures.append(doc)
    payload: dict[str, Any] = {
        "quota": quota,
        "mois": mois,
        "structures": structures,
        "conseillersExistants": [
            {"codeCommune": c, "nombre": n} for c, n in sorted(state.existing.items()) if n > 0
        ],
    }
    if politique:
        payload["politique"] = dict(politique)
    return payload


def _solve(
    name: str, payload: dict[str, Any]
) -> tuple[dict[int, int], dict[int, int], float, float]:
    """One round of policy ``name``: ``(grants, engine bounds, State cost, co-funding)``."""
    from allocator import baselines
    from allocator.model import build_model
    from service.application import adapter, pipeline
    from service.contract.schemas import parse_round_request

    request = parse_round_request(payload)
    prepared = pipeline.prepare_round(request)
    policy = adapter.policy_from_request(request)
    _, round_input = pipeline.prepared_input(prepared, policy)
    if name == "moteur":
        result = pipeline.solve_prepared(prepared, policy)
        if result["status"] == "INFEASIBLE":  # pragma: no cover - no locks in a simulation
            raise RuntimeError(f"round {payload['mois']} infeasible: {result.get('conflits')}")
        grants = runs.grants(result)
    elif name == "premier_arrive":
        grants = baselines.first_come_first_served(round_input, policy)
    elif name == "enveloppes_departementales":
        grants = baselines.need_proportional(round_input, policy)
    else:
        raise ValueError(f"unknown policy {name!r}; expected one of {sorted(POLICIES)}")
    m = build_model(round_input, policy)
    bounds = dict(zip(m.ids, m.upper, strict=True))
    cost = sum(a.cost_eur * grants.get(a.id_pg, 0) for a in round_input.applicants)
    standard = sum(
        (a.cost_eur if a.standard_cost_eur is None else a.standard_cost_eur)
        * grants.get(a.id_pg, 0)
        for a in round_input.applicants
    )
    return grants, bounds, float(cost), float(standard - cost)


def _departement_needs() -> tuple[dict[str, float], dict[str, str]]:
    import geodata

    geo = geodata.round_geodata([], existing={})
    return {d.code: d.need for d in geo.departements}, {d.code: d.nom for d in geo.departements}


def _indicators(state: PolicyState, needs: dict[str, float]) -> tuple[dict[str, int], float, float]:
    """Posts by département, share away from the need split, fragile share within reach."""
    from geodata.round import commune_indicators

    by_dep = {code: 0 for code in needs}
    for code, n in state.existing.items():
        dep = programme.departement_of(code)
        by_dep[dep] = by_dep.get(dep, 0) + n
    total = sum(by_dep.values())
    if total:
        fair = programme.fair_shares(needs, total)
        away = sum(abs(by_dep[d] - fair[d]) for d in needs) / (2 * total)
    else:
        away = 0.0
    table = commune_indicators(state.existing or {})
    fragile = table["fragile_population"].to_numpy(float)
    reach = table["has_advisor_within_reach"].to_numpy(bool)
    within = float(fragile[reach].sum() / fragile.sum()) if total else 0.0
    return by_dep, float(away), within


def _check_policies(policies: Sequence[str]) -> None:
    """Refuse unknown policy names (:class:`InvalidRequest` naming them and the known ones)."""
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        from service.contract.schemas import FieldError, InvalidRequest
        from service.explanations.wording import pluriel

        inconnues = pluriel(len(unknown), "politique inconnue", "politiques inconnues")
        raise InvalidRequest(
            [
                FieldError(
                    "politiques",
                    f"{inconnues} : {', '.join(unknown)} ; attendu : {', '.join(sorted(POLICIES))}",
                )
            ]
        )


def _arrivals(months: Sequence[str], seed: int, per_month: int) -> list[dict[str, Any]]:
    """Historical applications, then ``per_month`` synthetic ones a month from SYNTHETIC_FROM."""
    apps = historical_applications(seed)
    next_id = SYNTHETIC_ID_BASE
    for mois in months:
        if mois >= SYNTHETIC_FROM:
            apps += synthetic_applications(mois, per_month, seed, next_id)
            next_id += per_month
    return apps


@dataclasses.dataclass(frozen=True)
class _Cycle:
    """The rules every simulated round shares (see :func:`simulate`)."""

    last: str
    envelope: int
    budget_eur: float | None
    politique: Mapping[str, Any] | None


def _play_month(
    st: PolicyState, apps: Sequence[dict[str, Any]], mois: str, rules: _Cycle
) -> dict[str, Any]:
    """One month's round of policy ``st.name``: updates ``st``, returns the month's figures."""
    cutoff = cycle.applications_cutoff(mois)
    docs = [a for a in apps if a["idPG"] not in st.closed and cycle.received_before(a, cutoff)]
    quota = cycle.default_quota(rules.envelope - st.consumed, mois, rules.last)
    granted_now = 0
    cost = cofunding = 0.0
    politique = dict(rules.politique or {})
    if rules.budget_eur is not None:
        politique["budgetEur"] = max(0.0, rules.budget_eur - st.cost_eur)
    asked = sum(a["nombreConseillersSouhaites"] - st.granted.get(a["idPG"], 0) for a in docs)
    if docs and quota > 0:
        grants, bounds, cost, cofunding = _solve(
            st.name, _request(docs, st, quota, mois, politique)
        )
        for a in docs:
            i = a["idPG"]
            g = grants.get(i, 0)
            if g:
                st.granted[i] = st.granted.get(i, 0) + g
                code = a["codeCommune"]
                st.existing[code] = st.existing.get(code, 0) + g
                granted_now += g
            st.rounds_seen[i] = st.rounds_seen.get(i, 0) + 1
            done = st.granted.get(i, 0) >= a["nombreConseillersSouhaites"]
            if done or bounds.get(i, 0) == 0 or st.rounds_seen[i] >= MAX_ROUNDS:
                st.closed.add(i)
    st.consumed += granted_now
    st.cost_eur += cost
    st.cofunding_eur += cofunding
    return {
        "candidats": len(docs),
        "asked": asked,
        "quota": quota,
        "attribues": granted_now,
        "cost": cost,
        "cofunding": cofunding,
    }


def _monthly_row(
    mois: str, st: PolicyState, month: Mapping[str, Any], away: float, within: float, rules: _Cycle
) -> dict[str, Any]:
    budget_eur = rules.budget_eur
    return {
        "mois": mois,
        "politique": st.name,
        "candidats": month["candidats"],
        "postesDemandes": int(month["asked"]),
        "quota": month["quota"],
        "attribues": month["attribues"],
        "cumul": st.consumed,
        "enveloppeUtilisee": round(st.consumed / rules.envelope, 6),
        "partHorsRepartitionBesoin": round(away, 6),
        "populationFragileAPortee": round(within, 6),
        "coutEtatEur": round(month["cost"], 2),
        "coutEtatCumulEur": round(st.cost_eur, 2),
        "cofinancementEur": round(month["cofunding"], 2),
        "cofinancementCumulEur": round(st.cofunding_eur, 2),
        "budgetEur": budget_eur,
        "budgetUtilise": None if not budget_eur else round(st.cost_eur / budget_eur, 6),
    }


def _departement_rows(
    mois: str,
    name: str,
    by_dep: Mapping[str, int],
    needs: Mapping[str, float],
    names: Mapping[str, str],
) -> list[dict[str, Any]]:
    return [
        {
            "mois": mois,
            "politique": name,
            "departement": d,
            "nom": names.get(d, ""),
            "postes": n,
            "postesPour10000Fragiles": round(n / needs[d] * 1e4, 6) if needs.get(d) else None,
        }
        for d, n in sorted(by_dep.items())
    ]


def simulate(
    first: str = "2021-03",
    last: str = "2022-02",
    *,
    policies: Sequence[str] = tuple(POLICIES),
    seed: int = 2021,
    synthetic_per_month: int | None = None,
    applications: Sequence[dict[str, Any]] | None = None,
    envelope: int = programme.NATIONAL_ENVELOPE,
    budget_eur: float | None = None,
    politique: Mapping[str, Any] | None = None,
) -> Simulation:
    """Simulate monthly rounds ``first..last`` under each policy (see the module docstring).

    ``applications`` replaces the historical + synthetic arrivals (tests, scenarios);
    ``envelope`` is the national envelope the monthly quotas are taken from; ``budget_eur`` the
    programme's budget in euros (``None``: none); ``politique`` the rounds' policy overrides.
    """
    t0 = time.perf_counter()
    _check_policies(policies)
    months = cycle.month_range(first, last)
    per_month = SYNTHETIC_PER_MONTH if synthetic_per_month is None else synthetic_per_month
    if applications is None:
        apps = _arrivals(months, seed, per_month)
    else:
        apps = [dict(a) for a in applications]
    rules = _Cycle(last, envelope, budget_eur, politique)
    needs, names = _departement_needs()
    states = {p: PolicyState(p) for p in policies}
    monthly: list[dict[str, Any]] = []
    dep_rows: list[dict[str, Any]] = []
    for mois in months:
        for name, st in states.items():
            month = _play_month(st, apps, mois, rules)
            by_dep, away, within = _indicators(st, needs)
            monthly.append(_monthly_row(mois, st, month, away, within, rules))
            dep_rows += _departement_rows(mois, name, by_dep, needs, names)
    return Simulation(
        months=months,
        policies=list(policies),
        monthly=pd.DataFrame(monthly),
        departements=pd.DataFrame(dep_rows),
        final_grants={p: dict(sorted(s.granted.items())) for p, s in states.items()},
        seconds=time.perf_counter() - t0,
        parameters={
            "premierMois": first,
            "dernierMois": last,
            "graine": seed,
            "synthetiquesParMois": per_month,
            "synthetiquesAPartirDe": SYNTHETIC_FROM,
            "toursMaximum": MAX_ROUNDS,
            "enveloppe": envelope,
            "budgetEur": budget_eur,
            "politique": dict(politique or {}),
            "candidatures": len(apps),
        },
    )


# -- outputs --------------------------------------------------------------------------------------


def final_table(sim: Simulation) -> pd.DataFrame:
    """Last month per policy: the end-of-simulation indicators."""
    last = sim.monthly[sim.monthly["mois"] == sim.months[-1]]
    return last.set_index("politique").drop(columns=["mois"])


def summary_text(sim: Simulation) -> str:
    from service.application.figures import nombre
    from service.explanations.wording import pluriel

    with pd.option_context(
        "display.width",
        160,
        "display.max_columns",
        20,
        "display.float_format",
        lambda x: nombre(x, 3),
    ):
        lines = [
            f"simulation {sim.months[0]}..{sim.months[-1]} : "
            f"{pluriel(len(sim.months), 'tour mensuel', 'tours mensuels')}, "
            f"{pluriel(sim.parameters['candidatures'], 'candidature')} (synthétiques à partir de "
            f"{SYNTHETIC_FROM}, graine {sim.parameters['graine']}) ; {nombre(sim.seconds, 1)} s",
            final_table(sim)[
                [
                    "cumul",
                    "enveloppeUtilisee",
                    "partHorsRepartitionBesoin",
                    "populationFragileAPortee",
                    "coutEtatCumulEur",
                    "cofinancementCumulEur",
                ]
                + (["budgetUtilise"] if sim.parameters.get("budgetEur") else [])
            ].to_string(),
        ]
    return "\n".join(lines)


def write_outputs(sim: Simulation, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """``simulation_mensuelle.csv``, ``simulation_departements.csv`` and PNG plots."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "simulation_mensuelle.csv", out_dir / "simulation_departements.csv"]
    sim.monthly.to_csv(paths[0], index=False)
    sim.departements.to_csv(paths[1], index=False)
    if plots:
        paths += _plots(sim, out_dir)
    return paths


def _plots(sim: Simulation, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = sim.monthly
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    panels = [
        ("enveloppeUtilisee", "Enveloppe nationale utilisée (part)"),
        ("populationFragileAPortee", "Population fragile à portée d'un conseiller (part)"),
        ("partHorsRepartitionBesoin", "Part des postes hors répartition selon le besoin"),
        ("attribues", "Postes attribués dans le mois"),
    ]
    for ax, (col, title) in zip(axes.flat, panels, strict=True):
        for p in sim.policies:
            s = m[m["politique"] == p]
            ax.plot(s["mois"], s[col], marker="o", label=POLICIES[p])
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", rotation=60, labelsize=7)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Simulation de tours mensuels (candidatures après mai 2021 synthétiques)")
    monthly_png = out_dir / "simulation_mensuelle.png"
    fig.savefig(monthly_png, dpi=110)
    plt.close(fig)

    d = sim.departements[sim.departements["mois"] == sim.months[-1]]
    fig, ax = plt.subplots(figsize=(14, 5), constrained_layout=True)
    order = (
        d[d["politique"] == sim.policies[-1]]
        .sort_values("postesPour10000Fragiles")["departement"]
        .tolist()
    )
    for p in sim.policies:
        s = d[d["politique"] == p].set_index("departement").reindex(order)
        ax.plot(order, s["postesPour10000Fragiles"], marker=".", linestyle="", label=POLICIES[p])
    ax.set_ylabel("postes pour 10 000 habitants fragiles")
    ax.set_title(f"Postes pour 10 000 habitants fragiles par département, fin {sim.months[-1]}")
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax.legend(fontsize=8)
    dep_png = out_dir / "simulation_departements.png"
    fig.savefig(dep_png, dpi=110)
    plt.close(fig)
    return [monthly_png, dep_png]
