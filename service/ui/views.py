"""Routes of the agency pages (``/agence/...``): parse the form, authorise, call, render.

Every action calls the same domain-service functions as the ``/v1`` API
(:func:`service.application.rounds.draft_round`, :func:`~service.application.rounds.override_round`,
:func:`~service.application.rounds.commit_round`, :func:`~service.application.rounds.get_round`,
:func:`~service.application.rounds.list_rounds`), validates its form with the API's own body
schemas, and
answers POST → redirect → GET, so that a reload never repeats an action.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from service.application import figures, locks, rounds
from service.contract.documents import MAX_ID, RoundDraftBody, RoundOverrideBody, parse_model
from service.contract.errors import ServiceError
from service.contract.schemas import FieldError, InvalidRequest, RoundRequest
from service.contract.vocabulary import TYPES_STRUCTURE
from service.explanations.wording import mois_en_clair, pluriel
from service.http.web import db
from service.store import repository as store
from service.ui import auth, carte, labels, present

log = logging.getLogger("service")

bp = Blueprint(
    "ui",
    __name__,
    url_prefix="/agence",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

#: Ids in paths: above 2**53 - 1 (the JSON-safe ids of the API) no route matches, a 404.
ID = f"int(max={MAX_ID})"

#: French names of the form fields, for error messages.
CHAMPS = {"idPG": "Structure (idPG)", "nombre": "Nombre de postes", "motif": "Motif"}
CHAMPS.update({"mois": "Mois", "quota": "Quota"})


class _LRU:
    """A small thread-safe in-process cache (immutable round versions only)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        value = compute()
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)
        return value


_snapshots = _LRU(8)
_metrics = _LRU(32)
_certificates = _LRU(32)


# -- request plumbing -------------------------------------------------------------------------


@bp.before_request
def _protect() -> None:
    if request.method == "POST":
        auth.check_csrf()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "ui.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global()
def csrf_token() -> str:
    return auth.csrf_token()


@bp.context_processor
def _context() -> dict[str, Any]:
    return {
        "principal": auth.current_principal(),
        "can_act": auth.can_act(),
        "labels": labels,
        "types_structure": TYPES_STRUCTURE,
        "figures": figures.FIGURES,
    }


# Numbers the French way, as everywhere else (:mod:`service.application.figures`).
bp.add_app_template_filter(figures.nombre, "nombre")
bp.add_app_template_filter(figures.pourcentage, "pct")
bp.add_app_template_filter(figures.euros, "euros")
bp.add_app_template_filter(figures.decimal_exact, "decimal")
bp.add_app_template_filter(figures.compte, "compte")
# Months and agreement as the letters write them (:mod:`service.explanations.letters`): « juin 2021
# »,
# « 1 poste », « 3 postes » — never « poste(s) ».
bp.add_app_template_filter(mois_en_clair, "mois_fr")
bp.add_app_template_filter(pluriel, "pluriel")


@bp.app_template_filter("date_fr")
def _date_fr(value: str | None) -> str:
    if not value:
        return "—"
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return dt.strftime("%d/%m/%Y %H:%M UTC")


def _error_page(
    status: int, title: str, detail: str, errors: list[FieldError] | None = None
) -> ResponseReturnValue:
    return (
        render_template(
            "ui/erreur.html", status=status, title=title, detail=detail, errors=errors or []
        ),
        status,
    )


@bp.errorhandler(Exception)
def _handle(exc: Exception) -> ResponseReturnValue:
    """HTML error pages for the agency (the API keeps its problem+json handler)."""
    if isinstance(exc, ServiceError):
        return _error_page(exc.status, "Opération impossible", exc.detail, exc.errors)
    if isinstance(exc, InvalidRequest):
        return _error_page(422, "Saisie invalide", exc.detail, exc.errors)
    if isinstance(exc, HTTPException):
        titles = {
            400: "Requête refusée",
            401: "Connexion requise",
            403: "Accès refusé",
            404: "Page introuvable",
            405: "Méthode non autorisée",
        }
        detail = exc.description or ""
        if exc.code == 404 and "requested URL was not found" in detail:
            detail = "Aucune page à cette adresse."
        return _error_page(exc.code or 500, titles.get(exc.code or 500, "Erreur"), detail)
    log.exception("erreur interne sur %s %s", request.method, request.path)
    return _error_page(500, "Erreur interne", "Erreur interne du service ; elle a été journalisée.")


def _author() -> str:
    who = auth.current_principal()
    return who.name if who is not None else ""


def _flash_errors(exc: ServiceError | InvalidRequest) -> None:
    flash(exc.detail, "erreur")
    for e in exc.errors:
        flash(f"{CHAMPS.get(e.champ, e.champ)} : {e.message}", "erreur")


