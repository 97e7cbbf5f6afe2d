"""Transparency endpoints: the explanation of a structure's decision and the public notice.

=====================================  =======  ======  ========  =====  ======
endpoint                               portail  agence  analyste  admin  public
=====================================  =======  ======  ========  =====  ======
GET /v1/structures/{idPG}/explication  oui      oui     oui       oui    -
GET /v1/notice                         oui      oui     oui       oui    oui
=====================================  =======  ======  ========  =====  ======

Both answer JSON/Markdown or HTML, chosen by ``?format=`` (``json``/``html`` for the
explanation, ``md``/``html`` for the notice) or else by the ``Accept`` header. The explanation is
the one stored at commit (:func:`service.application.rounds.commit_round`): a read of one row, no
computation; the notice is generated once per process from the code's policy objects.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from service.application import notice
from service.contract.errors import NotFound, ServiceError
from service.contract.responses import ExplicationOut
from service.contract.schemas import FieldError
from service.explanations.render import render_html
from service.http.operations import ID_PG, format_param, operation, text_reply
from service.http.web import db, json_response, requires, route_id
from service.store import repository as store

bp = Blueprint("transparence", __name__, url_prefix="/v1")


class NotAcceptable(ServiceError):
    status = 406


def _format(allowed: dict[str, str], default: str) -> str:
    """The response format: ``?format=`` if given, else the best ``Accept`` match."""
    asked = request.args.get("format")
    if asked is not None:
        if asked not in allowed:
            raise NotAcceptable(
                f"Format « {asked} » non disponible.",
                [FieldError("format", f"valeurs possibles : {', '.join(allowed)}")],
            )
        return asked
    if not request.accept_mimetypes:  # no Accept header: the default
        return default
    by_mime = {mime: fmt for fmt, mime in allowed.items()}
    best = request.accept_mimetypes.best_match([allowed[default], *by_mime])
    if best is None:
        raise NotAcceptable(f"Formats disponibles : {', '.join(allowed.values())}.")
    return by_mime[best]


EXPLICATION_FORMATS = {"json": "application/json", "html": "text/html"}
NOTICE_FORMATS = {"md": "text/markdown", "html": "text/html"}


@bp.get("/structures/<int:id_pg>/explication")
@operation(
    "Explication de la dernière décision validée de la structure (JSON ou HTML)",
    {
        "200": text_reply(
            "décision, motifs et explication enregistrés à la validation du tour",
            "text/html",
            model=ExplicationOut,
        )
    },
    params=[ID_PG, format_param(EXPLICATION_FORMATS, "json")],
    errors=("406",),
)
@requires("portail", "agence", "analyste")
def get_explication(id_pg: int) -> Response:
    """The committed explanation of the structure's latest decision (JSON or HTML)."""
    fmt = _format(EXPLICATION_FORMATS, "json")
    route_id(id_pg, "structure")
    with db().read() as s:
        entry = store_explication(s, id_pg)
    if fmt == "html":
        return Response(render_html(entry), mimetype="text/html")
    return json_response(entry)


def store_explication(session: Session, id_pg: int) -> dict[str, object]:
    """The served entry: the structure's latest committed coselec decision and its explanation."""
    row = store.get_structure_row(session, id_pg)
    for c in reversed(store.coselec_entries(session, id_pg)):
        if c.round_id is not None:
            return {
                "idPG": row.id_pg,
                "nom": row.nom,
                "roundId": c.round_id,
                "numero": c.numero,
                "date": store.iso(c.inserted_at),
                "nombreConseillersAttribues": c.attribues,
                "nombreConseillersCoselec": c.nombre_conseillers_coselec,
                "avisCoselec": c.avis,
                "motifs": c.motifs or [],
                "explication": c.explication or {},
            }
    raise NotFound(
        f"Aucune décision validée par un tour d'attribution pour la structure idPG {id_pg} "
        "(les décisions antérieures au service n'ont pas d'explication algorithmique)."
    )


@bp.get("/notice")
@operation(
    "Notice publique de l'algorithme (Markdown ou HTML)",
    {"200": text_reply("notice", "text/markdown", "text/html")},
    params=[format_param(NOTICE_FORMATS, "md")],
    errors=("406",),
)
def get_notice() -> Response:
    """The public notice of the algorithm (Markdown or HTML; no token: a public document)."""
    fmt = _format(NOTICE_FORMATS, "md")
    return Response(notice.render(fmt), mimetype=NOTICE_FORMATS[fmt])
