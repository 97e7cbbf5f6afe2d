"""The legal explanation of every decision, in French, generated from the round's own data.

A decision on public money taken with the help of an algorithm must be explainable to the
applicant (Code des relations entre le public et l'administration, articles L311-3-1,
R311-3-1-1 and R311-3-1-2). Our engine is *decision support*: the committee decides, and the
explanation says so. For every structure of a round this module builds, from the engine's
machine-readable explanation (``priorites``, ``rangs``, ``seuil``, ``details``, ``territoire``),
the round's report and the request, never from hand-written text per case:

``mention``
    the explicit mention of R311-3-1-1: purpose of the processing, right to obtain its rules and
    main characteristics, how to ask, recourse to the CADA;
``contribution``
    degree and mode of contribution of the algorithm (R311-3-1-2 1°): proposal vs decision, who
    committed the round and when, whether the committee overrode the proposal and why;
``donnees``
    the data processed and their sources (2°), each with its provenance and vintage;
``parametres``
    the parameters and weights applied to the applicant's situation (3°), with the caps and
    floors that were binding for it, the round quota and its département's fair share;
``operations``
    the operations performed (4°), in plain French with the applicant's own numbers:
    eligibility → need and coverage → balance between départements → allocation within the
    département → national ranking and tie-break;
``contrefactuel``
    what would have changed the outcome (verified by the engine by re-solving), without any
    other applicant's data;
``texte`` / ``resume``
    the whole explanation as French text, and one sentence for tables.

Everything is a pure, deterministic function of (round result, request, round metadata): the
same inputs give the same bytes. :func:`attach` runs inside
:func:`service.application.pipeline.result_to_contract` (proposal); :func:`explain_round` runs
again at commit
(:func:`service.application.rounds.commit_round`) with the committee's metadata, and the committed
explanation is what the portal reads (``GET /v1/structures/{idPG}/explication``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from service import speed
from service.contract.schemas import RoundRequest, StructureIn, stored_request
from service.explanations.contrefactuel import contrefactuel_part, contrefactuel_valeurs
from service.explanations.contribution import contribution_et_texte
from service.explanations.donnees import donnees_texte, donnees_valeurs
from service.explanations.essentiel import paragraphe_essentiel, resume_ligne, resume_sans_calcul
from service.explanations.legal import mention_valeurs
from service.explanations.levels import (
    CLE_NIVEAU,
    ENGINE_KEYS,
    NIVEAU_COMPACT,
    NIVEAU_COMPLET,
    compacte,
    niveau_explication,
)
from service.explanations.meta import STATUT_VALIDE, RoundMeta
from service.explanations.operations import operations_part
from service.explanations.parametres import parametres_texte, parametres_valeurs
from service.explanations.reading import (
    ENGINE_CHAMPS,
    ENGINE_KEYS_GET,
    STRUCTURE,
    Lecture,
    lire,
    lire_decision,
    lire_structure,
)
from service.explanations.render import titre
from service.explanations.tour import Calcul, Profil, Tour


def explain_with(
    tour: Tour,
    decision: Mapping[str, Any],
    s: StructureIn,
    n_granted: int | None,
    compact: bool = False,
) -> dict[str, Any]:
    """:func:`explain_decision` with the wording the round's decisions share (``tour``).

    Every input is read once (:func:`lire_decision`), and each part's values and lines are
    written in turn (the lines as the Markdown of ``texte``, into ``buf``). ``compact``:
    :func:`compacte` of the result, without writing what it leaves out (the same functions
    write the opening paragraph, the summary and the counterfactual at both levels).
    """
    expl = decision.get("explication") or {}
    if type(expl) is not dict:
        expl = dict(expl)
    meta = tour.meta
    lock = None if meta is None else meta.verrous.get(int(decision["idPG"]))
    contribution, contribution_texte = contribution_et_texte(tour, decision, lock)
    try:  # the engine keys (:data:`ENGINE_KEYS`, in that order), then ours
        engine: tuple[Any, ...] | None = ENGINE_KEYS_GET(expl)
        priorites, rangs, seuil, details, territoire = engine  # type: ignore[misc]
        out: dict[str, Any] = {
            "priorites": priorites,
            "rangs": rangs,
            "seuil": seuil,
            "details": details,
            "territoire": territoire,
        }
    except KeyError:
        out = {k: expl[k] for k in ENGINE_KEYS if k in expl}
        engine = None
    out["mention"] = mention_valeurs()
    out["contribution"] = contribution
    try:
        s_values = STRUCTURE(s.__dict__)
    except (AttributeError, KeyError):
        s_values = lire_structure(s)
    head = f"# {titre(s_values[0], s_values[1])}\n\n"
    found = tuple(decision.get("motifs", ()))
    granted = int(decision["nombreConseillersAttribues"])
    total = decision.get("nombreConseillersCoselec")
    if "details" not in out:
        return _sans_details(
            tour, out, decision, s, s_values, lock, head, contribution_texte, compact
        )
    if n_granted is None:
        n_granted = granted_total(tour.result)
    c = tour.calcul(n_granted)
    p = c.profils.get(found) or c.profil(found)
    v = lire_decision(c, engine or lire(out, ENGINE_CHAMPS), s, s_values, granted, total)
    essentiel = out["essentiel"] = paragraphe_essentiel(
        tour,
        c,
        found,
        granted=granted,
        total=total,
        souhaites=v.souhaites,
        already=v.already,
        type_structure=v.type_structure,
        note=v.note,
        lock=lock,
        score_min=v.score_min,
        nested=bool(v.nested),
    )
    if compact:
        return _compacte(tour, c, p, v, out, s, decision, contribution)
    out["donnees"] = donnees_valeurs(c, v)
    buf = [head, essentiel, "\n\n", contribution_texte]
    donnees_texte(buf, c, v)
    penalise, plancher, contraignantes = parametres_texte(buf, c, p, v)
    out["parametres"] = parametres_valeurs(c, p, v, penalise, plancher, contraignantes)
    out["operations"] = operations_part(buf, c, p, v)
    out["contrefactuel"] = contrefactuel_part(buf, c, p, v)
    out["resume"] = resume_ligne(tour, c, p, s, decision, contribution, granted, total, v.souhaites)
    # Every part ends with a blank line but the last, whose last line is a fixed sentence.
    out["texte"] = "".join(buf)
    return out


def _sans_details(
    tour: Tour,
    out: dict[str, Any],
    decision: Mapping[str, Any],
    s: StructureIn,
    s_values: tuple[Any, ...],
    lock: Mapping[str, Any] | None,
    head: str,
    contribution_texte: str,
    compact: bool,
) -> dict[str, Any]:
    """The letter of a decision without the engine's details: opening paragraph, parts 1-2."""
    essentiel = out["essentiel"] = paragraphe_essentiel(
        tour,
        None,
        tuple(decision.get("motifs", ())),
        granted=int(decision["nombreConseillersAttribues"]),
        total=decision.get("nombreConseillersCoselec"),
        souhaites=s_values[4],
        already=s.already_granted,
        type_structure=s_values[2],
        note=s_values[5],
        lock=lock,
    )
    out["resume"] = resume_sans_calcul(s, decision, out["contribution"])
    out["texte"] = (head + essentiel + "\n\n" + contribution_texte).rstrip() + "\n"
    return compacte(out, s_values[1]) if compact else out