def _int_field(name: str, errors: list[FieldError]) -> int | None:
    raw = request.form.get(name, "").strip()
    try:
        return int(raw)
    except ValueError:
        errors.append(FieldError(name, "un nombre entier est attendu"))
        return None


# -- data of a round --------------------------------------------------------------------------


def _db_key() -> str:
    return db().url


def _snapshot(view: Mapping[str, Any]) -> tuple[dict[str, Any], RoundRequest]:
    """The round's input snapshot (immutable once drafted) and its parsed request, cached."""

    def load() -> tuple[dict[str, Any], RoundRequest]:
        return rounds.shown_request(db(), view)

    return _snapshots.get((_db_key(), view["id"], view["creeLe"]), load)


def _equity(
    view: Mapping[str, Any], snapshot: Mapping[str, Any], request_: RoundRequest
) -> ResponseReturnValue:
    """Before/after metrics of :func:`service.analysis.metrics.round_equity`, cached per version."""

    def compute() -> dict[str, Any] | None:
        from service.analysis.metrics import round_equity
        from service.application.adapter import existing_map

        existing = existing_map(request_, snapshot.get("extraExisting"))
        try:
            return round_equity(view["resultat"], existing)
        except (ValueError, KeyError) as exc:
            log.warning("indicateurs du tour %s indisponibles : %s", view["id"], exc)
            return None

    return _metrics.get((_db_key(), view["id"], view["version"]), compute)


