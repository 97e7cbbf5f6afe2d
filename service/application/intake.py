"""Intake of applications from the portal's export (``allocator structures import FILE``).

The agency receives the portal's applications as a flat file: CSV or an Excel workbook. Each
data line becomes one structure document (:class:`service.contract.documents.StructureDocument`)
and goes through the very path of ``PUT /v1/structures/{idPG}``:
:func:`service.contract.schemas.parse_model` (types and bounds), then
:func:`service.application.structures.upsert_structure` (commune codes, SIRET uniqueness and
:func:`service.application.structures.check_portal_document`, which refuses what only the
committee or the service decides). No click here: the command lives in
:mod:`service.cli.intake`.

The file's format (columns, values) is :mod:`service.application.portal_file`.

An import (:func:`import_structures`)
-------------------------------------
Every line is validated, then applied to the store in ONE write transaction, each line in its
own savepoint: created (``créée``), updated (``mise à jour``), unchanged (``inchangée``: nothing
written) or refused (``refusée``, with the reasons: line, column, French message). The
transaction is committed only when no line is refused and it is not a simulation
(``dry run``): all or nothing. A simulation runs the same code and rolls back. Importing the
same file again leaves every line ``inchangée``. For a structure already in the store, the
préfet columns add a new opinion when they differ from its latest recorded one (the
``POST /v1/structures/{idPG}/avis-prefet`` path and its validation); empty préfet columns
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from allocator import programme
from service.application import structures
from service.application.portal_file import (
    BY_NAME,
    CellError,
    ExportTable,
    Line,
    column_of,
    line_document,
    parse_integer,
)
from service.contract.documents import AvisPrefetBody, StructureDocument
from service.contract.errors import ServiceError
from service.contract.schemas import FieldError, InvalidRequest, parse_model
from service.store import repository as store
from service.store.models import STATUTS_EN_ATTENTE, Structure

CREEE = "créée"
MISE_A_JOUR = "mise à jour"
INCHANGEE = "inchangée"
REFUSEE = "refusée"
ETATS = (CREEE, MISE_A_JOUR, INCHANGEE, REFUSEE)


# -- line → document ------------------------------------------------------------------------


def _in_columns(errors: Iterable[FieldError]) -> list[FieldError]:
    out = []
    for e in errors:
        col, prefix = column_of(e.champ)
        out.append(FieldError(col, prefix + e.message))
    return out


def parse_line(line: Line) -> StructureDocument:
    """The line's :class:`~service.contract.documents.StructureDocument`, validated as ``PUT`` does
    (:func:`service.contract.schemas.parse_model`); :class:`InvalidRequest` naming every faulty
    column (cells that cannot be read, then the schema's errors on the others)."""
    doc, errors = line_document(line)
    if line.defaut is not None:
        raise InvalidRequest(errors)
    try:
        parsed: StructureDocument = parse_model(StructureDocument, doc)
    except InvalidRequest as exc:
        unread = {e.champ for e in errors}
        errors += [e for e in _in_columns(exc.errors) if e.champ not in unread]
    if errors:
        order = {name: k for k, name in enumerate(BY_NAME)}
        raise InvalidRequest(sorted(errors, key=lambda e: order.get(e.champ, len(order))))
    return parsed


# -- applying to the store ------------------------------------------------------------------


@dataclass
class LineOutcome:
    """What an import did (or would do) with one line."""

    ligne: int
    id_pg: int | None
    etat: str
    nom: str | None = None
    erreurs: list[FieldError] = field(default_factory=list)
    remarques: list[str] = field(default_factory=list)
    #: the structure's status in the store after the line (``None`` when refused)
    statut: str | None = None

    @property
    def hors_attente(self) -> bool:
        """Whether the structure is in the store but no round will consider it."""
        return self.statut is not None and self.statut not in STATUTS_EN_ATTENTE

    def as_json(self) -> dict[str, Any]:
        return {
            "ligne": self.ligne,
            "idPG": self.id_pg,
            "etat": self.etat,
            "statut": self.statut,
            "nom": self.nom,
            "erreurs": [{"champ": e.champ, "message": e.message} for e in self.erreurs],
            "remarques": list(self.remarques),
        }


@dataclass
class IntakeReport:
    """The outcome of :func:`import_structures`: one entry per line, in file order."""

    fichier: str
    simulation: bool
    ecrit: bool
    lignes: list[LineOutcome]
    colonnes_ignorees: tuple[str, ...]

    def compte(self) -> dict[str, int]:
        return {etat: sum(1 for o in self.lignes if o.etat == etat) for etat in ETATS}

    @property
    def refusees(self) -> int:
        return self.compte()[REFUSEE]

    @property
    def hors_attente(self) -> int:
        """Lines whose structure is not pending (already decided, or withdrawn)."""
        return sum(1 for o in self.lignes if o.hors_attente)

    def as_json(self) -> dict[str, Any]:
        c = self.compte()
        return {
            "fichier": self.fichier,
            "simulation": self.simulation,
            "ecrit": self.ecrit,
            "compte": {
                "lignes": len(self.lignes),
                "creees": c[CREEE],
                "misesAJour": c[MISE_A_JOUR],
                "inchangees": c[INCHANGEE],
                "refusees": c[REFUSEE],
                "horsAttente": self.hors_attente,
            },
            "colonnesIgnorees": list(self.colonnes_ignorees),
            "lignes": [o.as_json() for o in self.lignes],
        }


class _Rollback(Exception):
    """Leaves the write transaction without committing (simulation, or a refused line)."""


def _raw_id(line: Line) -> int | None:
    try:
        return parse_integer(line.cells["idPG"]) if "idPG" in line.cells else None
    except CellError:
        return None


def _comparable(view: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "modifieLe"}


def _opinion_key(avis: Any, nombre: Any, commentaire: Any) -> tuple[Any, ...]:
    return (programme.opinion_spelling(avis), nombre, commentaire)


def _apply(session: Any, line: Line, doc: Any, auteur: str) -> LineOutcome:
    """Upsert one document inside a savepoint; the outcome says what changed."""
    outcome = LineOutcome(line.numero, doc.idPG, INCHANGEE, nom=doc.nom or None)
    try:
        with session.begin_nested():
            row = session.get(Structure, doc.idPG, with_for_update=True)
            before = None if row is None else _comparable(store.structure_view(session, row))
            created, view = structures.upsert_structure(session, doc)
            if not created and doc.prefet:
                p = doc.prefet[0]
                latest = view["prefet"][-1] if view["prefet"] else None
                wanted = _opinion_key(p.avisPrefet, p.nombreConseillersPrefet, p.commentairePrefet)
                if latest is None or wanted != _opinion_key(
                    latest["avisPrefet"],
                    latest["nombreConseillersPrefet"],
                    latest["commentairePrefet"],
                ):
                    body = parse_model(
                        AvisPrefetBody,
                        p.model_dump(mode="json", exclude_none=True, exclude={"insertedAt"}),
                    )
                    view = structures.record_avis_prefet(session, doc.idPG, body, auteur)
                    outcome.remarques.append("nouvel avis du préfet enregistré")
    except (InvalidRequest, ServiceError) as exc:
        if isinstance(exc, ServiceError) and exc.status >= 500:
            raise
        outcome.etat = REFUSEE
        outcome.erreurs = _in_columns(exc.errors) or [FieldError("(ligne)", exc.detail)]
        return outcome
    if created:
        outcome.etat = CREEE
    elif _comparable(view) != before:
        outcome.etat = MISE_A_JOUR
    outcome.statut = view["statut"]
    if outcome.hors_attente:
        outcome.remarques.append(
            f"statut {view['statut']} : la structure n'est pas en attente, aucun tour ne la "
            "considère"
        )
    return outcome


def import_structures(
    db: Any, table: ExportTable, *, fichier: str, simulation: bool, auteur: str
) -> IntakeReport:
    """Validate every line of ``table`` and apply them to the store, all or nothing.

    One write transaction; each line in a savepoint (:func:`_apply`). Committed only when it is
    not a ``simulation`` and no line is refused; otherwise rolled back, and the report says
    what each line would have done.
    """
    outcomes: dict[int, LineOutcome] = {}
    parsed: list[tuple[Line, Any]] = []
    first_line: dict[int, int] = {}
    for line in table.lines:
        raw_id = _raw_id(line)
        nom = line.cells.get("nom")
        nom = None if nom is None else str(nom)
        if raw_id is not None and raw_id in first_line:
            message = f"idPG {raw_id} déjà présent ligne {first_line[raw_id]}"
            outcomes[line.numero] = LineOutcome(
                line.numero, raw_id, REFUSEE, nom, [FieldError("idPG", message)]
            )
            continue
        if raw_id is not None:
            first_line[raw_id] = line.numero
        try:
            doc = parse_line(line)
        except InvalidRequest as exc:
            outcomes[line.numero] = LineOutcome(line.numero, raw_id, REFUSEE, nom, exc.errors)
            continue
        parsed.append((line, doc))
    written = False
    try:
        with db.write() as s:
            for line, doc in parsed:
                outcomes[line.numero] = _apply(s, line, doc, auteur)
            if simulation or any(o.etat == REFUSEE for o in outcomes.values()):
                raise _Rollback
        written = True
    except _Rollback:
        pass
    return IntakeReport(
        fichier=fichier,
        simulation=simulation,
        ecrit=written,
        lignes=[outcomes[n] for n in sorted(outcomes)],
        colonnes_ignorees=table.ignored_columns,
    )