def _compacte(
    tour: Tour,
    c: Calcul,
    p: Profil,
    v: Lecture,
    out: dict[str, Any],
    s: StructureIn,
    decision: Mapping[str, Any],
    contribution: Mapping[str, Any],
) -> dict[str, Any]:
    """The compact level (:func:`compacte`) of a decision with details: only its parts are
    worded (no letter)."""
    out["resume"] = resume_ligne(
        tour, c, p, s, decision, contribution, v.granted, v.total, v.souhaites
    )
    out["contrefactuel"] = contrefactuel_valeurs(p, v)
    return compacte(out, v.id_pg)


def granted_total(result: Mapping[str, Any]) -> int:
    return sum(int(d["nombreConseillersAttribues"]) for d in result["decisions"])


def explain_decision(
    decision: Mapping[str, Any],
    structure: StructureIn,
    result: Mapping[str, Any],
    meta: RoundMeta | None = None,
    n_granted: int | None = None,
) -> dict[str, Any]:
    """The full explanation of one decision: the engine keys plus the parts of this module.

    Parameters
    ----------
    decision
        One entry of ``result["decisions"]`` (its ``explication`` holds the engine keys).
    structure
        The request's structure of the same ``idPG``.
    result
        The whole round result (its ``rapport`` and ``sources`` are read).
    meta
        The round's metadata, or ``None`` for a proposal outside any stored round.
    n_granted
        Posts granted by the whole round; computed from ``result`` when not given (pass it when
        explaining every decision of a round, so that the round is summed once, not per decision).
    """
    return explain_with(Tour(result, meta), decision, structure, n_granted)