def _certificate(view: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reproducibility certificate of a committed round
    (:func:`service.application.replay.replay_round`:
    re-solves the stored snapshot), cached: a committed round never changes."""

    def compute() -> dict[str, Any] | None:
        from service.application import replay

        try:
            return replay.replay_round(db(), view["id"])
        except Exception:  # the page stays readable; the CLI reports the failure in detail
            log.exception("certificat du tour %s indisponible", view["id"])
            return None

    return _certificates.get((_db_key(), view["id"], view["valideLe"]), compute)


def _load(round_id: int) -> tuple[dict[str, Any], dict[str, Any], list[present.Row]]:
    view = rounds.get_round(db(), round_id)
    snapshot, request_ = _snapshot(view)
    return view, snapshot, present.rows(view, request_)


def _posts_by_departement(all_rows: list[present.Row]) -> dict[str, int]:
    posts: dict[str, int] = {}
    for r in all_rows:
        if r.proposition:
            posts[r.departement] = posts.get(r.departement, 0) + r.proposition
    return dict(sorted(posts.items()))


# -- sign-in ----------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("ui.tours"))


@bp.route("/connexion", methods=["GET", "POST"])
def connexion() -> ResponseReturnValue:
    suite = auth.suite_param()
    if request.method == "POST":
        try:
            auth.sign_in(request.form.get("jeton", ""))
        except auth.SignInError as exc:
            return render_template("ui/connexion.html", erreur=str(exc), suite=suite), 401
        flash("Vous êtes connecté.", "succes")
        return redirect(auth.safe_next(suite))
    if auth.current_principal() is not None:
        return redirect(auth.safe_next(suite))
    return render_template("ui/connexion.html", erreur=None, suite=suite)


@bp.post("/deconnexion")
def deconnexion() -> ResponseReturnValue:
    auth.sign_out()
    flash("Vous êtes déconnecté.", "succes")
    return redirect(url_for("ui.connexion"))


# -- rounds -----------------------------------------------------------------------------------


@bp.get("/tours")
@auth.login_required()
def tours() -> ResponseReturnValue:
    with db().read() as s:
        chiffres = figures.programme_figures(s)
        pending = len(store.pending_structures(s))
    items = list(reversed(rounds.list_rounds(db())))
    return render_template(
        "ui/tours.html",
        tours=items,
        chiffres=chiffres,
        ecarts=figures.differences(chiffres),
        pending=pending,
    )


@bp.post("/tours")
@auth.login_required(act=True)
def nouveau_tour() -> ResponseReturnValue:
    errors: list[FieldError] = []
    quota = _int_field("quota", errors)
    mois = request.form.get("mois", "").strip()
    try:
        if errors:
            raise InvalidRequest(errors)
        body = parse_model(RoundDraftBody, {"mois": mois, "quota": quota})
        view = rounds.draft_round(db(), mois=body.mois, quota=body.quota, author=_author())
    except (ServiceError, InvalidRequest) as exc:
        _flash_errors(exc)
        return redirect(url_for("ui.tours"))
    flash(
        f"Tour n° {view['id']} préparé : "
        + pluriel(view["resultat"]["totaux"]["attribues"], "poste proposé", "postes proposés")
        + ".",
        "succes",
    )
    return redirect(url_for("ui.tour", round_id=view["id"]))


@bp.get(f"/tours/<{ID}:round_id>")
@auth.login_required()
def tour(round_id: int) -> ResponseReturnValue:
    view, snapshot, all_rows = _load(round_id)
    _, request_ = _snapshot(view)
    filters = present.Filters.from_args(request.args)
    by_id = {r.id_pg: r for r in all_rows}
    groups = present.grouped(all_rows, filters)
    result = view["resultat"]
    totaux = result.get("totaux") or {}
    summary = {
        "structures": len(all_rows),
        "retenues": sum(1 for r in all_rows if r.proposition > 0),
        "demande_restante": sum(r.demande_restante for r in all_rows),
        "attribues": figures.round_granted(result),
        "non_localises": figures.round_unplaced(result),
        "quota": view["quota"],
        "budget": totaux.get("coutEtatEur"),
    }
    return render_template(
        "ui/tour.html",
        tour=view,
        resultat=result,
        summary=summary,
        equite=_equity(view, snapshot, request_),
        mouvements=present.moves(view, by_id),
        groups=groups,
        shown=sum(len(g[2]) for g in groups),
        filters=filters,
        departements=sorted({r.departement for r in all_rows}),
        departement_names=present.departement_names(),
        sorts=present.SORTS,
        selections=present.SELECTIONS,
        posts=_posts_by_departement(all_rows),
        by_id=by_id,
        downloads=_downloads(view),
        certificat=_certificate(view) if view["statut"] == "committed" else None,
    )


@bp.get(f"/tours/<{ID}:round_id>/carte.png")
@auth.login_required()
def carte_png(round_id: int) -> Response:
    view, _, all_rows = _load(round_id)
    title = f"Tour n° {view['id']} ({view['mois']}) — postes proposés par département"
    path = carte.png_path(
        Path(current_app.instance_path) / "cartes",
        view["id"],
        view["version"],
        _posts_by_departement(all_rows),
        title,
    )
    return Response(path.read_bytes(), mimetype="image/png")


@bp.get(f"/tours/<{ID}:round_id>/structures/<{ID}:id_pg>")
@auth.login_required()
def structure(round_id: int, id_pg: int) -> ResponseReturnValue:
    view, _, all_rows = _load(round_id)
    row = next((r for r in all_rows if r.id_pg == id_pg), None)
    if row is None:
        abort(404, f"La structure idPG {id_pg} ne fait pas partie du tour n° {round_id}.")
    _, request_ = _snapshot(view)
    doc = next(s for s in request_.structures if s.idPG == id_pg)
    explication = row.explication
    if view["statut"] == "committed":
        # The explanation recorded at commit (who decided, when, the committee's locks).
        with db().read() as s:
            for entry in store.coselec_entries(s, id_pg):
                if entry.round_id == round_id and entry.explication:
                    explication = entry.explication
    return render_template(
        "ui/structure.html",
        tour=view,
        row=row,
        doc=doc,
        borne=locks.lock_bound(request_, id_pg) if view["statut"] == "draft" else None,
        texte_html=present.explanation_html(explication),
        resume=explication.get("resume"),
        depot=present.depot(doc.createdAt),
        contrefactuel=present.contrefactuel(
            (row.explication.get("details") or {}).get("counterfactual")
        ),
    )


@bp.post(f"/tours/<{ID}:round_id>/verrous")
@auth.login_required(act=True)
def verrou(round_id: int) -> ResponseReturnValue:
    errors: list[FieldError] = []
    id_pg = _int_field("idPG", errors)
    nombre = _int_field("nombre", errors)
    motif = request.form.get("motif", "").strip()
    if len(motif) < 3:
        errors.append(FieldError("motif", "le motif est obligatoire (3 caractères au moins)"))
    back = request.form.get("retour") == "structure" and id_pg is not None
    try:
        if errors:
            raise InvalidRequest(errors, detail="Le verrou n'a pas été posé.")
        body = parse_model(RoundOverrideBody, {"idPG": id_pg, "nombre": nombre, "motif": motif})
        rounds.override_round(
            db(),
            round_id,
            id_pg=body.idPG,
            nombre=body.nombre,
            motif=body.motif,
            author=_author(),
        )
    except (ServiceError, InvalidRequest) as exc:
        _flash_errors(exc)
        if back:
            return redirect(url_for("ui.structure", round_id=round_id, id_pg=id_pg))
        return redirect(url_for("ui.tour", round_id=round_id, _anchor="actions"))
    flash(
        f"Structure {id_pg} fixée à {pluriel(body.nombre, 'poste')} ; proposition recalculée.",
        "succes",
    )
    return redirect(url_for("ui.tour", round_id=round_id, _anchor="mouvements"))


@bp.post(f"/tours/<{ID}:round_id>/verrous/<{ID}:id_pg>/levee")
@auth.login_required(act=True)
def lever_verrou(round_id: int, id_pg: int) -> ResponseReturnValue:
    """Lift a committee lock (motif mandatory), re-solve:
    :func:`service.application.rounds.override_round`."""
    motif = request.form.get("motif", "").strip()
    back = request.form.get("retour") == "structure"
    try:
        if len(motif) < 3:
            raise InvalidRequest(
                [FieldError("motif", "le motif est obligatoire (3 caractères au moins)")],
                detail="Le verrou n'a pas été levé.",
            )
        body = parse_model(RoundOverrideBody, {"idPG": id_pg, "lever": True, "motif": motif})
        rounds.override_round(
            db(), round_id, id_pg=body.idPG, lever=True, motif=body.motif, author=_author()
        )
    except (ServiceError, InvalidRequest) as exc:
        _flash_errors(exc)
        if back:
            return redirect(url_for("ui.structure", round_id=round_id, id_pg=id_pg))
        return redirect(url_for("ui.tour", round_id=round_id, _anchor="titre-verrous"))
    flash(f"Verrou de la structure {id_pg} levé ; proposition recalculée.", "succes")
    return redirect(url_for("ui.tour", round_id=round_id, _anchor="mouvements"))


@bp.get(f"/tours/<{ID}:round_id>/validation")
@auth.login_required(act=True)
def validation(round_id: int) -> ResponseReturnValue:
    view, _, all_rows = _load(round_id)
    if view["statut"] != "draft":
        flash(f"Le tour n° {round_id} est déjà validé.", "erreur")
        return redirect(url_for("ui.tour", round_id=round_id))
    with db().read() as s:
        programme = store.programme_view(store.programme(s))
    preview = present.commit_preview(view, programme, all_rows)
    return render_template("ui/validation.html", tour=view, preview=preview)


@bp.post(f"/tours/<{ID}:round_id>/validation")
@auth.login_required(act=True)
def valider(round_id: int) -> ResponseReturnValue:
    errors: list[FieldError] = []
    version = _int_field("version", errors)
    if request.form.get("confirme") != "oui":
        errors.append(FieldError("confirme", "cochez la case de confirmation"))
    try:
        if errors:
            raise InvalidRequest(errors, detail="Le tour n'a pas été validé.")
        rounds.commit_round(db(), round_id, author=_author(), expected_version=version)
    except (ServiceError, InvalidRequest) as exc:
        _flash_errors(exc)
        return redirect(url_for("ui.validation", round_id=round_id))
    flash(f"Tour n° {round_id} validé : les décisions sont enregistrées.", "succes")
    return redirect(url_for("ui.tour", round_id=round_id))


# -- downloads --------------------------------------------------------------------------------


def _downloads(view: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {
            "url": url_for("ui.telechargement", round_id=view["id"], kind=kind),
            "label": label,
            "format": fmt,
        }
        for kind, (label, fmt) in DOWNLOADS.items()
    ]


DOWNLOADS = {
    "xlsx": ("Dossier du comité (Excel, un onglet par département)", "XLSX"),
    "csv": ("Décisions du tour", "CSV"),
    "notice": ("Notice publique de l'algorithme", "HTML"),
}


@bp.get(f"/tours/<{ID}:round_id>/telechargements/<kind>")
@auth.login_required()
def telechargement(round_id: int, kind: str) -> ResponseReturnValue:
    if kind not in DOWNLOADS:
        abort(404)
    rounds.get_round(db(), round_id)  # 404 for an unknown round
    return _download(round_id, kind)


def _download(round_id: int, kind: str) -> Response:
    """Serve the export built by its own module (:mod:`service.application.notice`,
    :mod:`service.application.export`)."""
    if kind == "notice":
        from service.application import notice

        return Response(
            notice.render("html"),
            mimetype="text/html",
            headers={"Content-Disposition": 'inline; filename="notice-algorithme.html"'},
        )
    from service.application import export

    pack = export.load_round(db(), round_id)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "xlsx":
            path = export.write_xlsx(pack, Path(tmp) / f"{pack.name}.xlsx")
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            path = export.write_csv(
                export.decision_rows(pack),
                export.DECISION_COLUMNS,
                Path(tmp) / f"{pack.name}_decisions.csv",
            )
            mimetype = "text/csv"
        data = path.read_bytes()
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )
