"""Committee packs of a round: Excel workbook, CSV, JSON and maps of the proposal.

The agency's committees worked from one workbook per préfet / département; the pack keeps that
shape, generated from a round's stored result and request snapshot (nothing recomputed):

- ``tour_<id>.xlsx``: a national summary sheet (one row per département), a ``Tour`` sheet (the
  round's metadata and policy), then one sheet per département: structure, type, commune,
  requested, préfet opinion and suggested number, score, the algorithm's proposal, the decision,
  lock and its reason, motif codes, short explanation. Plain values (no formulas: a string that
  looks like one is stored as text), frozen header, auto filters;
- ``tour_<id>_decisions.csv`` (all decisions, UTF-8 with BOM for spreadsheet software, ``;``
  separator and French decimals ``72,5`` as a French spreadsheet reads them, no digit grouping)
  and ``tour_<id>_synthese.csv``;
- ``tour_<id>.json``: round metadata, summary and decision rows;
- with ``cartes``: national maps of the posts granted and of the coverage before / after the
  round, and per-département maps of the posts granted per commune and of the coverage after.

:func:`load_round` reads a stored round; :func:`pack_from_result` wraps a stateless result (the
notebooks' and ``allocator allocate``'s). :func:`export_round` writes the files.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geodata
from allocator import programme
from service.application import figures, rounds, territoires
from service.application.adapter import existing_map
from service.contract.errors import Conflict
from service.contract.schemas import RoundRequest, stored_request
from service.explanations import letters as ex
from service.explanations.legal import POLICY_DOCS
from service.explanations.meta import STATUT_PROPOSITION, RoundMeta
from service.explanations.wording import nom_commune, nom_departement

#: Columns of a département sheet (and of the national CSV), in order.
DECISION_COLUMNS = (
    "idPG",
    "structure",
    "type",
    "code commune",
    "commune",
    "département",
    "demandés (total)",
    "déjà attribués",
    figures.FIGURES["demandeRestante"].libelle,
    "avis préfet",
    "nombre suggéré par le préfet",
    "note du projet",
    "valeurs synthétiques",
    "proposition de l'algorithme",
    "attribués ce tour",
    "total après le tour",
    "avis coselec",
    "verrou du comité",
    "motif du comité",
    "codes motifs",
    "rangs nationaux",
    "priorité du poste suivant",
    "seuil du tour",
    "note qui aurait valu un poste de plus",
    "coût standard par poste (euros)",
    "cofinancement par poste (euros)",
    "coût pour l'État par poste (euros)",
    "coût pour l'État ce tour (euros)",
    "cofinancement ce tour (euros)",
    "explication courte",
)
SUMMARY_COLUMNS = (
    "département",
    "nom",
    "structures candidates",
    "structures retenues",
    figures.FIGURES["demandeRestante"].libelle,
    "postes attribués ce tour",
    "dont verrouillés par le comité",
    "besoin (personnes fragiles)",
    "conseillers déjà présents",
    "part équitable",
    "couverture avant (pour 10 000 pers. fragiles)",
    "couverture après (pour 10 000 pers. fragiles)",
    "coût pour l'État ce tour (euros)",
    "cofinancement ce tour (euros)",
)
SUMMARY_SHEET = "Synthèse nationale"
ROUND_SHEET = "Tour"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class RoundPack:
    """What a committee pack is made of.

    Attributes
    ----------
    result
        The contract's round result (decisions with their explanations, ``rapport``).
    request
        The round request (structures as the round saw them).
    meta
        The round's metadata (``None`` for a stateless result).
    existing
        Advisors already hosted, by code commune, that the round was solved against (``None``
        = the bundled 2021 state).
    programme
        The national envelope when the round was drafted (``enveloppe``, ``consomme``,
        ``restant`` of :func:`service.store.repository.programme_view`; ``None`` for a stateless
        result).
    """

    result: Mapping[str, Any]
    request: RoundRequest
    meta: RoundMeta | None
    existing: Mapping[str, int] | None
    programme: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        if self.meta is not None and self.meta.round_id is not None:
            return f"tour_{self.meta.round_id}"
        return f"tour_{self.result.get('entreeSha256', 'sans_id')[:12]}"


def load_round(db: Any, round_id: int) -> RoundPack:
    """The pack of a stored round (draft or committed): result, request snapshot, metadata."""
    view = rounds.get_round(db, round_id)
    snapshot = rounds.get_round_snapshot(db, round_id)
    if "request" not in snapshot:
        raise Conflict(
            f"Le tour n° {round_id} est un comité importé ({snapshot.get('origine', 'historique')}"
            f", {snapshot.get('date', view['mois'])}) : il n'a pas de requête du moteur à "
            "exporter."
        )
    request = stored_request(snapshot["request"])
    return RoundPack(
        result=view["resultat"],
        request=request,
        meta=RoundMeta.from_round_view(view),
        existing=existing_map(request, snapshot.get("extraExisting")),
        programme=view.get("programme"),
    )


def pack_from_result(result: Mapping[str, Any], request: RoundRequest) -> RoundPack:
    """The pack of a stateless result (``allocator allocate``, notebooks)."""
    return RoundPack(
        result=result, request=request, meta=None, existing=existing_map(request, None)
    )


# -- tables ---------------------------------------------------------------------------------------


def _decision_departement(decision: Mapping[str, Any], structure: Any) -> str:
    """The decision's département (its territory, else the seat commune's; ``?`` if unknown)."""
    expl = decision.get("explication") or {}
    t = expl.get("territoire") or {}
    if t.get("departement"):
        return str(t["departement"])
    return territoires.known_departement(structure.codeCommune)


def _proposal(decision: Mapping[str, Any], lock: Mapping[str, Any] | None) -> int | None:
    """The algorithm's own proposal (``None`` when a lock hides it and it was not recorded)."""
    if lock is not None:
        return None if lock.get("proposition") is None else int(lock["proposition"])
    if "VERROUILLE" in decision.get("motifs", ()):
        return None
    return int(decision["nombreConseillersAttribues"])