def round_explainer(
    result: Mapping[str, Any],
    request: RoundRequest,
    meta: RoundMeta | None = None,
    niveau: str = NIVEAU_COMPLET,
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``explain(decision)`` for the decisions of one round, sharing the round's wording.

    :func:`explain_round` in pieces: ``explain(d)`` is ``explain_round(...)[idPG]``. Used to
    explain the decisions of a national round in several processes
    (:func:`service.application.pipeline.encode_round`). ``niveau``: :data:`NIVEAUX` (the compact
    level is
    :func:`compacte` of the full one).
    """
    compact = niveau_explication(niveau) == NIVEAU_COMPACT
    by_id = {s.idPG: s for s in request.structures}
    n_granted = granted_total(result)
    tour = Tour(result, meta)

    def explain(decision: Mapping[str, Any]) -> dict[str, Any]:
        return explain_with(tour, decision, by_id[int(decision["idPG"])], n_granted, compact)

    return explain


def explain_round(
    result: Mapping[str, Any],
    request: RoundRequest,
    meta: RoundMeta | None = None,
    niveau: str = NIVEAU_COMPLET,
) -> dict[int, dict[str, Any]]:
    """``{idPG: explication}`` for every decision of a round result (ascending idPG)."""
    ids = {s.idPG for s in request.structures}
    explain = round_explainer(result, request, meta, niveau)
    with speed.gc_paused(promote=True):
        return {
            int(d["idPG"]): explain(d) for d in result.get("decisions", ()) if int(d["idPG"]) in ids
        }


def attach(
    result: dict[str, Any],
    request: RoundRequest,
    meta: RoundMeta | None = None,
    niveau: str = NIVEAU_COMPLET,
) -> dict[str, Any]:
    """Replace each decision's ``explication`` by its explanation at ``niveau`` (in place;
    returned). A compact result says so (:data:`CLE_NIVEAU`)."""
    explained = explain_round(result, request, meta, niveau_explication(niveau))
    for d in result.get("decisions", ()):
        if int(d["idPG"]) in explained:
            d["explication"] = explained[int(d["idPG"])]
    if niveau == NIVEAU_COMPACT:
        result[CLE_NIVEAU] = NIVEAU_COMPACT
    return result


def explain_committed(row: Any, committed_by: str, committed_at: Any) -> dict[int, dict[str, Any]]:
    """Explanations of a round being committed (``row`` a :class:`service.store.models.Round`).

    Called by :func:`service.application.rounds.commit_round` inside its transaction: the round's
    stored
    result and request snapshot, plus who commits, when, and the committee's locks with their
    reasons.
    """
    from service.store import repository as store

    meta = RoundMeta(
        round_id=row.id,
        mois=row.mois,
        statut=STATUT_VALIDE,
        auteur=row.author,
        cree_le=store.iso(row.created_at),
        valide_par=committed_by,
        valide_le=store.iso(committed_at),
        verrous={int(k): v for k, v in (row.locks or {}).items()},
    )
    request = stored_request(row.snapshot["request"])
    return explain_round(row.result, request, meta)
