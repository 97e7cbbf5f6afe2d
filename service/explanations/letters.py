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
from service.explanations.contrefactuel import contrefactuel_texte, contrefactuel_valeurs
from service.explanations.contribution import contribution_et_texte
from service.explanations.donnees import avis_ligne, cost_line
from service.explanations.essentiel import paragraphe_essentiel, resume_ligne, resume_sans_calcul
from service.explanations.legal import (
    ACCESSIBLES,
    EQUIVALENTS,
    TITRE_DONNEES,
    TITRE_OPERATIONS,
    TITRE_PARAMETRES,
    mention_valeurs,
)
from service.explanations.levels import (
    CHEMIN_EXPLICATION,
    CLE_NIVEAU,
    COMPACT_KEYS,
    ENGINE_KEYS,
    NIVEAU_COMPACT,
    NIVEAU_COMPLET,
    compacte,
    niveau_explication,
)
from service.explanations.meta import STATUT_VALIDE, RoundMeta
from service.explanations.parametres import NOMBRES, regles_contraignantes
from service.explanations.reading import (
    CONTREFACTUEL,
    CONTREFACTUEL_CHAMPS,
    COUT,
    COUT_CHAMPS,
    DEPARTEMENT,
    DEPARTEMENT_CHAMPS,
    DETAILS,
    DETAILS_CHAMPS,
    ENGINE,
    ENGINE_CHAMPS,
    ENGINE_KEYS_GET,
    EPCI,
    EPCI_CHAMPS,
    INDICATEURS,
    INDICATEURS_CHAMPS,
    STRUCTURE,
    STRUCTURE_CHAMPS,
    SUIVANT,
    SUIVANT_CHAMPS,
    TERRITOIRE,
    TERRITOIRE_CHAMPS,
    lire,
)
from service.explanations.render import titre
from service.explanations.tour import Tour
from service.explanations.wording import (
    cle_texte,
    est_pluriel,
    euros,
    ligne_du_tour,
    nombre,
    nombre_memo,
    nombres_1,
    oui_non,
    par_poste,
    pluriel,
    postes,
)


