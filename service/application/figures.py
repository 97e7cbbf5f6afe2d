"""The programme's figures: one definition, one French label and one formatting each.

Every surface — ``allocator programme`` and ``demo``, ``allocator round list | show``,
``GET /v1/programme`` and ``GET /v1/rounds``, the agency pages, the committee pack (Excel, CSV,
JSON) — takes its numbers from the functions below, names them with :data:`FIGURES` and writes
them with :func:`nombre` (the letters' own French formatting,
:func:`service.explanations.wording.nombre`).

National figures, and how they relate (each post counts once)::

    postes attribués      = postes consommés + postes rendus au vivier
    postes consommés      = postes actifs + postes non localisés
    postes restants       = enveloppe nationale − postes consommés

Where two of them differ on a store, :func:`differences` says why in one short French sentence,
and every surface that shows both shows that sentence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from service.contract.figures import FIGURES as FIGURES
from service.explanations import wording
from service.explanations.wording import nombre as nombre
from service.explanations.wording import pluriel

# The store's figures import SQLAlchemy and the models when called, not with this module: the
# labels and the formatting stay light for ``allocator allocate`` (no database on that path).
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.store.models import Programme

#: ``Round.origine`` of the imported 2021 committees
# (:data:`service.application.cycle.ORIGINE_HISTORIQUE`).
_HISTORIQUE = "historique"
#: Post state of a post returned to the pool (:mod:`service.application.posts`).
_RENDU = "RENDU"


def euros(value: float | None) -> str:
    """An amount in euros, the French way (``6 400 000 €``; cents when there are some)."""
    return wording.euros(value)


def decimal_exact(value: float) -> str:
    """French notation of a number, exact and without digit grouping (``72.5`` → ``72,5``;
    never an exponent): the numbers of files read by software (CSV with ``;``, the portal's
    export), which :func:`service.application.portal_file.parse_decimal` reads back."""
    return format(Decimal(repr(float(value))), "f").replace(".", ",")


def pourcentage(value: float | None, decimales: int = 1) -> str:
    """A share (0-1) as a French percentage: ``26,8 %`` (narrow no-break space)."""
    if value is None:
        return "—"
    return f"{nombre(float(value) * 100, decimales)}\u202f%"


# -- national figures ---------------------------------------------------------------------------


def posts_unplaced(session: Session) -> int:
    """Posts granted by the imported 2021 committees to structures without a commune code.

    The bundled file lists 7 such structures (9 posts): they consumed the envelope, but have no
    seat commune, hence no post row, no place on the map and no part in the existing advisors.
    Sum of ``totaux.nonLocalises`` of the committed history rounds.
    """
    from sqlalchemy import select

    from service.store.models import ROUND_COMMITTED, Round

    total = 0
    for (result,) in session.execute(
        select(Round.result).where(Round.origine == _HISTORIQUE, Round.status == ROUND_COMMITTED)
    ):
        total += int(((result or {}).get("totaux") or {}).get("nonLocalises", 0))
    return total


def _programme(session: Session) -> Programme:
    """The programme row (:func:`service.store.repository.programme`, read with the models alone:
    see the imports above)."""
    from sqlalchemy import select

    from service.store.models import Programme

    return session.scalars(select(Programme).where(Programme.id == 1)).one()


def _posts_by_state(session: Session) -> dict[str, int]:
    from sqlalchemy import func, select

    from service.store.models import Poste

    return {
        str(statut): int(n)
        for statut, n in session.execute(
            select(Poste.statut, func.count(Poste.id)).group_by(Poste.statut)
        )
    }


def posts_consumed(session: Session) -> int:
    """Posts consumed from the national envelope: the programme's counter, raised by every
    commit and import and lowered by every return to the pool. It equals the posts granted
    minus the posts returned (:class:`ProgrammeFigures`, tested)."""
    return int(_programme(session).consumed)


@dataclasses.dataclass(frozen=True)
class ProgrammeFigures:
    """The national figures of a store at one instant (keys of :data:`FIGURES`)."""

    enveloppe: int
    #: every post a committed decision granted (engine rounds, imported 2021 committees, admin
    #: history imports), whatever became of it since: post rows (returned ones included) plus
    #: the unplaced posts
    attribues: int
    #: post rows returned to the pool (``RENDU``: vacant too long, or handed back)
    rendus: int
    #: the programme's counter (:func:`posts_consumed`)
    consommes: int
    #: envelope − consumed: what a draft's quota may use, the engine's national-envelope
    #: constraint of a round drafted on a store with the 2021 history
    restants: int
    #: post rows not returned: held today, the existing advisors of the next round once the
    #: 2021 history is imported (:func:`service.application.cycle.store_existing` sums to it)
    actifs: int
    #: :func:`posts_unplaced`
    nonLocalises: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_programme(cls, state: Mapping[str, Any]) -> ProgrammeFigures:
        """The figures of a programme document (:func:`service.application.cycle.programme_state`,
        ``GET /v1/programme``)."""
        return cls(
            enveloppe=int(state["enveloppe"]),
            attribues=int(state["postesAttribues"]),
            rendus=int(state["postesRendus"]),
            consommes=int(state["consomme"]),
            restants=int(state["restant"]),
            actifs=int(state["postesActifs"]),
            nonLocalises=int(state["postesNonLocalises"]),
        )


def programme_figures(session: Session) -> ProgrammeFigures:
    """:class:`ProgrammeFigures` of the store, read in one session (one consistent state)."""
    row = _programme(session)
    by_state = _posts_by_state(session)
    unplaced = posts_unplaced(session)
    return ProgrammeFigures(
        enveloppe=int(row.enveloppe),
        attribues=sum(by_state.values()) + unplaced,
        rendus=by_state.get(_RENDU, 0),
        consommes=int(row.consumed),
        restants=int(row.enveloppe - row.consumed),
        actifs=sum(n for statut, n in by_state.items() if statut != _RENDU),
        nonLocalises=unplaced,
    )


def compte(n: int, key: str) -> str:
    """``n`` and the label of figure ``key`` agreed in number by the one rule
    :func:`service.explanations.wording.pluriel`: « 2 postes non localisés », « 1 poste rendu au
    vivier »."""
    label = FIGURES[key].libelle
    return pluriel(n, " ".join(w.removesuffix("s") for w in label.split(" ")), label)


def differences(figures: ProgrammeFigures) -> list[str]:
    """One short French sentence for each pair of figures that differ on this store, saying why
    (none when they agree): granted vs consumed (returns), consumed vs active (unplaced)."""
    out = []
    if figures.rendus:
        out.append(
            f"Postes consommés = postes attribués − {compte(figures.rendus, 'rendus')}"
            " : l'enveloppe récupère les postes rendus."
        )
    if figures.nonLocalises:
        out.append(
            f"Postes actifs = postes consommés − "
            f"{compte(figures.nonLocalises, 'nonLocalises')} : attribués en 2021 à "
            "des structures sans code commune, ils comptent dans l'enveloppe mais pas sur la carte."
        )
    return out


def text_lines(figures: ProgrammeFigures) -> list[str]:
    """The figures as the command line prints them (``allocator programme``, ``demo``)."""
    f = FIGURES
    lines = [
        f"{f['enveloppe'].titre} : {nombre(figures.enveloppe)} postes ; "
        f"{f['consommes'].libelle} : {nombre(figures.consommes)} ; "
        f"{f['restants'].libelle} : {nombre(figures.restants)}",
        f"{f['attribues'].titre} : {nombre(figures.attribues)} ; "
        f"{f['rendus'].libelle} : {nombre(figures.rendus)} ; "
        f"{f['actifs'].libelle} : {nombre(figures.actifs)} ; "
        f"{f['nonLocalises'].libelle} : {nombre(figures.nonLocalises)}",
    ]
    return lines + differences(figures)


# -- figures of one round -----------------------------------------------------------------------


def round_unplaced(result: Mapping[str, Any]) -> int:
    """Posts of a round granted to structures without a commune code (imported 2021
    committees only; 0 for an engine round)."""
    return int((result.get("totaux") or {}).get("nonLocalises", 0))


def round_granted(result: Mapping[str, Any]) -> int:
    """Posts a round grants (proposes, while a draft): its decisions' posts plus
    :func:`round_unplaced` — what its commit consumed from the envelope."""
    return int((result.get("totaux") or {}).get("attribues", 0)) + round_unplaced(result)


def remaining_request(requested: int, already_granted: int) -> int:
    """A structure's « demande restante »: posts asked − posts already granted, never below 0;
    the engine's request bound (:func:`allocator.model.request_bound`)."""
    return max(0, int(requested) - int(already_granted))


def round_remaining_demand(structures: Iterable[Any]) -> int:
    """A round's « demande restante »: :func:`remaining_request` summed over its structures
    (:class:`service.contract.schemas.StructureIn`)."""
    return sum(
        remaining_request(s.nombreConseillersSouhaites, s.already_granted) for s in structures
    )
