"""``allocator demo``: the main job, a full monthly round on the store from bundled real data.

The command is registered by :mod:`service.cli.main`; the bundled 2021 data it replays (portal
documents, demo request, history import) is :mod:`service.application.history`. It writes the
round's request, result and replay certificate to a folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.analysis import metrics
from service.application import figures, history, monthly, replay, rounds, structures
from service.application.adapter import existing_map
from service.application.pipeline import dumps, result_summary
from service.contract.documents import StructureDocument
from service.contract.schemas import RoundRequest
from service.store.models import Structure

DEMO_MONTH = "2021-06"
DEMO_AUTHOR = "démonstration"


def run_demo(
    db: Any,
    out_dir: Path,
    quota: int | None = None,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The main job: a full monthly round on the store, from bundled real data.

    1. the 2021 committees before the last one are imported as committed history
       (:func:`service.application.history.import_history`; idempotent);
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
    say = progress or echo
    out_dir.mkdir(parents=True, exist_ok=True)
    round_id = _committed_round(db, quota, say)
    view = rounds.get_round(db, round_id)
    result = view["resultat"]
    cert = replay.replay_round(db, round_id)
    request = rounds.get_round_snapshot(db, round_id)["request"]
    (out_dir / "requete.json").write_text(
        json.dumps(request, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "resultat.json").write_text(dumps(result, indent=2), encoding="utf-8")
    (out_dir / "certificat.json").write_text(dumps(cert, indent=2), encoding="utf-8")
    _summarise(db, round_id, result, cert, echo)
    echo(f"requête, résultat, certificat : {out_dir}/")
    if not cert.get("attributionsIdentiques"):
        raise RuntimeError(f"le tour {round_id} ne se rejoue pas : attributions différentes")
    if not cert.get("identique"):
        say(
            "attention : attributions identiques mais résultat différent octet pour octet "
            "(tour enregistré par une autre version du code)"
        )
    return result


def _committed_round(db: Any, quota: int | None, say: Callable[[str], None]) -> int:
    """Steps 1 and 2 of :func:`run_demo` (or finding the round a previous run committed): the id
    of the committed June 2021 round."""
    payload = history.demo_request(quota=quota)
    last = history.committees()[-1]
    imported = history.import_history(db, author=DEMO_AUTHOR, until=str(last)[:10])
    if imported.get("importe"):
        say(
            f"historique 2021 importé : {figures.nombre(imported['structures'])} structures, "
            f"{len(imported['tours'])} comités validés avant le {str(last)[:10]}"
        )
    done = [
        r for r in rounds.list_rounds(db) if r["mois"] == DEMO_MONTH and r["statut"] == "committed"
    ]
    if done:
        round_id: int = done[-1]["id"]
        say(f"le tour {DEMO_MONTH} est déjà validé (n° {round_id}) : rejeu et résumé")
        if quota is not None and quota != done[-1]["quota"]:
            say(
                f"attention : --quota {quota} ignoré, le tour validé garde son quota "
                f"{done[-1]['quota']}"
            )
        return round_id
    with db.write() as s:
        # A SIRET seen twice in the 2021 file is another site of the same body; the store
        # keeps SIRETs unique (as the platform did), so the later site (in this committee or
        # an earlier one) is submitted without it, as the history import does.
        held = set(s.scalars(select(Structure.siret).where(Structure.siret.is_not(None))))
        for doc in payload["structures"]:
            if doc.get("siret") in held:
                doc = {**doc, "siret": None}
            held.add(doc.get("siret"))
            structures.upsert_structure(s, StructureDocument.model_validate(doc))
    say(
        f"tour {DEMO_MONTH} : {len(payload['structures'])} candidatures (comité du "
        f"{str(last)[:10]}), quota {figures.nombre(payload['quota'])} ; scores et avis préfet "
        f"synthétiques (graine {history.DEMO_SEED})"
    )
    draft = monthly.draft_monthly(db, mois=DEMO_MONTH, quota=payload["quota"], author=DEMO_AUTHOR)
    round_id = draft["id"]
    rounds.commit_round(db, round_id, author=DEMO_AUTHOR)
    return round_id


def _summarise(
    db: Any,
    round_id: int,
    result: dict[str, Any],
    cert: dict[str, Any],
    echo: Callable[[str], None],
) -> None:
    """The round's summary, its equity before and after, its certificate and the programme."""
    snapshot = rounds.get_round_snapshot(db, round_id)
    request = RoundRequest.model_validate(snapshot["request"])
    echo(result_summary(result, request))
    # the existing advisors the round was solved against, as the review page reads them
    existing = existing_map(request, snapshot.get("extraExisting"))
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