def decision_rows(pack: RoundPack) -> list[dict[str, Any]]:
    """One row per decision (ascending idPG), with :data:`DECISION_COLUMNS`."""
    by_id = {s.idPG: s for s in pack.request.structures}
    locks = {} if pack.meta is None else pack.meta.verrous
    # Short explanations with the round's own metadata (a committed round says "décision").
    explained = ex.explain_round(pack.result, pack.request, pack.meta)
    rows = []
    for d in pack.result.get("decisions", ()):
        s = by_id[int(d["idPG"])]
        expl = d.get("explication") or {}
        t = expl.get("territoire") or {}
        cf = ((expl.get("details") or {}).get("counterfactual")) or {}
        priorities = list(expl.get("priorites") or [])
        granted = int(d["nombreConseillersAttribues"])
        lock = locks.get(int(d["idPG"]))
        locked = lock is not None or "VERROUILLE" in d.get("motifs", ())
        prefet = s.prefet[-1] if s.prefet else None
        code = t.get("codeCommune") or s.codeCommune
        cost = ((expl.get("details") or {}).get("cost")) or {}
        rows.append(
            {
                "idPG": s.idPG,
                "structure": s.nom,
                "type": s.type,
                "code commune": code,
                "commune": nom_commune(code),
                "département": _decision_departement(d, s),
                "demandés (total)": s.nombreConseillersSouhaites,
                "déjà attribués": s.already_granted,
                figures.FIGURES["demandeRestante"].libelle: figures.remaining_request(
                    s.nombreConseillersSouhaites, s.already_granted
                ),
                "avis préfet": None if prefet is None else prefet.avisPrefet,
                "nombre suggéré par le préfet": None
                if prefet is None
                else prefet.nombreConseillersPrefet,
                "note du projet": programme.DEFAULT_QUALITY
                if s.qualiteProjet is None
                else float(s.qualiteProjet),
                # demo data: which of this row's values are synthetic (labelled wherever shown)
                "valeurs synthétiques": " ".join(s.synthetique or ()) or None,
                "proposition de l'algorithme": _proposal(d, lock),
                "attribués ce tour": granted,
                "total après le tour": int(d["nombreConseillersCoselec"]),
                "avis coselec": d.get("avisCoselec"),
                "verrou du comité": "oui" if locked else "non",
                "motif du comité": None if lock is None else lock.get("motif"),
                "codes motifs": " ".join(d.get("motifs", ())),
                "rangs nationaux": " ".join(str(r) for r in expl.get("rangs") or ()) or None,
                "priorité du poste suivant": priorities[granted]
                if granted < len(priorities)
                else None,
                "seuil du tour": expl.get("seuil"),
                "note qui aurait valu un poste de plus": cf.get("min_quality"),
                "coût standard par poste (euros)": cost.get("standard_eur"),
                "cofinancement par poste (euros)": cost.get("cofunding_eur"),
                "coût pour l'État par poste (euros)": cost.get("state_eur"),
                "coût pour l'État ce tour (euros)": _times(cost.get("state_eur"), granted),
                "cofinancement ce tour (euros)": _times(cost.get("cofunding_eur"), granted),
                "explication courte": explained[s.idPG]["resume"],
            }
        )
    return rows


