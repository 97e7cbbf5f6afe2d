"""Realistic demo rounds from the bundled 2021 first wave (docs/DOMAIN.md, "Realistic demo rounds").

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
from service.contract.schemas import check_siret

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


def published_siret(value: str | float) -> str | None:
    """The bundled file's SIRET, or ``None`` when it has none or an invalid one.

    Two SIRETs of the 2021 open data fail their key (34416574200013 and 18973906400015, typos
    of the publication): they are not sent, as the portal would have refused them.
    """
    if not isinstance(value, str):
        return None
    try:
        return check_siret(value)
    except ValueError:
        return None


def committees() -> list[str]:
    """Dates of the bundled 2021 comités de sélection, in order."""
    return sorted(geodata.load_structures_2021()["date_validation_comite"].unique())


def portal_documents(structures: pd.DataFrame, seed: int = DEMO_SEED) -> list[dict[str, Any]]:
    """Portal structure documents (docs/CONTRACT.md field names) for bundled 2021 hosts.

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
                "siret": published_siret(row.siret),
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


DEMO_MONTH = "2021-06"
DEMO_AUTHOR = "démonstration"
#: The sample export of the README's monthly cycle (``allocator structures import``).
SAMPLE_EXPORT = Path(__file__).resolve().parents[2] / "docs/exemples/export_portail_2021-06.csv"


def export_documents() -> list[dict[str, Any]]:
    """Portal documents of the sample export (:data:`SAMPLE_EXPORT`): the last 2021 committee's
    190 placed structures as the applications of June 2021, as :func:`run_demo` submits them.

    Real: names, SIRETs, seat communes, requests (their granted number), ZRR / QPV / France
    Services flags. Synthetic (fixed seed, ``synthetique`` column): project scores, préfet
    opinions, submission times. SIRETs are those of the history import
    (:func:`service.application.cycle.history_documents`: a SIRET held by several 2021 rows stays
    on the
    lowest ``idPG``), so the file imports on top of the earlier committees.
    """
    from service.application.cycle import history_committees, history_documents

    last = {i for i, _ in history_committees()[-1]["decisions"]}
    return [
        {k: v for k, v in d.items() if k not in ("statut", "coselec")}
        for d in history_documents()
        if d["idPG"] in last
    ]


def run_demo(
    db: Any,
    out_dir: Path,
    quota: int | None = None,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The main job: a full monthly round on the store, from bundled real data.

    1. the 2021 committees before the last one are imported as committed history
       (``service.application.cycle.import_history``; idempotent);
    2. the last committee's structures are submitted as applications (synthetic scores and préfet
       opinions, fixed seed) and the June 2021 round is drafted on the cadence of the call, with a
       quota of 70 % of what public hosts ask;
    3. the round is committed (one coselec entry per structure), replayed from its snapshot to
       check that it is reproducible byte for byte, and summarised; its request, result and
       certificate are written to ``out_dir`` (the request is the round's own, from its
       snapshot: its month, quota and applicants).

    ``echo`` receives the summary; ``progress`` (default: ``echo``) the steps and warnings.
    A second run finds the committed round and only replays and summarises it (a ``quota``
    different from the committed one is reported, not applied).
    """
    from sqlalchemy import select

    from service.analysis import metrics
    from service.application import cycle, figures, replay, rounds
    from service.application.pipeline import _existing_map, dumps, result_summary
    from service.contract.documents import StructureDocument
    from service.contract.schemas import RoundRequest
    from service.store import repository as store
    from service.store.models import Structure

    say = progress or echo
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = demo_request(quota=quota)
    last = committees()[-1]
    imported = cycle.import_history(db, author=DEMO_AUTHOR, until=str(last)[:10])
    if imported.get("importe"):
        say(
            f"historique 2021 importé : {figures.nombre(imported['structures'])} structures, "
            f"{len(imported['tours'])} comités validés avant le {str(last)[:10]}"
        )
    done = [
        r for r in rounds.list_rounds(db) if r["mois"] == DEMO_MONTH and r["statut"] == "committed"
    ]
    if done:
        round_id = done[-1]["id"]
        say(f"le tour {DEMO_MONTH} est déjà validé (n° {round_id}) : rejeu et résumé")
        if quota is not None and quota != done[-1]["quota"]:
            say(
                f"attention : --quota {quota} ignoré, le tour validé garde son quota "
                f"{done[-1]['quota']}"
            )
    else:
        with db.write() as s:
            # A SIRET seen twice in the 2021 file is another site of the same body; the store
            # keeps SIRETs unique (as the platform did), so the later site (in this committee or
            # an earlier one) is submitted without it, as the history import does.
            held = set(s.scalars(select(Structure.siret).where(Structure.siret.is_not(None))))
            for doc in payload["structures"]:
                if doc.get("siret") in held:
                    doc = {**doc, "siret": None}
                held.add(doc.get("siret"))
                store.upsert_structure(s, StructureDocument.model_validate(doc))
        say(
            f"tour {DEMO_MONTH} : {len(payload['structures'])} candidatures (comité du "
            f"{str(last)[:10]}), quota {figures.nombre(payload['quota'])} ; scores et avis préfet "
            f"synthétiques (graine {DEMO_SEED})"
        )
        draft = cycle.draft_monthly(db, mois=DEMO_MONTH, quota=payload["quota"], author=DEMO_AUTHOR)
        round_id = draft["id"]
        rounds.commit_round(db, round_id, author=DEMO_AUTHOR)
    view = rounds.get_round(db, round_id)
    result = view["resultat"]
    cert = replay.replay_round(db, round_id)
    request = rounds.get_round_snapshot(db, round_id)["request"]
    (out_dir / "requete.json").write_text(
        json.dumps(request, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "resultat.json").write_text(dumps(result, indent=2), encoding="utf-8")
    (out_dir / "certificat.json").write_text(dumps(cert, indent=2), encoding="utf-8")
    snapshot = rounds.get_round_snapshot(db, round_id)
    request = RoundRequest.model_validate(snapshot["request"])
    echo(result_summary(result, request))
    # the existing advisors the round was solved against, as the review page reads them
    existing = _existing_map(request, snapshot.get("extraExisting"))
    equity = metrics.round_equity(result, existing)
    for when, label in (("avant", "avant le tour"), ("apres", "après le tour")):
        m = equity[when]
        echo(
            f"{label} : {figures.nombre(m['posts'])} {figures.FIGURES['actifs'].libelle} ; "
            "écart à la répartition selon le besoin "
            f"{figures.pourcentage(m['share_away_from_need'])} ; Gini "
            f"{figures.nombre(m['gini'], 3)} ; population fragile à portée "
            f"{figures.pourcentage(m['fragile_within_reach'] / m['fragile_total'])}"
        )
    echo(replay.certificate_text(cert))
    with db.read() as s:
        numbers = figures.programme_figures(s)
    for line in figures.text_lines(numbers):
        echo(line)
    echo(f"requête, résultat, certificat : {out_dir}/")
    if not cert.get("attributionsIdentiques"):
        raise RuntimeError(f"le tour {round_id} ne se rejoue pas : attributions différentes")
    if not cert.get("identique"):
        say(
            "attention : attributions identiques mais résultat différent octet pour octet "
            "(tour enregistré par une autre version du code)"
        )
    return result
