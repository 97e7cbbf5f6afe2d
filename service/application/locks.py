"""Committee locks of a round: how far a lock may go, and what an arbitration moved.

A committee arbitration (:func:`service.application.rounds.override_round`) locks one structure
of a draft at a number of posts. :func:`lock_bound` is the engine's own bound for that structure
(request left, cap per structure, eligibility under the round's policy): a lock outside it is
refused before any solve (:func:`check_lock`). :func:`proposal_moves` lists the structures whose
posts a re-solve changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from allocator import Applicant
from allocator.model import eligibility_motifs, request_bound, structure_cap_bound
from service.application import adapter
from service.contract.schemas import FieldError, InvalidRequest, RoundRequest
from service.explanations.legal import MOTIF_LIBELLES
from service.explanations.wording import est_pluriel


def proposal_moves(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Structures whose posts of this round differ between two results, by ascending idPG.

    Each entry: ``{"idPG", "avant", "apres", "motifs"}`` (``motifs`` of the new result: why).
    """
    old = {
        int(d["idPG"]): int(d["nombreConseillersAttribues"]) for d in before.get("decisions", [])
    }
    moves = []
    for d in after.get("decisions", []):
        i, n = int(d["idPG"]), int(d["nombreConseillersAttribues"])
        if old.get(i, 0) != n:
            moves.append(
                {"idPG": i, "avant": old.get(i, 0), "apres": n, "motifs": d.get("motifs", [])}
            )
    return moves


@dataclass(frozen=True)
class LockBound:
    """The most posts a committee lock may fix for one structure of a round, and why."""

    id_pg: int
    maximum: int
    #: French: the rule that sets ``maximum`` (request left, structure cap, policy eligibility).
    raison: str


def compte(n: int, mot: str) -> str:
    """``n`` in plain digits (``1000``, as the lock messages of the API write it) and ``mot``
    agreed with it by the one rule of agreement
    (:func:`service.explanations.wording.est_pluriel`): ``compte(2, "poste")`` is ``2 postes``."""
    return f"{n} {mot}s" if est_pluriel(n) else f"{n} {mot}"


def lock_bound(request: RoundRequest, id_pg: int) -> LockBound:
    """The bound of a lock on structure ``id_pg`` of ``request``: ``0 ≤ nombre ≤ maximum``.

    The engine's per-structure bounds, from the structure document and the round's policy
    (:func:`allocator.model.request_bound`, ``structure_cap_bound``, ``eligibility_motifs`` on
    :func:`service.application.adapter.applicant_terms`): the request left (posts asked − posts
    already
    granted), the policy's cap per structure, and 0 for an applicant the policy makes ineligible
    (type, préfet's opinion under « exclure », minimum score). A lock within it is refused only
    by the round's joint rules (quota, envelope, budget, département caps, other locks).
    """
    structure = next((s for s in request.structures if s.idPG == id_pg), None)
    if structure is None:
        raise InvalidRequest(
            [FieldError("idPG", f"la structure idPG {id_pg} ne fait pas partie de ce tour")]
        )
    terms = adapter.applicant_terms(structure)
    applicant = Applicant(
        **terms, code_commune=structure.codeCommune, departement="", region="", epci=None, gains=()
    )
    policy = adapter.policy_from_request(request)
    granted = terms["already_granted"]
    maximum = request_bound(applicant)
    asked = compte(terms["requested"], "demandé")
    raison = f"demande restante : {asked} − {compte(granted, 'déjà attribué')}"
    cap = structure_cap_bound(applicant, policy)
    if cap is not None and cap < maximum:
        maximum = cap
        raison = (
            f"plafond par structure {policy.max_posts_per_structure} − "
            f"{compte(granted, 'déjà attribué')}"
        )
    motifs = eligibility_motifs(applicant, policy)
    if motifs:
        maximum = 0
        raison = "structure non éligible selon la politique du tour : " + " ; ".join(
            MOTIF_LIBELLES.get(m, m) for m in motifs
        )
    return LockBound(id_pg, maximum, raison)


def check_lock(request: RoundRequest, id_pg: int, nombre: int) -> LockBound:
    """Refuse (:class:`InvalidRequest` on ``nombre``) a lock outside :func:`lock_bound`."""
    bound = lock_bound(request, id_pg)
    if not 0 <= nombre <= bound.maximum:
        raise InvalidRequest(
            [
                FieldError(
                    "nombre",
                    f"verrou refusé pour la structure idPG {id_pg} : {compte(nombre, 'poste')}, "
                    f"au plus {compte(bound.maximum, 'poste')} dans ce tour ({bound.raison})",
                )
            ],
            detail="Verrou refusé : rien n'a été modifié.",
        )
    return bound
