"""What the agency pages show, built from a stored round (no domain computation here).

The rows join three things the store already holds: the round's input snapshot (the portal
documents: name, type, commune, request, préfet opinion, score), the current result (proposal,
motifs, explanation) and the committee's locks. Filters and sorting are plain list operations.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.application import figures, territoires
from service.contract.schemas import RoundRequest
from service.contract.vocabulary import TYPES_STRUCTURE
from service.ui import labels

#: Columns the table can be sorted by: key -> French header.
SORTS: dict[str, str] = {
    "idpg": "Identifiant",
    "nom": "Structure",
    "type": "Type",
    "commune": "Commune",
    "demande": figures.FIGURES["demandeRestante"].titre,
    "prefet": "Préfet",
    "score": "Score",
    "proposition": "Proposition",
}
SELECTIONS = {
    "": "Toutes",
    "retenues": "Avec des postes proposés",
    "refusees": "Sans poste proposé",
    "verrous": "Verrouillées par le comité",
    "modifiees": "Modifiées au dernier calcul",
}


@functools.cache
def departement_names() -> dict[str, str]:
    """Names of the départements by code (COG 2026, :func:`geodata.layers.reference_names`:
    no pandas when geodata's disk cache is warm); read-only."""
    from geodata import layers

    return dict(layers.reference_names().departements)


@dataclass
class Row:
    """One structure of a round as the table shows it."""

    id_pg: int
    nom: str
    type: str
    code_commune: str
    commune: str
    departement: str
    demande: int
    deja_accorde: int
    avis_prefet: str | None
    nombre_prefet: int | None
    score: float | None
    proposition: int
    total: int
    motifs: list[str]
    lock: dict[str, Any] | None = None
    moved: tuple[int, int] | None = None
    explication: dict[str, Any] = field(default_factory=dict)
    #: fields of the structure whose values are synthetic (demo data), shown as such
    synthetique: tuple[str, ...] = ()

    @property
    def demande_restante(self) -> int:
        """Posts asked − posts already granted
        (:func:`service.application.figures.remaining_request`)."""
        return figures.remaining_request(self.demande, self.deja_accorde)

    @property
    def type_label(self) -> str:
        return TYPES_STRUCTURE.get(self.type, self.type)

    @property
    def motifs_labels(self) -> list[tuple[str, str]]:
        return [(m, labels.motif(m)) for m in self.motifs]

    def sort_key(self, key: str) -> tuple[Any, ...]:
        value: Any = {
            "idpg": self.id_pg,
            "nom": self.nom.casefold(),
            "type": self.type,
            "commune": self.commune.casefold(),
            "demande": self.demande_restante,
            "prefet": -1 if self.nombre_prefet is None else self.nombre_prefet,
            "score": -1.0 if self.score is None else self.score,
            "proposition": self.proposition,
        }[key]
        return (value, self.id_pg)


def latest_arbitrage(view: Mapping[str, Any]) -> dict[str, Any] | None:
    """The arbitration (lock set or lifted) that produced the current proposal, if any."""
    done = [a for a in view.get("arbitrages", []) if a.get("version") is not None]
    if not done:
        return None
    last = max(done, key=lambda a: int(a["version"]))
    return last if int(last["version"]) == int(view.get("version", 0)) else None


def rows(view: Mapping[str, Any], request: RoundRequest) -> list[Row]:
    """One :class:`Row` per decision of the round (ascending idPG), ``request`` its input."""
    docs = {s.idPG: s for s in request.structures}
    locks = {int(v["idPG"]): v for v in view.get("verrous", [])}
    last = latest_arbitrage(view)
    moved = {int(m["idPG"]): (m["avant"], m["apres"]) for m in (last or {}).get("mouvements", [])}
    out = []
    for d in (view.get("resultat") or {}).get("decisions", []):
        s = docs.get(int(d["idPG"]))
        if s is None:  # pragma: no cover - results hold the request's structures only
            continue
        territoire = (d.get("explication") or {}).get("territoire") or {}
        code = territoire.get("codeCommune") or s.codeCommune
        prefet = s.prefet[-1] if s.prefet else None
        out.append(
            Row(
                id_pg=s.idPG,
                nom=s.nom or f"Structure {s.idPG}",
                type=s.type,
                code_commune=s.codeCommune,
                commune=territoires.commune_name(code),
                departement=territoire.get("departement") or territoires.known_departement(code),
                demande=s.nombreConseillersSouhaites,
                deja_accorde=s.already_granted,
                avis_prefet=prefet.avisPrefet if prefet else None,
                nombre_prefet=prefet.nombreConseillersPrefet if prefet else None,
                score=s.qualiteProjet,
                synthetique=tuple(f for f in ("qualiteProjet", "prefet") if s.is_synthetic(f)),
                proposition=int(d["nombreConseillersAttribues"]),
                total=int(d.get("nombreConseillersCoselec", 0)),
                motifs=list(d.get("motifs", [])),
                lock=locks.get(s.idPG),
                moved=moved.get(s.idPG),
                explication=d.get("explication") or {},
            )
        )
    return out


@dataclass(frozen=True)
class Filters:
    """Table filters and sorting, from the query string (unknown values are ignored)."""

    departement: str = ""
    type: str = ""
    selection: str = ""
    q: str = ""
    tri: str = "idpg"
    ordre: str = "asc"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        tri = args.get("tri", "idpg")
        return cls(
            departement=args.get("departement", "")[:3],
            type=args.get("type", "") if args.get("type", "") in TYPES_STRUCTURE else "",
            selection=args.get("selection", "") if args.get("selection") in SELECTIONS else "",
            q=args.get("q", "").strip()[:100],
            tri=tri if tri in SORTS else "idpg",
            ordre="desc" if args.get("ordre") == "desc" else "asc",
        )

    def query(self, **changes: str) -> dict[str, str]:
        """Query-string parameters (non-default values) with ``changes`` applied."""
        values = {
            "departement": self.departement,
            "type": self.type,
            "selection": self.selection,
            "q": self.q,
            "tri": self.tri,
            "ordre": self.ordre,
            **changes,
        }
        defaults = {"tri": "idpg", "ordre": "asc"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}

    def keep(self, row: Row) -> bool:
        if self.departement and row.departement != self.departement:
            return False
        if self.type and row.type != self.type:
            return False
        if self.selection == "retenues" and row.proposition <= 0:
            return False
        if self.selection == "refusees" and row.proposition > 0:
            return False
        if self.selection == "verrous" and row.lock is None:
            return False
        if self.selection == "modifiees" and row.moved is None:
            return False
        if self.q:
            needle = self.q.casefold()
            hay = f"{row.id_pg} {row.nom} {row.commune} {row.code_commune}".casefold()
            if needle not in hay:
                return False
        return True


def grouped(all_rows: Iterable[Row], filters: Filters) -> list[tuple[str, str, list[Row]]]:
    """Filtered, sorted rows grouped by département: ``[(code, nom, rows)]`` by code."""
    kept = [r for r in all_rows if filters.keep(r)]
    kept.sort(key=lambda r: r.sort_key(filters.tri), reverse=filters.ordre == "desc")
    groups: dict[str, list[Row]] = {}
    for r in kept:
        groups.setdefault(r.departement, []).append(r)
    names = departement_names()
    return [(code, names.get(code, ""), groups[code]) for code in sorted(groups)]


def moves(view: Mapping[str, Any], by_id: Mapping[int, Row]) -> dict[str, Any] | None:
    """The changes of the last re-solve, with their reasons, for the "what moved" panel."""
    last = latest_arbitrage(view)
    if last is None:
        return None
    items = []
    for m in last.get("mouvements", []):
        i = int(m["idPG"])
        row = by_id.get(i)
        if i == int(last["idPG"]):
            what = "Verrou du comité" if last["action"] == "verrou" else "Verrou levé"
            why = f"{what} : « {last['motif']} »"
        else:
            why = " ; ".join(labels.motif(c) for c in m.get("motifs", [])) or "—"
        items.append(
            {
                "idPG": i,
                "nom": row.nom if row else str(i),
                "departement": row.departement if row else "",
                "avant": m["avant"],
                "apres": m["apres"],
                "ecart": m["apres"] - m["avant"],
                "pourquoi": why,
            }
        )
    return {"arbitrage": last, "items": items}


#: What the review page says of an application without a filing time (``createdAt``).
SANS_DEPOT = (
    "— (sans date de dépôt : classée après les candidatures datées en cas d'égalité exacte de "
    "priorité)"
)


def depot(created_at: Any) -> str:
    """The filing date shown on the review page; without one, that it ranks last in a tie
    (``allocator.model.filing_key``)."""
    if not created_at:
        return SANS_DEPOT
    if isinstance(created_at, str):  # the portal's ISO-8601 text
        try:
            created_at = datetime.datetime.fromisoformat(created_at)
        except ValueError:
            return created_at
    return str(created_at.strftime("%d/%m/%Y"))


def contrefactuel(counterfactual: Mapping[str, Any] | None) -> str | None:
    """The review page's "what if" sentence from the engine's counterfactual, or ``None``.

    A score is a threshold ("at least") only where the nested property holds
    (``nested``; results computed before the engine said it are read as nested); otherwise it
    is the score a re-run verified, said not to be a threshold.
    """
    from service.explanations.wording import nombre

    score = (counterfactual or {}).get("min_quality")
    if score is None:
        return None
    assert counterfactual is not None
    if counterfactual.get("nested", True) is False:
        return (
            f"Avec un score de projet de {nombre(score, 2)}, un poste de plus aurait été accordé "
            "(vérifié en recalculant le tour ; pas un seuil : le budget en euros, avec des coûts "
            "inégaux, rend le calcul non emboîté)."
        )
    return (
        f"Avec un score de projet d'au moins {nombre(score, 2)}, un poste de plus aurait été "
        "accordé."
    )


def explanation_html(explication: Mapping[str, Any]) -> str | None:
    """The legal explanation's text (:mod:`service.explanations.letters`) as HTML for the structure
    page.

    Its title is dropped (the page has its own) and headings are shifted one level down so that
    they nest under the page's section; the HTML is escaped by
    :func:`service.explanations.render.markdown_html`. ``None`` when the decision has no text.
    """
    from service.explanations.render import markdown_html

    texte = explication.get("texte")
    if not texte:
        return None
    lines = texte.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return markdown_html("\n".join("#" + ln if ln.startswith("#") else ln for ln in lines))


def commit_preview(
    view: Mapping[str, Any], programme: Mapping[str, Any], all_rows: list[Row]
) -> dict[str, Any]:
    """What committing the round will record (stated on the confirmation page)."""
    granted = sum(r.proposition for r in all_rows)
    positive = [r for r in all_rows if r.proposition > 0]
    kept_total = [r for r in all_rows if r.proposition == 0 and r.total > 0]
    refused = [r for r in all_rows if r.proposition == 0 and r.total == 0]
    return {
        "decisions": len(all_rows),
        "postes": granted,
        "retenues": len(positive),
        "sans_ajout": len(kept_total),
        "refusees": len(refused),
        "consomme_avant": programme["consomme"],
        "consomme_apres": programme["consomme"] + granted,
        "enveloppe": programme["enveloppe"],
        "depasse": programme["consomme"] + granted > programme["enveloppe"],
        "verrous": view.get("verrous", []),
        "numero": str(view["id"]),
    }
