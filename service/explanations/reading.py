"""Reading a decision's inputs at once: the typed view of a decision (:class:`Lecture`).

Each input of a letter (the engine's ``explication``, the request's structure) is read once, by
``itemgetter`` (C) when the mapping is a dict holding every key, else key by key with ``.get``;
the numbers several parts write are worded once, here.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from allocator.programme import DEFAULT_QUALITY
from service.contract.schemas import StructureIn
from service.explanations.legal import EQUIVALENTS
from service.explanations.levels import ENGINE_KEYS
from service.explanations.tour import Calcul
from service.explanations.wording import est_pluriel, nombre, nombre_memo, nombres_1


def lire(d: Any, champs: tuple[tuple[str, Any], ...]) -> tuple[Any, ...]:
    """``(d.get(key, default), ...)`` for each ``(key, default)`` of ``champs``."""
    return tuple([d.get(k, v) for k, v in champs])


ENGINE_CHAMPS = tuple((k, None) for k in ENGINE_KEYS)
TERRITOIRE_CHAMPS = tuple(
    (k, None)
    for k in (
        "codeCommune",
        "departement",
        "communesDesservies",
        "populationFragile",
        "offreExistante",
        "zrr",
        "franceServices",
        "indicateurRepli",
        "indicateurs",
    )
)
INDICATEURS_CHAMPS = tuple(
    (k, None)
    for k in (
        "score_global",
        "accessibility_10k_commune",
        "accessibility_10k_area",
        "advisors_in_area",
        "share_without_advisor_area",
        "population_area",
        "need_fallback_reasons",
    )
)
DETAILS_CHAMPS = (
    ("departement", None),
    ("epci", None),
    ("quality_factor", None),
    ("cofunding_factor", 1.0),
    ("cost", None),
    ("gains", None),
    ("remaining_request", None),
    ("next_post", None),
    ("counterfactual", None),
)
DEPARTEMENT_CHAMPS = tuple(
    (k, None) for k in ("code", "need", "existing", "fair_share", "posts_round", "cap_room")
)
EPCI_CHAMPS = tuple((k, None) for k in ("code", "need", "existing", "posts_round"))
COUT_CHAMPS = tuple((k, None) for k in ("standard_eur", "state_eur", "cofunding_eur"))
SUIVANT_CHAMPS = (("balance", None), ("distribution", None))
CONTREFACTUEL_CHAMPS = tuple(
    (k, None) for k in ("min_quality", "larger_request_would_help", "verified", "nested")
)
ENGINE_KEYS_GET = itemgetter(*ENGINE_KEYS)
TERRITOIRE = itemgetter(*(k for k, _ in TERRITOIRE_CHAMPS))
INDICATEURS = itemgetter(*(k for k, _ in INDICATEURS_CHAMPS))
DETAILS = itemgetter(*(k for k, _ in DETAILS_CHAMPS))
DEPARTEMENT = itemgetter(*(k for k, _ in DEPARTEMENT_CHAMPS))
EPCI = itemgetter(*(k for k, _ in EPCI_CHAMPS))
COUT = itemgetter(*(k for k, _ in COUT_CHAMPS))
SUIVANT = itemgetter(*(k for k, _ in SUIVANT_CHAMPS))
CONTREFACTUEL = itemgetter(*(k for k, _ in CONTREFACTUEL_CHAMPS))
#: The request's fields read by the explanation (pydantic keeps them in the instance's
#: ``__dict__``: read at once there, else attribute by attribute).
STRUCTURE_CHAMPS = (
    "nom",
    "idPG",
    "type",
    "codeCommune",
    "nombreConseillersSouhaites",
    "qualiteProjet",
    "estZRR",
    "qpvStatut",
    "estLabelliseFranceServices",
    "prefet",
    "cofinancementEur",
    "cofinancementPart",
)
STRUCTURE = itemgetter(*STRUCTURE_CHAMPS)


def lire_structure(s: StructureIn) -> tuple[Any, ...]:
    """The request's fields of :data:`STRUCTURE_CHAMPS`, in that order, attribute by attribute
    (``STRUCTURE(s.__dict__)`` reads them at once from a pydantic model)."""
    return tuple(getattr(s, k) for k in STRUCTURE_CHAMPS)


class Lecture:
    """The typed view of one decision that its letter reads (built by :func:`lire_decision`).

    Read-only by convention: a plain class with ``__slots__`` (a frozen dataclass costs
    ``object.__setattr__`` per field, about 14 µs per decision: a fifth of a whole letter).
    Names are those of the engine's ``details`` and ``territoire`` (see :data:`DETAILS_CHAMPS`
    & co.); ``*_t`` are texts, worded once for every part that writes them.
    """

    __slots__ = (
        "acc_commune",
        "acc_zone",
        "advisors",
        "already",
        "avis",
        "balance",
        "cap_room",
        "code",
        "code_siege",
        "code_t",
        "cof",
        "cof_eur",
        "cof_part",
        "communes",
        "cost",
        "dep_code",
        "dep_existing",
        "dep_need",
        "dep_posts",
        "dep_t",
        "dep_territoire",
        "distribution",
        "epci_code",
        "epci_existing",
        "epci_need",
        "epci_posts",
        "epci_t",
        "equivalents",
        "est_zrr",
        "f_cof",
        "fair",
        "fs",
        "gains_in",
        "granted",
        "id_pg",
        "label_fs",
        "larger",
        "nested",
        "nom",
        "note",
        "note_1",
        "note_defaut",
        "note_synth",
        "nxt",
        "offre",
        "offre_t",
        "pop_zone",
        "population",
        "population_t",
        "prefet",
        "prefet_synth",
        "prefets",
        "priorites",
        "priorities",
        "q",
        "qpv",
        "qualite",
        "rangs_in",
        "remaining",
        "repli",
        "repli_flag",
        "sans_conseiller",
        "score",
        "score_min",
        "seuil",
        "seuil_t",
        "souhaites",
        "standard",
        "state",
        "total",
        "type_structure",
        "verified",
        "zrr",
        "zrr_texte",
    )  # fmt: skip

    id_pg: Any
    type_structure: Any
    code_siege: Any
    souhaites: Any
    qualite: Any
    est_zrr: Any
    qpv: Any
    label_fs: Any
    prefets: Any
    cof_eur: Any
    cof_part: Any
    granted: int
    total: Any
    already: Any
    rangs_in: Any
    seuil: Any
    code_t: Any
    dep_territoire: Any
    communes: Any
    population: Any
    offre: Any
    zrr: Any
    zrr_texte: Any
    fs: Any
    repli_flag: Any
    score: Any
    acc_commune: Any
    acc_zone: Any
    advisors: Any
    sans_conseiller: Any
    pop_zone: Any
    repli: Any
    q: Any
    f_cof: Any
    cost: Any
    gains_in: Any
    remaining: Any
    nxt: Any
    dep_code: Any
    dep_need: Any
    dep_existing: Any
    fair: Any
    dep_posts: Any
    cap_room: Any
    standard: Any
    state: Any
    cof: Any
    score_min: Any
    larger: Any
    verified: Any
    nested: Any
    epci_code: Any
    epci_need: Any
    epci_existing: Any
    epci_posts: Any
    #: (advisors, distribution lines, next post's formula) of the EPCI (:meth:`Calcul.epci`)
    epci_t: tuple[str, str, str] | None
    balance: Any
    distribution: Any
    #: (name, parameters line, balance lines, next post's formula, advisors) of the département
    dep_t: tuple[str, str, str, str, str]
    note_defaut: bool
    note: float
    note_1: str
    population_t: str
    offre_t: str
    equivalents: str
    seuil_t: str
    priorities: list[Any]
    priorites: list[str]
    prefet: Any
    avis: Any
    note_synth: bool
    prefet_synth: bool
    code: Any
    nom: str


def lire_decision(
    c: Calcul,
    engine: tuple[Any, ...],
    s: StructureIn,
    s_values: tuple[Any, ...],
    granted: int,
    total: Any,
) -> Lecture:
    """The view of a decision with the engine's details (``engine``: the values of its
    :data:`ENGINE_CHAMPS`, in that order)."""
    v = Lecture()
    (
        _nom,
        v.id_pg,
        v.type_structure,
        v.code_siege,
        v.souhaites,
        v.qualite,
        v.est_zrr,
        v.qpv,
        v.label_fs,
        v.prefets,
        v.cof_eur,
        v.cof_part,
    ) = s_values
    v.granted, v.total, v.already = granted, total, s.already_granted
    priorites, v.rangs_in, v.seuil, det, t = engine
    v.priorities = list(priorites or [])
    _lire_territoire(v, t or {})
    _lire_details(v, c, det or {})
    _mots_communs(v, c, s)
    return v


def _lire_territoire(v: Lecture, t: Any) -> None:
    """``territoire`` and its ``indicateurs``."""
    try:
        (
            v.code_t, v.dep_territoire, v.communes, v.population, v.offre, v.zrr, v.fs,
            v.repli_flag, ind,
        ) = TERRITOIRE(t) if type(t) is dict else lire(t, TERRITOIRE_CHAMPS)  # fmt: skip
        v.zrr_texte = v.zrr if type(t) is dict else t.get("zrr", "inconnu")
    except KeyError:
        (
            v.code_t, v.dep_territoire, v.communes, v.population, v.offre, v.zrr, v.fs,
            v.repli_flag, ind,
        ) = lire(t, TERRITOIRE_CHAMPS)  # fmt: skip
        v.zrr_texte = t.get("zrr", "inconnu")
    ind = ind or {}
    try:
        (
            v.score, v.acc_commune, v.acc_zone, v.advisors, v.sans_conseiller, v.pop_zone, repli
        ) = INDICATEURS(ind) if type(ind) is dict else lire(ind, INDICATEURS_CHAMPS)  # fmt: skip
    except KeyError:
        (
            v.score, v.acc_commune, v.acc_zone, v.advisors, v.sans_conseiller, v.pop_zone, repli
        ) = lire(ind, INDICATEURS_CHAMPS)  # fmt: skip
    v.repli = repli or []


def _lire_details(v: Lecture, c: Calcul, det: Any) -> None:
    """``details``: département, EPCI, cost, next post, counterfactual."""
    try:
        (dep, epci, v.q, v.f_cof, cost, v.gains_in, v.remaining, nxt, cf) = (
            DETAILS(det) if type(det) is dict else lire(det, DETAILS_CHAMPS)
        )
    except KeyError:
        (dep, epci, v.q, v.f_cof, cost, v.gains_in, v.remaining, nxt, cf) = lire(
            det, DETAILS_CHAMPS
        )
    v.nxt = nxt
    dep = dep or {}
    try:
        dep_code, dep_need, dep_existing, fair, dep_posts, v.cap_room = (
            DEPARTEMENT(dep) if type(dep) is dict else lire(dep, DEPARTEMENT_CHAMPS)
        )
    except KeyError:
        dep_code, dep_need, dep_existing, fair, dep_posts, v.cap_room = lire(
            dep, DEPARTEMENT_CHAMPS
        )
    v.dep_code, v.dep_need, v.dep_existing, v.fair, v.dep_posts = (
        dep_code, dep_need, dep_existing, fair, dep_posts
    )  # fmt: skip
    v.cost = cost = cost or {}
    try:
        v.standard, v.state, v.cof = COUT(cost) if type(cost) is dict else lire(cost, COUT_CHAMPS)
    except KeyError:
        v.standard, v.state, v.cof = lire(cost, COUT_CHAMPS)
    cf = cf or {}
    try:
        v.score_min, v.larger, v.verified, v.nested = (
            CONTREFACTUEL(cf) if type(cf) is dict else lire(cf, CONTREFACTUEL_CHAMPS)
        )
    except KeyError:
        v.score_min, v.larger, v.verified, v.nested = lire(cf, CONTREFACTUEL_CHAMPS)
    if epci is None:
        v.epci_code = v.epci_need = v.epci_existing = v.epci_posts = v.epci_t = None
    else:
        try:
            code, need, existing, posts = (
                EPCI(epci) if type(epci) is dict else lire(epci, EPCI_CHAMPS)
            )
        except KeyError:
            code, need, existing, posts = lire(epci, EPCI_CHAMPS)
        v.epci_code, v.epci_need, v.epci_existing, v.epci_posts = code, need, existing, posts
        v.epci_t = c.epci(code, need, existing, posts)
    if nxt is None:
        v.balance = v.distribution = None
    else:
        try:
            v.balance, v.distribution = (
                SUIVANT(nxt) if type(nxt) is dict else lire(nxt, SUIVANT_CHAMPS)
            )
        except KeyError:
            v.balance, v.distribution = lire(nxt, SUIVANT_CHAMPS)
    v.dep_t = c.departement(dep_code, dep_need, dep_existing, fair, dep_posts)


def _mots_communs(v: Lecture, c: Calcul, s: StructureIn) -> None:
    """The numbers and words several parts write, worded once."""
    qualite = v.qualite
    v.note_defaut = note_defaut = qualite is None
    v.note = note = DEFAULT_QUALITY if note_defaut else float(qualite)
    v.note_1 = nombre_memo(c.n1, note, 1)
    offre = v.offre
    v.population_t = nombre(v.population)
    v.offre_t = nombre(offre, 1)
    v.equivalents = EQUIVALENTS[1] if est_pluriel(offre, 1) else EQUIVALENTS[0]
    v.seuil_t = nombre_memo(c.n1, v.seuil, 1)
    v.priorites = nombres_1(v.priorities)
    prefets = v.prefets
    v.prefet = prefet = prefets[-1] if prefets else None
    v.avis = None if prefet is None else prefet.avisPrefet
    v.note_synth = s.is_synthetic("qualiteProjet") and not note_defaut
    v.prefet_synth = s.is_synthetic("prefet") and prefet is not None
    v.code = code = v.code_t or v.code_siege
    v.nom = c.communes.get(code or "", code or "—")
    if v.nested is None:  # a result computed before the engine said it: the round's structure
        v.nested = c.laminar
