"""Differences between two scenario runs: changed fields, moved structures and their causes,
départements against their fair shares, and the price of a fairness rule.

Every block is JSON-ready with French keys (the contract's); see :mod:`service.analysis.scenarios`
for what a comparison holds. Determinism: structures sorted by ``ecart`` then ``idPG``,
départements in the round's order (by code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from allocator import motifs
from service.analysis.runs import ScenarioRun
from service.application.pipeline import PreparedRound


@dataclass(frozen=True)
class FairnessRule:
    """A fairness rule of the policy, how to tell it is on, and its "switched off" value."""

    champ: str
    libelle: str
    off: Any

    def active(self, politique: Mapping[str, Any]) -> bool:
        value = politique.get(self.champ)
        return value != self.off and value is not None


FAIRNESS_RULES: tuple[FairnessRule, ...] = (
    FairnessRule(
        "poidsEquilibre", "équilibre entre départements (Sainte-Laguë sur le besoin)", 0.0
    ),
    FairnessRule("poidsRepartition", "répartition entre EPCI au sein du département", 0.0),
    FairnessRule("plafondDepartement", "plafond à la part équitable du département", "aucun"),
)

#: Motif present on one side only → mechanism code of a moved structure (first match wins).
_MECHANISMS: tuple[tuple[str, str], ...] = (
    (motifs.VERROUILLE, "VERROU"),
    (motifs.TYPE_NON_ELIGIBLE, "ELIGIBILITE"),
    (motifs.AVIS_PREFET_NEGATIF, "AVIS_PREFET"),
    (motifs.SCORE_INSUFFISANT, "SCORE_MINIMUM"),
    (motifs.PLAFOND_STRUCTURE, "PLAFOND_STRUCTURE"),
    (motifs.PART_DEPARTEMENT_ATTEINTE, "PART_DEPARTEMENT"),
    (motifs.BUDGET_EPUISE, "BUDGET"),
    (motifs.ENVELOPPE_NATIONALE_EPUISEE, "ENVELOPPE_NATIONALE"),
)


def changes(base: ScenarioRun, other: ScenarioRun) -> list[dict[str, Any]]:
    """Policy fields (contract names) and quota that differ, in the policy's field order."""
    out = [
        {"champ": k, "base": v, "variante": other.politique[k]}
        for k, v in base.politique.items()
        if other.politique[k] != v
    ]
    if other.quota != base.quota:
        out.append({"champ": "quota", "base": base.quota, "variante": other.quota})
    return out


def _mechanism(before: set[str], after: set[str]) -> str:
    for motif, code in _MECHANISMS:
        if (motif in before) != (motif in after):
            return code
    return "PRIORITE"