def _times(per_post: float | None, posts: int) -> float | None:
    return None if per_post is None else round(per_post * posts, 2)


def _sum(values: Iterable[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 2) if known else None


def summary_rows(
    pack: RoundPack, rows: Sequence[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One row per département with applicants (ascending code), with :data:`SUMMARY_COLUMNS`."""
    rows = decision_rows(pack) if rows is None else rows
    fair = ((pack.result.get("rapport") or {}).get("fair_shares")) or {}
    territory: dict[str, Mapping[str, Any]] = {}
    for d in pack.result.get("decisions", ()):
        dep = ((d.get("explication") or {}).get("details") or {}).get("departement")
        if dep:
            territory[str(dep["code"])] = dep
    by_dep: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_dep.setdefault(str(r["département"]), []).append(r)
    out = []
    for code in sorted(by_dep):
        rs = by_dep[code]
        t = territory.get(code) or {}
        need = t.get("need")
        before = t.get("existing")
        granted = sum(int(r["attribués ce tour"]) for r in rs)
        out.append(
            {
                "département": code,
                "nom": nom_departement(code),
                "structures candidates": len(rs),
                "structures retenues": sum(1 for r in rs if int(r["attribués ce tour"]) > 0),
                figures.FIGURES["demandeRestante"].libelle: sum(
                    int(r[figures.FIGURES["demandeRestante"].libelle]) for r in rs
                ),
                "postes attribués ce tour": granted,
                "dont verrouillés par le comité": sum(
                    int(r["attribués ce tour"]) for r in rs if r["verrou du comité"] == "oui"
                ),
                "besoin (personnes fragiles)": None if need is None else round(need, 1),
                "conseillers déjà présents": before,
                "part équitable": fair.get(code),
                "couverture avant (pour 10 000 pers. fragiles)": _per_10k(before, need),
                "couverture après (pour 10 000 pers. fragiles)": _per_10k(
                    None if before is None else before + granted, need
                ),
                "coût pour l'État ce tour (euros)": _sum(
                    r["coût pour l'État ce tour (euros)"] for r in rs
                ),
                "cofinancement ce tour (euros)": _sum(
                    r["cofinancement ce tour (euros)"] for r in rs
                ),
            }
        )
    return out


def _per_10k(advisors: int | None, need: float | None) -> float | None:
    if advisors is None or not need:
        return None
    return round(advisors / need * 1e4, 6)


def round_rows(pack: RoundPack) -> list[tuple[str, Any]]:
    """The round's metadata and policy as (label, value) pairs (the ``Tour`` sheet)."""
    r = pack.result
    m = pack.meta
    report = r.get("rapport") or {}
    lib = {k: f.libelle for k, f in figures.FIGURES.items()}
    before = pack.programme or {}
    rows: list[tuple[str, Any]] = [
        ("tour n°", None if m is None else m.round_id),
        ("mois", pack.request.mois if m is None else m.mois),
        ("statut", STATUT_PROPOSITION if m is None else m.statut),
        ("préparé par", None if m is None else m.auteur),
        ("préparé le", None if m is None else m.cree_le),
        ("validé par", None if m is None else m.valide_par),
        ("validé le", None if m is None else m.valide_le),
        ("quota", (r.get("totaux") or {}).get("quota")),
        (f"{lib['attribues']} (ce tour)", figures.round_granted(r)),
        (lib["demandeRestante"], figures.round_remaining_demand(pack.request.structures)),
        ("demandés (total)", (r.get("totaux") or {}).get("demandes")),
        (lib["enveloppe"], before.get("enveloppe")),
        (f"{lib['consommes']} avant le tour", before.get("consomme")),
        (f"{lib['restants']} avant le tour", before.get("restant")),
        ("coût pour l'État (euros)", (r.get("totaux") or {}).get("coutEtatEur")),
        ("coût standard des postes (euros)", (r.get("totaux") or {}).get("coutStandardEur")),
        ("cofinancement des structures (euros)", (r.get("totaux") or {}).get("cofinancementEur")),
        ("budget du tour (euros)", (r.get("totaux") or {}).get("budgetEur")),
        ("contrainte liante", (r.get("totaux") or {}).get("contrainteLiante")),
        ("garanties conservées", ", ".join((report.get("guarantees") or {}).get("kept") or ())),
        ("garanties perdues", ", ".join((report.get("guarantees") or {}).get("lost") or ())),
        ("prix de la monotonie (objectif)", report.get("price_of_monotonicity")),
        ("statut du calcul", r.get("status")),
        ("empreinte des données (entreeSha256)", r.get("entreeSha256")),
        (
            "solveur",
            f"{(r.get('solveur') or {}).get('nom')} {(r.get('solveur') or {}).get('version')}",
        ),
        ("verrous du comité", 0 if m is None else len(m.verrous)),
    ]
    for name, value in (report.get("policy") or {}).items():
        label = POLICY_DOCS.get(name, (name, ""))[0]
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append((f"politique : {label} ({name})", value))
    return rows


# -- writers --------------------------------------------------------------------------------------


def sheet_name(code: str, taken: Iterable[str] = ()) -> str:
    """A valid, unique Excel sheet name for a département (31 characters at most)."""
    base = _SHEET_FORBIDDEN.sub(" ", f"{code} {nom_departement(code)}")[:31].strip()
    name, n = base, 2
    taken = set(taken)
    while name in taken:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    return name


def _write_sheet(ws: Any, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # openpyxl is imported for workbooks only (see write_xlsx)
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    n = 1
    for row in rows:
        n += 1
        for j, value in enumerate(row, start=1):
            cell = ws.cell(row=n, column=j, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, never a formula (values come from the portal)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(n, 1)}"
    for j, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(60, max(10, len(h) + 2))


def write_xlsx(
    pack: RoundPack, path: str | Path, rows: Sequence[Mapping[str, Any]] | None = None
) -> Path:
    """The committee workbook (see the module docstring)."""
    # openpyxl is imported for the workbook only: the CSV and JSON files do without it.
    from openpyxl import Workbook

    rows = decision_rows(pack) if rows is None else rows
    wb = Workbook()
    ws = wb.active
    ws.title = SUMMARY_SHEET
    summary = summary_rows(pack, rows)
    _write_sheet(ws, SUMMARY_COLUMNS, ([r[c] for c in SUMMARY_COLUMNS] for r in summary))
    _write_sheet(wb.create_sheet(ROUND_SHEET), ("rubrique", "valeur"), round_rows(pack))
    taken = {SUMMARY_SHEET, ROUND_SHEET}
    for s in summary:
        code = s["département"]
        name = sheet_name(code, taken)
        taken.add(name)
        dep_rows = [r for r in rows if r["département"] == code]
        _write_sheet(
            wb.create_sheet(name),
            DECISION_COLUMNS,
            ([r[c] for c in DECISION_COLUMNS] for r in dep_rows),
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _csv_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula injection when a spreadsheet opens the file
    if isinstance(value, float):
        # ';' is the separator of French spreadsheets, whose decimal mark is the comma
        return figures.decimal_exact(value)
    return value


def write_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r[c] is None else _csv_value(r[c]) for c in columns])
    return out


def write_json(
    pack: RoundPack, path: str | Path, rows: Sequence[Mapping[str, Any]] | None = None
) -> Path:
    rows = decision_rows(pack) if rows is None else rows
    document = {
        "tour": {label: value for label, value in round_rows(pack)},
        "synthese": summary_rows(pack, rows),
        "decisions": rows,
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


def existing_after(pack: RoundPack) -> tuple[dict[str, int], dict[str, int]]:
    """Advisors by code commune before the round and after its grants."""
    before = dict(geodata.bundled_existing_advisors() if pack.existing is None else pack.existing)
    after = dict(before)
    for d in pack.result.get("decisions", ()):
        n = int(d["nombreConseillersAttribues"])
        code = ((d.get("explication") or {}).get("territoire") or {}).get("codeCommune")
        if n and code:
            after[code] = after.get(code, 0) + n
    return before, after


def write_maps(
    pack: RoundPack,
    out_dir: str | Path,
    departements: Sequence[str] | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> list[Path]:
    """National maps (posts granted, coverage before / after) and per-département maps (posts
    granted per commune, coverage after) for ``departements`` (default: those with grants)."""
    # matplotlib (geodata.maps) is imported for maps only: the tables and files do without it.
    from geodata import maps

    out = Path(out_dir)
    rows = decision_rows(pack) if rows is None else rows
    before, after = existing_after(pack)
    # Zero, not "no data", where nothing was granted.
    communes = territoires.cog_departements()
    by_dep: dict[str, float] = dict.fromkeys(sorted(set(communes.values())), 0.0)
    by_commune: dict[str, dict[str, float]] = {}
    for code, dep in communes.items():
        by_commune.setdefault(dep, {})[code] = 0.0
    for r in rows:
        n = int(r["attribués ce tour"])
        if n:
            by_dep[r["département"]] = by_dep.get(r["département"], 0) + n
            grants = by_commune.setdefault(r["département"], {})
            grants[r["code commune"]] = grants.get(r["code commune"], 0) + n
    label = "Postes attribués par le tour"
    tag = pack.name
    paths = [
        maps.map_values(out / f"{tag}_carte_postes_national.png", by_dep, label, cmap="YlGn"),
        maps.map_departements(
            out / f"{tag}_carte_couverture_avant_national.png", "coverage", before
        ),
        maps.map_departements(
            out / f"{tag}_carte_couverture_apres_national.png", "coverage", after
        ),
    ]
    for code in sorted(by_dep) if departements is None else departements:
        paths.append(
            maps.map_values(
                out / f"{tag}_carte_postes_{code}.png",
                by_commune.get(code, {}),
                label,
                departement=code,
                title=f"{label} — {nom_departement(code)} ({code})",
            )
        )
        paths.append(
            maps.map_communes(
                out / f"{tag}_carte_couverture_apres_{code}.png", code, "coverage", after
            )
        )
    return paths


def export_round(
    pack: RoundPack,
    out_dir: str | Path,
    *,
    xlsx: bool = True,
    cartes: bool = False,
    departements: Sequence[str] | None = None,
) -> list[Path]:
    """Write the pack's files into ``out_dir``; returns their paths (workbook first)."""
    out = Path(out_dir)
    rows = decision_rows(pack)
    paths = []
    if xlsx:
        paths.append(write_xlsx(pack, out / f"{pack.name}.xlsx", rows))
    paths.append(write_csv(rows, DECISION_COLUMNS, out / f"{pack.name}_decisions.csv"))
    paths.append(
        write_csv(summary_rows(pack, rows), SUMMARY_COLUMNS, out / f"{pack.name}_synthese.csv")
    )
    paths.append(write_json(pack, out / f"{pack.name}.json", rows))
    if cartes:
        paths.extend(write_maps(pack, out, departements, rows))
    return paths