def explain_with(
    tour: Tour,
    decision: Mapping[str, Any],
    s: StructureIn,
    n_granted: int | None,
    compact: bool = False,
) -> dict[str, Any]:
    """:func:`explain_decision` with the wording the round's decisions share (``tour``).

    One function for the five parts: every input is read once, and each part's values and
    lines are written in turn (the lines as the Markdown of ``texte``, into ``buf``).
    ``compact``: :func:`compacte` of the result, without writing what it leaves out (the same
    functions write the opening paragraph, the summary and the counterfactual at both levels).
    """
    expl = decision.get("explication") or {}
    if type(expl) is not dict:
        expl = dict(expl)
    meta = tour.meta
    lock = None if meta is None else meta.verrous.get(int(decision["idPG"]))
    contribution, contribution_texte = contribution_et_texte(tour, decision, lock)
    try:  # the engine keys, then ours
        out: dict[str, Any] = dict(zip(ENGINE_KEYS, ENGINE_KEYS_GET(expl), strict=True))
    except KeyError:
        out = {k: expl[k] for k in ENGINE_KEYS if k in expl}
    out["mention"] = mention_valeurs()
    out["contribution"] = contribution
    try:
        s_values = STRUCTURE(s.__dict__)
    except (AttributeError, KeyError):
        s_values = tuple(getattr(s, k) for k in STRUCTURE_CHAMPS)
    (
        nom_structure,
        id_pg,
        type_structure,
        code_siege,
        souhaites,
        qualite,
        est_zrr,
        qpv,
        label_fs,
        prefets,
        cof_eur,
        cof_part,
    ) = s_values
    head = f"# {titre(nom_structure, id_pg)}\n\n"
    found = tuple(decision.get("motifs", ()))
    granted = int(decision["nombreConseillersAttribues"])
    total = decision.get("nombreConseillersCoselec")
    already = s.already_granted
    if "details" not in out:
        essentiel = out["essentiel"] = paragraphe_essentiel(
            tour,
            None,
            found,
            granted=granted,
            total=total,
            souhaites=souhaites,
            already=already,
            type_structure=type_structure,
            note=qualite,
            lock=lock,
        )
        out["resume"] = resume_sans_calcul(s, decision, contribution)
        out["texte"] = (head + essentiel + "\n\n" + contribution_texte).rstrip() + "\n"
        return compacte(out, id_pg) if compact else out
    if n_granted is None:
        n_granted = granted_total(tour.result)
    c = tour.calcul(n_granted)
    lignes = c.lignes
    p = c.profils.get(found) or c.profil(found)

    # -- the engine's numbers, each read once
    try:
        priorites_in, rangs_in, seuil, det, t = ENGINE(out)
    except KeyError:
        priorites_in, rangs_in, seuil, det, t = lire(out, ENGINE_CHAMPS)
    t = t or {}
    det = det or {}
    try:
        (code_t, dep_territoire, communes, population, offre, zrr, fs, repli_flag, ind) = (
            TERRITOIRE(t) if type(t) is dict else lire(t, TERRITOIRE_CHAMPS)
        )
        zrr_texte = zrr if type(t) is dict else t.get("zrr", "inconnu")
    except KeyError:
        (code_t, dep_territoire, communes, population, offre, zrr, fs, repli_flag, ind) = lire(
            t, TERRITOIRE_CHAMPS
        )
        zrr_texte = t.get("zrr", "inconnu")
    ind = ind or {}
    try:
        (score, acc_commune, acc_zone, advisors, sans_conseiller, pop_zone, repli) = (
            INDICATEURS(ind) if type(ind) is dict else lire(ind, INDICATEURS_CHAMPS)
        )
    except KeyError:
        (score, acc_commune, acc_zone, advisors, sans_conseiller, pop_zone, repli) = lire(
            ind, INDICATEURS_CHAMPS
        )
    repli = repli or []
    try:
        (dep, epci, q, f_cof, cost, gains_in, remaining, nxt, cf) = (
            DETAILS(det) if type(det) is dict else lire(det, DETAILS_CHAMPS)
        )
    except KeyError:
        (dep, epci, q, f_cof, cost, gains_in, remaining, nxt, cf) = lire(det, DETAILS_CHAMPS)
    dep = dep or {}
    try:
        dep_code, dep_need, dep_existing, fair, dep_posts, cap_room = (
            DEPARTEMENT(dep) if type(dep) is dict else lire(dep, DEPARTEMENT_CHAMPS)
        )
    except KeyError:
        dep_code, dep_need, dep_existing, fair, dep_posts, cap_room = lire(dep, DEPARTEMENT_CHAMPS)
    cost = cost or {}
    try:
        standard, state, cof = COUT(cost) if type(cost) is dict else lire(cost, COUT_CHAMPS)
    except KeyError:
        standard, state, cof = lire(cost, COUT_CHAMPS)
    cf = cf or {}
    try:
        score_min, larger, verified, nested = (
            CONTREFACTUEL(cf) if type(cf) is dict else lire(cf, CONTREFACTUEL_CHAMPS)
        )
    except KeyError:
        score_min, larger, verified, nested = lire(cf, CONTREFACTUEL_CHAMPS)
    if epci is None:
        epci_code = epci_need = epci_existing = epci_posts = None
        epci_t = None
    else:
        try:
            epci_code, epci_need, epci_existing, epci_posts = (
                EPCI(epci) if type(epci) is dict else lire(epci, EPCI_CHAMPS)
            )
        except KeyError:
            epci_code, epci_need, epci_existing, epci_posts = lire(epci, EPCI_CHAMPS)
        epci_t = c.epci(epci_code, epci_need, epci_existing, epci_posts)
    if nxt is None:
        balance = distribution = None
    else:
        try:
            balance, distribution = SUIVANT(nxt) if type(nxt) is dict else lire(nxt, SUIVANT_CHAMPS)
        except KeyError:
            balance, distribution = lire(nxt, SUIVANT_CHAMPS)
    dep_t = c.departement(dep_code, dep_need, dep_existing, fair, dep_posts)

    # -- numbers worded in several parts, formatted once
    note_defaut = qualite is None
    note = c.default_quality if note_defaut else float(qualite)
    note_1 = nombre_memo(c.n1, note, 1)
    population_t = nombre(population)
    offre_t = nombre(offre, 1)
    equivalents = EQUIVALENTS[1] if est_pluriel(offre, 1) else EQUIVALENTS[0]
    seuil_t = nombre_memo(c.n1, seuil, 1)
    priorities = list(priorites_in or [])
    priorites = nombres_1(priorities)
    prefet = prefets[-1] if prefets else None
    avis = None if prefet is None else prefet.avisPrefet

    # -- 3. data and their sources
    note_synth = s.is_synthetic("qualiteProjet") and not note_defaut
    prefet_synth = s.is_synthetic("prefet") and prefet is not None
    code = code_t or code_siege
    nom = c.communes.get(code or "", code or "—")
    if nested is None:  # a result computed before the engine said it: the round's structure
        nested = c.laminar
    essentiel = out["essentiel"] = paragraphe_essentiel(
        tour,
        c,
        found,
        granted=granted,
        total=total,
        souhaites=souhaites,
        already=already,
        type_structure=type_structure,
        note=note,
        lock=lock,
        score_min=score_min,
        nested=bool(nested),
    )
    if compact:
        compacted = {k: out[k] for k in COMPACT_KEYS[:3] if k in out}
        compacted["essentiel"] = essentiel
        compacted["resume"] = resume_ligne(
            tour, c, p, s, decision, contribution, granted, total, souhaites
        )
        compacted["contrefactuel"] = contrefactuel_valeurs(
            priorities, granted, seuil, p.locked, score_min, note, verified, nested, larger
        )
        compacted["explicationComplete"] = CHEMIN_EXPLICATION.format(idPG=int(id_pg))
        return compacted
    out["donnees"] = {
        "demande": {"valeur": souhaites, "sources": ["candidature"]},
        "dejaAttribues": {"valeur": already, "sources": ["historique_coselec"]},
        "noteProjet": {
            "valeur": note,
            "parDefaut": note_defaut,
            "synthetique": note_synth,
            "sources": [
                "note_par_defaut"
                if note_defaut
                else "synthetique"
                if note_synth
                else "instructeur_anct"
            ],
        },
        "avisPrefet": {
            "valeur": avis,
            "nombreSuggere": None if prefet is None else prefet.nombreConseillersPrefet,
            "commentaire": None if prefet is None else prefet.commentairePrefet,
            "synthetique": prefet_synth,
            "sources": ["synthetique" if prefet_synth else "prefet"],
        },
        "communeSiege": {
            "code": code,
            "nom": nom,
            "departement": dep_territoire,
            "sources": ["S1"],
        },
        "zoneDesservie": {
            "communes": communes,
            "population": pop_zone,
            "sources": ["candidature", "S1"],
        },
        "populationFragile": {"valeur": population, "sources": ["S1", "S3", "S7"]},
        "indiceFragilite": {
            "valeur": score,
            "echelle": "100 = moyenne de la région",
            "millesime": c.s3_millesime,
            "repli": repli_flag,
            "motifsRepli": repli,
            "sources": ["S3"],
        },
        "conseillersExistants": {
            "zone": advisors,
            "epci": epci_existing,
            "departement": dep_existing,
            "offreAPortee": offre,
            "origine": c.origine,
            "etatAu": c.etat_au,
            "sources": list(c.existing_sources),
        },
        "accessibilite": {
            "zone": acc_zone,
            "communeSiege": acc_commune,
            "partSansConseiller": sans_conseiller,
            "methode": "E2SFCA",
            "sources": ["calcul"],
        },
        "zrr": {"declare": est_zrr, "reference": zrr, "sources": ["candidature", "S8"]},
        "qpv": {"declare": qpv, "sources": ["candidature"]},
        "franceServices": {
            "declare": label_fs,
            "sitesDansLaZone": fs,
            "millesime": c.s6_millesime,
            "sources": ["candidature", "S6"],
        },
        "cofinancement": {
            "declareEur": cof_eur,
            "declarePart": cof_part,
            "coutStandardParPosteEur": standard,
            "cofinancementParPosteEur": cof,
            "coutEtatParPosteEur": state,
            "sources": ["candidature", "calcul"],
        },
        "sourcesCitees": [{"numero": n, "source": i} for n, i in c.sources_citees],
        "titre": TITRE_DONNEES,
    }
    buf = [head, essentiel, "\n\n", contribution_texte]
    # demand, project score, préfet opinion: a few distinct texts per round (numbers of posts
    # are written with str(): ints only in keys, as 2 and 2.0 are equal keys)
    key: tuple[Any, ...] | None = (
        ("demande", souhaites, already) if type(souhaites) is int and type(already) is int else None
    )
    buf.append(
        ligne_du_tour(
            lignes,
            key,
            lambda: (
                f"## 3. {TITRE_DONNEES}\n\n- Demande : {postes(souhaites)} au total, dont "
                f"{pluriel(already, 'poste déjà attribué', 'postes déjà attribués')} par des "
                "décisions antérieures (source : votre candidature et l'historique du comité).\n"
            ),
        )
    )
    buf.append(
        ligne_du_tour(
            lignes,
            ("note", note_1, note_defaut, note_synth),
            lambda: (
                f"- Note du projet : {note_1}/100 — "
                + (
                    c.note_par_defaut
                    if note_defaut
                    else "note SYNTHÉTIQUE (données de démonstration, graine fixe), pas une "
                    "note réelle."
                    if note_synth
                    else "note attribuée par l'instructeur de l'ANCT (qualiteProjet)."
                )
                + "\n"
            ),
        )
    )
    buf.append(
        "- Avis du préfet : aucun avis reçu (sans effet sur le calcul).\n"
        if prefet is None
        else avis_ligne(c, prefet, prefet_synth)
    )
    buf.append(
        f"- Commune siège : {nom} ({code}) ; zone desservie : {pluriel(communes, 'commune')}, "
        f"{pluriel(pop_zone, 'habitant')} ({c.ref_s1}).\n"
        "- Personnes éloignées du numérique dans la zone (estimation) : "
        f"{population_t}{c.population_fragile}"
        "- Indice de fragilité numérique de la commune siège : "
        f"{nombre_memo(c.n1, score, 1)}{c.indice}"
        + (
            f" ; valeur de repli utilisée pour une partie de la zone ({', '.join(repli)}).\n"
            if repli
            else ".\n"
        )
        + f"- Conseillers déjà présents : {nombre(advisors)} dans la zone, "
        + (f"{epci_t[0]} dans l'intercommunalité, " if epci_t is not None else "")
        + f"{dep_t[4]} dans le département ; offre à portée : {offre_t} {equivalents}"
        f"{c.etat_ligne}- Accessibilité : {nombre_memo(c.n2, acc_zone, 2)} "
        + (ACCESSIBLES[1] if est_pluriel(acc_zone, 2) else ACCESSIBLES[0])
        + c.accessibilite
    )
    zrr_declare = oui_non(est_zrr)
    key = (
        ("zrr", zrr_declare, zrr_texte, qpv, label_fs, fs)
        if type(fs) is int and (zrr_texte is None or type(zrr_texte) is str)
        else cle_texte("zrr", zrr_declare, zrr_texte, qpv, label_fs, fs)
    )
    buf.append(
        ligne_du_tour(
            lignes,
            key,
            lambda: (
                "- Zone de revitalisation rurale (ZRR) : déclaration de la structure "
                f"« {zrr_declare} », classement de la commune siège « {zrr_texte} » "
                f"({c.ref_s8}). Quartier prioritaire (QPV) : déclaration "
                f"« {qpv or 'non renseigné'} » (hors calcul). France Services : "
                f"labellisation déclarée « {label_fs or 'non renseigné'} », "
                f"{pluriel(fs, 'site')} dans la zone ({c.ref_s6}).\n"
            ),
        )
    )
    if cost:
        key = (
            ("cout", standard, state)
            if cof_eur is None
            and cof_part is None
            and type(standard) is float
            and type(state) is float
            and standard
            and state
            else None
        )
        buf.append(
            ligne_du_tour(lignes, key, lambda: f"- {cost_line(c, cof_eur, cof_part, cost)}\n\n")
        )
    else:
        buf.append("\n")

    # -- 4. parameters applied to the applicant
    reste = None if fair is None or dep_existing is None else fair - dep_existing - (dep_posts or 0)
    penalise = c.penaliser and bool(prefets) and avis in ("NÉGATIF", "NEGATIF")
    buf.append(c.poids_ligne)
    buf.append(
        f"- Facteur qualité de votre projet : {nombre_memo(c.n3, q, 3)} (note {note_1}/100"
        + (c.penalite if penalise else "")
        + ").\n"
    )
    buf.append(c.quota_ligne)
    buf.append(dep_t[1])
    if c.prioritaire:
        buf.append(
            "- Règle du cofinancement « prioritaire » : la composante « accès » de vos postes "
            f"est multipliée par {nombre_memo(c.n3, f_cof, 3)}{c.prioritaire_suite}"
        )
    else:
        buf.append(
            "- Règle du cofinancement « neutre » : le cofinancement ne change pas la priorité "
            "de vos postes (le besoin d'abord) ; il réduit seulement leur coût pour l'État.\n"
        )
    if cost:
        # (zero costs become the int 0 here: the text depends on these three numbers only)
        etat, cofinance = state or 0, cof or 0
        key = (
            (granted, etat, cofinance)
            if type(etat) in NOMBRES and type(cofinance) in NOMBRES
            else None
        )
        buf.append(
            ligne_du_tour(
                lignes,
                key,
                lambda: (
                    f"- Coût pour l'État des postes attribués par ce tour ({granted}) : "
                    f"{euros(etat * granted)} ; cofinancement : {euros(cofinance * granted)}.\n"
                ),
            )
        )
    buf.append(c.cofinancement_fin)
    # the engine's caps and floors, and whether each one stopped this applicant
    plancher = note < c.quality_floor and not p.score_insuffisant
    if p.satisfaite or p.part_dep:
        contraignantes, text = regles_contraignantes(c, p, plancher, remaining, cap_room)
    else:
        regles = p.regles.get(plancher)
        if regles is None:
            regles = p.regles[plancher] = regles_contraignantes(c, p, plancher, remaining, cap_room)
        contraignantes, text = regles
    buf.append(text)
    out["parametres"] = {
        "titre": TITRE_PARAMETRES,
        "poids": dict(c.poids),
        "facteurQualite": q,
        "penaliteAvisPrefet": c.prefet_penalty if penalise else None,
        "quota": c.quota,
        "quotaEffectif": c.quota_effectif,
        "enveloppeNationale": c.enveloppe,
        "enveloppeRestante": c.enveloppe_restante,
        "departement": {
            "code": dep_code,
            "nom": dep_t[0],
            "besoin": dep_need,
            "partEquitable": fair,
            "dejaPresents": dep_existing,
            "attribuesCeTour": dep_posts,
            "resteSurPartEquitable": reste,
            "plafond": cap_room,
        },
        "epci": None
        if epci is None
        else {
            "code": epci_code,
            "besoin": epci_need,
            "dejaPresents": epci_existing,
            "attribuesCeTour": epci_posts,
        },
        "regles": {
            "DEMANDE": {"valeur": remaining, "contraignante": p.satisfaite},
            "NOTE_MINIMALE": {"valeur": c.min_quality, "contraignante": p.score_insuffisant},
            "PLANCHER_NOTE": {"valeur": c.quality_floor, "contraignante": plancher},
            "PLAFOND_STRUCTURE": {"valeur": c.max_posts, "contraignante": p.plafond},
            "PART_DEPARTEMENT": {"valeur": cap_room, "contraignante": p.part_dep},
            "QUOTA": {"valeur": c.quota, "contraignante": p.quota},
            "ENVELOPPE": {"valeur": c.enveloppe_restante, "contraignante": p.enveloppe},
            "BUDGET": {"valeur": c.budget_restant, "contraignante": p.budget},
        },
        "reglesContraignantes": list(contraignantes),
        "cofinancement": {
            "regle": c.regle_cofinancement,
            "facteur": f_cof,
            "coutStandardParPosteEur": standard,
            "cofinancementParPosteEur": cof,
            "coutEtatParPosteEur": state,
            "coutEtatCeTourEur": None if state is None else state * granted,
            "cofinancementCeTourEur": None if cof is None else cof * granted,
            "budgetTourEur": c.budget,
            "contraintesLiantes": c.binding,
        },
    }

    # -- 5. operations
    # 5.1 eligibility: a few distinct texts per round
    key = (type_structure, note_1, avis, p)
    text = c.eligibilite.get(key)
    if text is None:
        text = c.eligibilite[key] = (
            f"## 5. {TITRE_OPERATIONS}\n\n### 5.1. Éligibilité\n\n- Type de structure "
            f"{type_structure} : "
            + (
                "éligible.\n"
                if type_structure in c.eligible_types
                else "non éligible dans ce tour.\n"
            )
            + f"- Note du projet {note_1}"
            + (c.note_non_remplie if p.score_insuffisant else c.note_remplie)
            + (
                "- Avis du préfet : aucun avis (neutre).\n"
                if avis is None
                else "- Avis du préfet : favorable.\n"
                if avis == "POSITIF"
                else "- Avis du préfet : défavorable : la candidature est écartée (règle "
                "« exclure »).\n"
                if p.avis_negatif
                else c.avis_negatif
            )
            + (
                "- Résultat : candidature non éligible (" + p.hard_texte + ").\n"
                if p.hard
                else "- Résultat : candidature éligible.\n"
            )
        )
    buf.append(text)
    # 5.2 need and coverage
    gains = list(gains_in or [])
    if gains:
        factor = c.w_a * (q or 0.0) * f_cof  # the same products, in the same order, per gain
        access = [round(factor * g, 6) for g in gains]
        buf.append(
            "\n### 5.2. Besoin et couverture existante\n\n"
            f"- Votre zone compte {population_t} personnes éloignées du numérique et une offre "
            f"déjà à portée de {offre_t} {equivalents}.\n"
            "- Personnes nouvellement à portée d'un conseiller avec chaque poste demandé dans ce "
            f"tour (rendements décroissants) : {par_poste(gains)}.\n{c.acces}"
            f"{nombre_memo(c.n3, q, 3)} × "
            + (f"facteur cofinancement {nombre_memo(c.n3, f_cof, 3)} × " if f_cof != 1.0 else "")
            + f"personnes nouvellement à portée : {par_poste(access)}.\n"
        )
    else:
        access = []
        buf.append(
            "\n### 5.2. Besoin et couverture existante\n\n"
            f"- Votre zone compte {population_t} personnes éloignées du numérique et une offre "
            f"déjà à portée de {offre_t} {equivalents}.\n"
            "- Aucun poste n'était à calculer pour votre structure dans ce tour.\n"
        )
    # 5.3 balance between départements
    buf.append(dep_t[2])
    if nxt is not None:
        buf.append(f"{dep_t[3]}{nombre_memo(c.n1, balance, 1)}.\n")
    # 5.4 within the département
    if epci_t is None:
        buf.append(
            "\n### 5.4. Répartition au sein du département\n\n- Votre structure agit à l'échelle "
            "du département (ou au-delà) : pas de composante intercommunale.\n"
        )
    else:
        buf.append(epci_t[1])
        if nxt is not None:
            buf.append(f"{epci_t[2]}{nombre_memo(c.n1, distribution, 1)}.\n")
    # 5.5 national ranking and tie-break
    buf.append(c.classement)
    locked = p.locked
    ranks = list(rangs_in or [])
    rows = []
    n_ranks = 0 if locked else len(ranks)
    for k, prio in enumerate(priorities):
        attribue = k < granted
        if k < n_ranks:
            rows.append({"poste": k + 1, "priorite": prio, "attribue": attribue, "rang": ranks[k]})
            etat = f"attribué, rang national {ranks[k]}" if attribue else "non attribué"
        else:
            rows.append({"poste": k + 1, "priorite": prio, "attribue": attribue})
            etat = (
                "non attribué"
                if not attribue
                else "attribué (nombre fixé par le comité)"
                if locked
                else "attribué"
            )
        buf.append(f"- Poste {k + 1} : priorité {priorites[k]} — {etat}.\n")
    if seuil is not None:
        buf.append(f"- Seuil du tour (priorité du dernier poste attribué) : {seuil_t}.\n")
    if locked:
        buf.append(
            "- Votre attribution a été fixée par le comité : vos postes ne sont pas classés "
            "(priorités données à titre indicatif).\n"
        )
    # (a few distinct texts per round; ints only in keys, as 2 and 2.0 are equal keys)
    entiers = type(total) is int and type(souhaites) is int
    key = ("resultat", granted, total, souhaites, p) if entiers else None
    buf.append(
        ligne_du_tour(
            lignes,
            key,
            lambda: (
                f"- Résultat : {pluriel(granted, 'poste attribué', 'postes attribués')} par ce "
                f"tour, total {nombre(total)} sur {pluriel(souhaites, 'demandé')} ; motifs : "
                f"{p.texte}.\n\n"
            ),
        )
    )
    out["operations"] = {
        "titre": TITRE_OPERATIONS,
        "etapes": [
            {
                "etape": "eligibilite",
                "titre": "Éligibilité",
                "eligible": not p.hard,
                "motifs": list(p.hard),
            },
            {
                "etape": "besoin_couverture",
                "titre": "Besoin et couverture existante",
                "populationFragile": population,
                "offreExistante": offre,
                "gains": gains,
                "composanteAcces": access,
            },
            {
                "etape": "equilibre_departements",
                "titre": "Équilibre entre départements",
                "departement": dep_code,
                "composanteSuivante": balance,
            },
            {
                "etape": "repartition_departement",
                "titre": "Répartition au sein du département",
                "epci": epci_code,
                "composanteSuivante": distribution,
            },
            {
                "etape": "classement_departage",
                "titre": "Classement national et départage",
                "postes": rows,
                "rangs": ranks,
                "seuil": seuil,
            },
        ],
    }

    # -- 6. what would have changed the outcome
    cf = out["contrefactuel"] = contrefactuel_valeurs(
        priorities, granted, seuil, p.locked, score_min, note, verified, nested, larger
    )
    ecart, suivant = cf["ecartAuSeuil"], granted < len(priorities)
    emboite = cf["prioritesEmboitees"]
    departemental = epci is None
    # without a score to reach (the usual case), a few distinct texts per round
    key = (
        (p, larger is True, larger is False, suivant, emboite, departemental)
        if score_min is None
        else None
    )
    buf.append(
        ligne_du_tour(
            lignes,
            key,
            lambda: contrefactuel_texte(
                c, p, score_min, larger, cf["verifie"], suivant, note, emboite, departemental
            ),
        )
    )
    if ecart is not None and ecart >= 0 and not p.satisfaite:
        buf.append(
            f"- Votre poste suivant avait une priorité de {priorites[granted]}, soit "
            f"{nombre(ecart, 1)} sous le seuil du tour ({seuil_t}).\n"
        )
    # the last line of ``texte`` (no blank line after it)
    buf.append(
        "- Cette analyse n'utilise aucune donnée propre aux autres candidats : seul le seuil du "
        "tour est commun à tous.\n"
    )
    out["resume"] = resume_ligne(tour, c, p, s, decision, contribution, granted, total, souhaites)
    # What render_text writes from the parts' lines: every part ends with a blank line but the
    # last, whose last line is a fixed sentence (so ``rstrip`` would not change anything).
    out["texte"] = "".join(buf)
    return out


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