def _delta(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return b - a


def _equity_deltas(base: ScenarioRun, other: ScenarioRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attribues": other.summary()["attribues"] - base.summary()["attribues"],
        "coutEtatEur": other.summary()["coutEtatEur"] - base.summary()["coutEtatEur"],
        "objectif": _delta(base.result["solveur"]["objectif"], other.result["solveur"]["objectif"]),
        "acces": _delta(base.terms().get("access"), other.terms().get("access")),
    }
    if base.equity is not None and other.equity is not None:
        b, o = base.equity["apres"], other.equity["apres"]
        out.update(
            {
                "partHorsBesoin": o["share_away_from_need"] - b["share_away_from_need"],
                "gini": o["gini"] - b["gini"],
                "theil": o["theil"] - b["theil"],
                "populationFragileAPortee": o["fragile_within_reach"] - b["fragile_within_reach"],
            }
        )
    return out


def _priority_at(decision: Mapping[str, Any], k: int) -> float | None:
    priorities = decision["explication"].get("priorites") or []
    return priorities[k] if k < len(priorities) else None


@dataclass(frozen=True)
class Attribution:
    """Runs that attribute a multi-field variant's moves to its fields.

    ``alone[f]``: the baseline with only ``f`` changed; ``without[f]``: the variant with only
    ``f`` reverted to the baseline. A field is a *cause* of a structure's move when changing it
    alone moves the structure the same way, or when reverting it alone shrinks the move.
    """

    alone: Mapping[str, ScenarioRun]
    without: Mapping[str, ScenarioRun]


def structure_moves(
    prepared: PreparedRound,
    base: ScenarioRun,
    other: ScenarioRun,
    attribution: Attribution | None = None,
) -> list[dict[str, Any]]:
    """Every structure whose grant differs between ``base`` and ``other``, with its causes.

    With one changed field, it is the cause of every move. With several, ``attribution`` gives
    the causes (:class:`Attribution`; ``["interaction"]`` when no field qualifies alone); without
    it, ``causes`` is empty.
    """
    if not (base.solved and other.solved):
        return []
    names = {s.idPG: (s.nom, s.type) for s in prepared.request.structures}
    b_dec = {d["idPG"]: d for d in base.result["decisions"]}
    o_dec = {d["idPG"]: d for d in other.result["decisions"]}
    alone = {k: r.grants() for k, r in (attribution.alone if attribution else {}).items()}
    without = {k: r.grants() for k, r in (attribution.without if attribution else {}).items()}
    changed = [c["champ"] for c in changes(base, other)]
    rows = []
    for id_pg in sorted(b_dec):
        bd, od = b_dec[id_pg], o_dec[id_pg]
        b, o = bd["nombreConseillersAttribues"], od["nombreConseillersAttribues"]
        if b == o:
            continue
        sign = 1 if o > b else -1
        if len(changed) == 1:
            causes = list(changed)
        elif attribution is None:
            causes = []
        else:
            causes = [
                f
                for f in changed
                if (f in alone and alone[f] and (alone[f][id_pg] - b) * sign > 0)
                or (f in without and without[f] and (o - without[f][id_pg]) * sign > 0)
            ] or ["interaction"]
        k = min(b, o)
        t = bd["explication"]["territoire"]
        nom, kind = names[id_pg]
        rows.append(
            {
                "idPG": id_pg,
                "nom": nom,
                "type": kind,
                "codeCommune": t["codeCommune"],
                "departement": t["departement"],
                "base": b,
                "variante": o,
                "ecart": o - b,
                "motifsBase": bd["motifs"],
                "motifsVariante": od["motifs"],
                "mecanisme": _mechanism(set(bd["motifs"]), set(od["motifs"])),
                "causes": causes,
                "priorite": {
                    "poste": k + 1,
                    "base": _priority_at(bd, k),
                    "variante": _priority_at(od, k),
                },
                "seuil": {
                    "base": bd["explication"].get("seuil"),
                    "variante": od["explication"].get("seuil"),
                },
            }
        )
    rows.sort(key=lambda r: (r["ecart"], r["idPG"]))
    return rows


def departement_rows(
    prepared: PreparedRound, base: ScenarioRun, other: ScenarioRun
) -> list[dict[str, Any]]:
    """Posts of the round per département against fair shares, base and variant (by code)."""
    b, o = base.grants_by_departement(), other.grants_by_departement()
    bfs, ofs = base.fair_shares(), other.fair_shares()
    rows = []
    for d in prepared.geo.departements:
        pb, po = b.get(d.code, 0), o.get(d.code, 0)
        fb, fo = bfs.get(d.code), ofs.get(d.code)
        rows.append(
            {
                "code": d.code,
                "nom": d.nom,
                "besoin": round(d.need, 1),
                "existants": d.existing,
                "partEquitable": fb,
                "base": pb,
                "variante": po,
                "ecart": po - pb,
                "ecartPartBase": None if fb is None else d.existing + pb - fb,
                "ecartPartVariante": None if fo is None else d.existing + po - fo,
            }
        )
    return rows


def diff(
    prepared: PreparedRound,
    base: ScenarioRun,
    other: ScenarioRun,
    attribution: Attribution | None = None,
) -> dict[str, Any]:
    """The comparison block of ``other`` against ``base``."""
    moves = structure_moves(prepared, base, other, attribution)
    return {
        "nom": other.nom,
        "changements": changes(base, other),
        "resultat": other.summary(),
        "ecarts": _equity_deltas(base, other),
        "gagnants": sum(1 for m in moves if m["ecart"] > 0),
        "perdants": sum(1 for m in moves if m["ecart"] < 0),
        "postesDeplaces": sum(abs(m["ecart"]) for m in moves),
        "structures": moves,
        "departements": departement_rows(prepared, base, other) if other.solved else [],
    }


def price_of_rule(
    prepared: PreparedRound, base: ScenarioRun, off: ScenarioRun, rule: FairnessRule
) -> dict[str, Any]:
    """What a fairness rule costs: the baseline against the baseline without the rule.

    ``perteObjectif`` is ``F_off(x_off) − F_off(x_base)``, the objective *without* the rule
    lost by imposing it (>= 0 up to the solver's gap): for a weight switched off, ``F_off`` is
    the baseline objective minus the rule's term; for the département cap, the same objective.
    ``perteAcces`` is the access term (quality-weighted fragile inhabitants newly reached) lost,
    ``perteCouverture`` the fragile inhabitants with an advisor within reach lost; the equity
    fields are what the rule buys (metric without the rule minus with it: > 0 means the rule
    makes the split fairer). ``sansRegle`` lists who gains and who loses when it is switched off.
    """
    block = diff(prepared, base, off)
    price: dict[str, Any] = {}
    if base.solved and off.solved:
        term = {"poidsEquilibre": "balance", "poidsRepartition": "distribution"}.get(rule.champ)
        bt, ot = base.terms(), off.terms()
        f_off_base = sum(v for k, v in bt.items() if k != term)
        f_off = sum(ot.values())
        price["perteObjectif"] = f_off - f_off_base
        price["perteAcces"] = ot.get("access", 0.0) - bt.get("access", 0.0)
        if base.equity is not None and off.equity is not None:
            b, o = base.equity["apres"], off.equity["apres"]
            price["perteCouverture"] = o["fragile_within_reach"] - b["fragile_within_reach"]
            price["gainPartHorsBesoin"] = o["share_away_from_need"] - b["share_away_from_need"]
            price["gainGini"] = o["gini"] - b["gini"]
            price["gainTheil"] = o["theil"] - b["theil"]
        price["coutEtatEur"] = off.summary()["coutEtatEur"] - base.summary()["coutEtatEur"]
    return {
        "regle": rule.champ,
        "libelle": rule.libelle,
        "valeurBase": base.politique[rule.champ],
        "valeurSansRegle": rule.off,
        "prix": price,
        "sansRegle": block,
    }
