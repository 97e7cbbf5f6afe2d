"""Realistic demo rounds from the bundled 2021 first wave (DOMAIN.md, "Realistic demo rounds").

The 1,450 host structures validated by the 2021 comités de sélection are the most realistic
applicants we have. A demo round replays one committee's structures as applicants, with the
structures of earlier committees as existing advisors, and a quota below what they asked.

What is real and what is synthetic
----------------------------------
- Real: the structures (name, SIRET, seat commune), their granted number (used as their request,
  the best public proxy), the committee dates, the ZRR / QPV / France Services flags of the file.
- Derived by rule: the portal ``type``, from the SIREN's legal-category prefix (21 commune,
  22 département, 23 région, EPCI SIRENs of the DGCL list → EPCI, other public bodies →
  COLLECTIVITE, private hosts → PRIVATE).
- **Synthetic** (not public; generated with a fixed seed, labelled ``synthetique`` everywhere):
  project scores ``qualiteProjet``, préfet opinions and suggested numbers, submission times.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import geodata

DEMO_SEED = 2021
#: Share of préfet opinions drawn NÉGATIF in the synthetic data.
SYNTHETIC_NEGATIVE_OPINION_RATE = 0.05


def structure_type(siret: str | float, public: bool, epci_sirens: frozenset[str]) -> str:
    """Portal type of a 2021 host from its SIREN (legal-category prefix)."""
    if not public:
        return "PRIVATE"
    siren = str(siret)[:9] if isinstance(siret, str) else ""
    if siren in epci_sirens:
        return "EPCI"
    prefix = siren[:2]
    return {"21": "COMMUNE", "22": "DEPARTEMENT", "23": "REGION", "24": "EPCI", "25": "EPCI"}.get(
        prefix, "COLLECTIVITE"
    )


def committees() -> list[str]:
    """Dates of the bundled 2021 comités de sélection, in order."""
    return sorted(geodata.load_structures_2021()["date_validation_comite"].unique())


def portal_documents(structures: pd.DataFrame, seed: int = DEMO_SEED) -> list[dict[str, Any]]:
    """Portal structure documents (CONTRACT.md field names) for bundled 2021 hosts.

    Synthetic fields are drawn from ``numpy.random.default_rng(seed + id)`` so each structure's
    values do not depend on which other structures are in the round.
    """
    epci_sirens = frozenset(geodata.load_epci()["epci_siren"])
    docs = []
    for row in structures.sort_values("id").itertuples(index=False):
        rng = np.random.default_rng([seed, int(row.id)])
        score = int(np.clip(np.round(rng.normal(65, 15)), 0, 100))
        negative = rng.random() < SYNTHETIC_NEGATIVE_OPINION_RATE
        requested = int(row.nb_cnfs)
        suggested = max(1, requested - int(rng.integers(0, 2)))
        days_before = int(rng.integers(3, 40))
        created = pd.Timestamp(row.date_validation_comite) - pd.Timedelta(days=days_before)
        created += pd.Timedelta(seconds=int(rng.integers(0, 86_400)))
        docs.append(
            {
                "idPG": int(row.id),
                "type": structure_type(row.siret, row.type == "publique", epci_sirens),
                "nom": row.raison_sociale,
                "siret": None if pd.isna(row.siret) else str(row.siret),
                "codeCommune": row.code_insee_2026,
                "nombreConseillersSouhaites": requested,
                "qualiteProjet": score,
                "estZRR": row.zrr == "oui",
                "qpvStatut": {"oui": "Oui", "non": "Non"}.get(row.qpv, "Sans objet"),
                "estLabelliseFranceServices": "OUI" if row.france_services == "oui" else "NON",
                "prefet": [
                    {
                        "avisPrefet": "NÉGATIF" if negative else "POSITIF",
                        "nombreConseillersPrefet": 0 if negative else suggested,
                        "commentairePrefet": "Avis synthétique (démonstration, graine fixe).",
                    }
                ],
                "coselec": [],
                "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "synthetique": ["qualiteProjet", "prefet", "createdAt"],
            }
        )
    return docs


def demo_request(
    committee: int = -1, quota: int | None = None, seed: int = DEMO_SEED
) -> dict[str, Any]:
    """A stateless round request replaying one 2021 committee (default: the last one).

    Structures of earlier committees become ``conseillersExistants``; the quota defaults to
    70 % of the posts asked by public hosts (those eligible under the default policy, as in the
    call), so that the round has to choose.
    """
    table = geodata.load_structures_2021()
    table = table[table["code_insee_2026"].notna()]
    dates = sorted(table["date_validation_comite"].unique())
    date = dates[committee]
    applicants = table[table["date_validation_comite"] == date]
    earlier = table[table["date_validation_comite"] < date]
    existing = earlier.groupby("code_insee_2026")["nb_cnfs"].sum().astype(int)
    docs = portal_documents(applicants, seed=seed)
    asked = sum(d["nombreConseillersSouhaites"] for d in docs if d["type"] != "PRIVATE")
    return {
        "quota": quota if quota is not None else round(0.7 * asked),
        "mois": str(date)[:7],
        "structures": docs,
        "conseillersExistants": [
            {"codeCommune": code, "nombre": int(n)} for code, n in existing.sort_index().items()
        ],
    }


def run_demo(
    out_dir: Path, quota: int | None = None, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Build the demo request, solve it, write request/result JSON, print the summary."""
    from service.pipeline import dumps, result_summary, run_round
    from service.schemas import parse_round_request

    payload = demo_request(quota=quota)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "requete.json").write_text(
        json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    echo(
        f"tour de démonstration {payload['mois']} : {len(payload['structures'])} structures, "
        f"quota {payload['quota']} (scores et avis préfet synthétiques, graine {DEMO_SEED})"
    )
    result = run_round(parse_round_request(payload))
    (out_dir / "resultat.json").write_text(dumps(result), encoding="utf-8")
    echo(result_summary(result))
    echo(f"requête : {out_dir / 'requete.json'}\nrésultat : {out_dir / 'resultat.json'}")
    return result
