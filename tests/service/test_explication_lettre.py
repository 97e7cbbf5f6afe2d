"""A letter a mayor's office reads in a minute (issue 16).

- every letter opens with a plain paragraph of at most 120 words: what was asked, what is
  granted and who decided, the one or two reasons the engine's motifs give, and what the
  applicant can do next — with the decision's own numbers (Hypothesis over varied decisions);
- numbers and the words after them agree ("1 poste", "3 postes", never "poste(s)");
- who decided is said in words, never as a recorded technical id (``cli:root``, ``agence:7``);
- the public notice is cited by its title and its public address, not an API path;
- the sources of each letter are numbered S1, S2, … without gaps.

The compact level of ``POST /v1/allocate`` is tested in ``test_allocate_compacte.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from allocator import ALL_MOTIFS, motifs
from service import create_app
from service.application import notice, pipeline
from service.contract.schemas import RoundRequest, parse_round_request
from service.explanations import letters as ex
from service.explanations.essentiel import ESSENTIEL_MOTS_MAX, paragraphe_essentiel
from service.explanations.legal import (
    DECIDEUR,
    DEFAULT_PUBLIC_URL,
    NOTICE_TITRE,
    PUBLIC_URL_ENV,
    SOURCES,
    SOURCES_INTERNES,
    public_url,
)
from service.explanations.meta import STATUT_BROUILLON, STATUT_PROPOSITION, STATUT_VALIDE, RoundMeta
from service.explanations.render import render_html
from service.explanations.tour import Tour
from service.explanations.wording import auteur_en_clair, date_en_clair, nombre, pluriel, une_ligne
from tests.service.test_explication import CODES, _knapsack_payload, demo_payload

#: The fragments by which each reason of the opening paragraph is recognised.
REPERES: dict[str, tuple[str, ...]] = {
    motifs.VERROUILLE: ("le comité a fixé ce nombre lui-même",),
    motifs.DEMANDE_SATISFAITE: (
        "votre demande est entièrement satisfaite",
        "vous aviez déjà obtenu tous les postes demandés",
    ),
    motifs.TYPE_NON_ELIGIBLE: ("ne sont pas éligibles à ce tour",),
    motifs.AVIS_PREFET_NEGATIF: ("le préfet a donné un avis défavorable",),
    motifs.SCORE_INSUFFISANT: ("est sous la note minimale du tour",),
    motifs.PLAFOND_STRUCTURE: ("une structure ne peut pas détenir plus de",),
    motifs.PART_DEPARTEMENT_ATTEINTE: ("votre département a déjà reçu toute sa part",),
    motifs.BUDGET_EPUISE: ("le budget de ce tour ne suffisait pas",),
    motifs.ENVELOPPE_NATIONALE_EPUISEE: ("tous les postes que l'État finance",),
    motifs.QUOTA_EPUISE: (
        "de ce tour ont tous été attribués",
        "le seul poste de ce tour a été attribué",
        "ce tour n'avait aucun poste à attribuer",
    ),
    motifs.PRIORITE_INSUFFISANTE: ("votre poste suivant était moins prioritaire",),
}
RECOURS = "former un recours gracieux auprès de l'ANCT dans les deux mois."
PAS_ENCORE = "seule la décision du comité pourra être contestée."
VALIDE_LE = "2021-06-20T08:00:00Z"
NOMBRE = r"-?\d+(?:\u202f\d{3})*(?:,\d+)?"


def fr(value: float) -> str:
    """A score as a French reader expects it: 62, 62,5, 82,79 (reference for the tests)."""
    return f"{float(value):.2f}".rstrip("0").rstrip(".").replace(".", ",")


def valeur(text: str) -> float:
    return float(text.replace("\u202f", "").replace(",", "."))


def extrait(text: str, mots: int = 15) -> str:
    """A committee's reason as the opening paragraph quotes it: on one line, 15 words at most."""
    words = " ".join(text.splitlines()).split()
    return " ".join(words[:mots]) + (" …" if len(words) > mots else "")


# -- the opening paragraph ------------------------------------------------------------------------


def check_opening(d: dict[str, Any], e: dict[str, Any], s: Any, meta: RoundMeta | None) -> set[str]:
    """The opening paragraph of one decision's letter says what the decision's data say.

    Returns the motif codes it gives as reasons.
    """
    para = e["essentiel"]
    found = set(d["motifs"])
    granted = d["nombreConseillersAttribues"]
    total = d["nombreConseillersCoselec"]
    souhaites = s.nombreConseillersSouhaites
    already = s.already_granted
    valide = meta is not None and meta.statut == STATUT_VALIDE
    locked = motifs.VERROUILLE in found or (meta is not None and d["idPG"] in meta.verrous)
    # short, plain, first
    assert len(para.split()) <= ESSENTIEL_MOTS_MAX, (len(para.split()), para)
    assert para == une_ligne(para) and not para.startswith(("#", "-"))
    head, first, rest = e["texte"].split("\n\n", 2)
    assert head.startswith("# Explication de la décision") and first == para
    assert rest.startswith("## 1. ")
    # what was asked, what is granted, who decided
    assert para.startswith(f"Vous avez demandé {pluriel(souhaites, 'poste')} de conseiller")
    lock = meta.verrous.get(d["idPG"]) if meta is not None else None
    plain = para  # without the committee's reason (free text) that it quotes
    if lock and lock.get("motif"):
        quoted = f", pour le motif suivant : « {extrait(lock['motif'])} »"
        assert quoted in para
        plain = para.replace(quoted, "", 1)
    if already:
        assert f", dont {pluriel(already, 'déjà obtenu', 'déjà obtenus')}." in plain
        assert f" {nombre(total)} sur {nombre(souhaites)}." in plain
    if locked:
        assert f"fixé à {pluriel(granted, 'poste')}" in plain
    elif valide:
        assert (
            f"vous attribue {pluriel(granted, 'poste')} dans ce tour" in plain
            if granted
            else "ne vous attribue pas de poste dans ce tour" in plain
        )
    else:
        assert (
            f"propose de vous attribuer {pluriel(granted, 'poste')} dans ce tour" in plain
            if granted
            else "ne propose pas de poste pour vous dans ce tour" in plain
        )
    if valide:
        assert meta is not None
        assert "comité de sélection de l'ANCT" in plain
        assert f"(décision du {date_en_clair(meta.valide_le)})" in plain
        assert plain.endswith(RECOURS)
    else:
        assert plain.endswith(PAS_ENCORE) and "Ce n'est pas encore une décision" in plain
    # the reasons: one or two of the decision's own motifs (the committee's lock alone)
    given_ = {code for code, frags in REPERES.items() if any(f in plain for f in frags)}
    assert given_ <= found, (given_, found, para)
    if found - {motifs.ACCORDE}:
        assert 1 <= len(given_) <= 2, (given_, found, para)
    if motifs.VERROUILLE in found:
        assert given_ == {motifs.VERROUILLE}
    # with the decision's numbers
    allowed = {nombre(x) for x in (souhaites, already, granted, total, 100) if x is not None}
    if meta is not None and meta.valide_le:
        allowed |= {str(int(meta.valide_le[8:10])), meta.valide_le[:4]}
    if lock and lock.get("proposition") is not None:
        allowed.add(nombre(int(lock["proposition"])))
    regles = e["parametres"]["regles"]
    if motifs.SCORE_INSUFFISANT in given_:
        note = e["donnees"]["noteProjet"]["valeur"]
        minimum = regles["NOTE_MINIMALE"]["valeur"]
        assert f"({fr(note)}/100) est sous la note minimale du tour ({fr(minimum)}/100)" in plain
        allowed |= {fr(note), fr(minimum)}
    if motifs.QUOTA_EPUISE in given_ and (e["parametres"]["quota"] or 0) > 1:
        assert f"les {pluriel(e['parametres']['quota'], 'poste')} de ce tour" in plain
        allowed.add(nombre(e["parametres"]["quota"]))
    if motifs.PLAFOND_STRUCTURE in given_:
        cap = regles["PLAFOND_STRUCTURE"]["valeur"]
        assert f"plus de {pluriel(cap, 'poste')} en tout" in plain
        allowed.add(nombre(cap))
    # what the applicant can do next: only what is true of the decision
    cf = e["contrefactuel"]
    if "aurait valu un poste de plus" in plain:
        assert valide and cf["noteMinimale"] is not None and not locked
        seuil = "d'au moins" if cf["prioritesEmboitees"] else "de"
        assert f"une note {seuil} {fr(cf['noteMinimale'])}/100 aurait valu" in plain
        allowed.add(fr(cf["noteMinimale"]))
    if motifs.SCORE_INSUFFISANT in found and "note minimale du tour :" in plain:
        allowed.add(fr(regles["NOTE_MINIMALE"]["valeur"]))
    recrute = "engager le recrutement" in plain
    assert recrute is (valide and motifs.DEMANDE_SATISFAITE in found and granted > 0)
    encore = "demander d'autres postes" in plain
    nouvelle = "déposer une nouvelle candidature" in plain
    if encore or nouvelle:
        assert valide and not found & {
            motifs.DEMANDE_SATISFAITE,
            motifs.TYPE_NON_ELIGIBLE,
            motifs.PLAFOND_STRUCTURE,
        }
        assert encore is (total > 0) and nouvelle is (total == 0)
    elif valide:
        assert found & {
            motifs.DEMANDE_SATISFAITE,
            motifs.TYPE_NON_ELIGIBLE,
            motifs.PLAFOND_STRUCTURE,
        }
    # no number but the decision's
    for number in re.findall(NOMBRE, plain):
        assert number in allowed, (number, sorted(allowed), para)
    return given_


@st.composite
def varied_rounds(draw: st.DrawFn) -> dict[str, Any]:
    """Small real rounds: eligible and ineligible types, préfet opinions, scores below the
    minimum, earlier grants, locks, co-funding under a budget (knapsack), caps per structure
    and per département, a small national envelope, with or without the advisors' state."""
    n = draw(st.integers(2, 7))
    structures = []
    for i in range(n):
        asked = draw(st.integers(1, 4))
        s: dict[str, Any] = {
            "idPG": 100 + i,
            "type": draw(st.sampled_from(["COMMUNE", "COMMUNE", "EPCI", "DEPARTEMENT", "PRIVATE"])),
            "codeCommune": draw(st.sampled_from(CODES)),
            "nombreConseillersSouhaites": asked,
            "qualiteProjet": draw(
                st.one_of(st.none(), st.integers(0, 100), st.sampled_from([39.5, 62.25]))
            ),
            "createdAt": f"2021-05-0{1 + i % 9}T10:00:00Z",
        }
        prefet = draw(st.sampled_from([None, "POSITIF", "NÉGATIF"]))
        if prefet:
            s["prefet"] = [{"avisPrefet": prefet, "nombreConseillersPrefet": 1}]
        earlier = draw(st.integers(0, asked))
        if earlier:
            s["coselec"] = [{"nombreConseillersCoselec": earlier, "avisCoselec": "POSITIF"}]
        if draw(st.booleans()):
            s["cofinancementPart"] = draw(st.sampled_from([0.25, 0.5]))
        if draw(st.integers(0, 9)) == 0:
            s["verrou"] = draw(st.integers(0, asked - earlier))
        structures.append(s)
    payload: dict[str, Any] = {
        "quota": draw(st.integers(0, 10)),
        "mois": "2021-06",
        "structures": structures,
    }
    politique = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "budgetEur": st.sampled_from([60_000.0, 110_000.0, 160_000.0]),
                "plafondParStructure": st.integers(1, 2),
                "plafondDepartement": st.just("part_equitable"),
                "enveloppeNationale": st.integers(2, 12),
                "avisPrefetNegatif": st.just("penaliser"),
            },
        )
    )
    if politique:
        payload["politique"] = politique
    if "enveloppeNationale" in politique or draw(st.booleans()):
        payload["conseillersExistants"] = []  # the envelope is not consumed by 2021's advisors
    return payload


def metas(
    result: dict[str, Any], motif: str = "zone blanche", auteur: str = "cli:root"
) -> Iterator[RoundMeta | None]:
    """A stateless proposal, a draft, and the committed round (its locks with their reasons)."""
    verrous = {
        d["idPG"]: {
            "nombre": d["nombreConseillersAttribues"],
            "motif": motif,
            "auteur": "agence:7",
            "date": "2021-06-18T09:00:00Z",
            "proposition": 1,
        }
        for d in result["decisions"]
        if motifs.VERROUILLE in d["motifs"]
    }
    yield None
    yield RoundMeta(round_id=4, mois="2021-06", statut=STATUT_BROUILLON, auteur=auteur)
    yield RoundMeta(
        round_id=4,
        mois="2021-06",
        statut=STATUT_VALIDE,
        auteur=auteur,
        cree_le="2021-06-01T09:00:00Z",
        valide_par=auteur,
        valide_le=VALIDE_LE,
        verrous=verrous,
    )


def explained(
    request: RoundRequest, result: dict[str, Any], **kw: Any
) -> Iterator[tuple[dict[str, Any], dict[str, Any], Any, RoundMeta | None]]:
    by_id = {s.idPG: s for s in request.structures}
    for meta in metas(result, **kw):
        letters = ex.explain_round(result, request, meta)
        for d in result["decisions"]:
            yield d, letters[d["idPG"]], by_id[d["idPG"]], meta


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    payload=varied_rounds(),
    motif=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400),
)
def test_opening_paragraph_is_short_and_says_what_the_decision_says(
    payload: dict[str, Any], motif: str
) -> None:
    request = parse_round_request(payload)
    result = pipeline.run_round(request)
    if result["status"] == "INFEASIBLE":  # locks beyond the quota: no decision to explain
        return
    if result["rapport"].get("laminar") is False:
        event("sac à dos (budget, coûts inégaux)")
    for d, e, s, meta in explained(request, result, motif=motif):
        for code in check_opening(d, e, s, meta):
            event(f"raison {code}")


def _rounds_covering_every_motif() -> list[dict[str, Any]]:
    locked = demo_payload(n=20, quota=10)
    locked["structures"][5] = {**locked["structures"][5], "verrou": 1}
    locked["structures"][6] = {**locked["structures"][6], "verrou": 0}
    return [
        demo_payload(n=40, quota=25),  # granted, request met, private host, négatif, score
        locked,
        {**demo_payload(n=20, quota=15), "politique": {"plafondParStructure": 1}},
        {
            **demo_payload(n=40, quota=60),
            "politique": {"plafondDepartement": "part_equitable", "enveloppeNationale": 300},
        },
        _knapsack_payload(),
        {**demo_payload(n=20, quota=15), "politique": {"enveloppeNationale": 6}},
        demo_payload(n=12, quota=0),
        # the advisors' state from the 2021 committees (a source more to cite)
        {k: v for k, v in demo_payload(n=12, quota=5).items() if k != "conseillersExistants"},
    ]


@pytest.fixture(scope="module")
def rounds() -> list[tuple[RoundRequest, dict[str, Any]]]:
    out = []
    for payload in _rounds_covering_every_motif():
        if payload.get("politique", {}).get("enveloppeNationale") == 6:
            payload = {**payload, "conseillersExistants": []}
        request = parse_round_request(payload)
        out.append((request, pipeline.run_round(request)))
    return out


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    found=st.sets(st.sampled_from(ALL_MOTIFS), max_size=6).map(motifs.ordered),
    numbers=st.tuples(*[st.integers(0, 1_000_000)] * 4),
    note=st.one_of(st.none(), st.floats(0, 100)),
    score=st.one_of(st.none(), st.floats(0, 100)),
    nested=st.booleans(),
    statut=st.sampled_from([STATUT_PROPOSITION, STATUT_BROUILLON, STATUT_VALIDE]),
    reason=st.one_of(st.none(), st.text(max_size=2000)),
    kind=st.sampled_from(["COMMUNE", "PRIVATE", "GIP", "type inconnu de la structure"]),
)
def test_opening_paragraph_is_short_whatever_the_motifs_and_numbers(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
    found: tuple[str, ...],
    numbers: tuple[int, int, int, int],
    note: float | None,
    score: float | None,
    nested: bool,
    statut: str,
    reason: str | None,
    kind: str,
) -> None:
    """Any set of motifs (even ones the engine never gives together), any numbers, any reason of
    the committee: at most 120 words, on one line."""
    _, result = rounds[4]  # a knapsack round: a budget, caps and every number known
    granted, total, asked, already = numbers
    lock = None if reason is None else {"nombre": granted, "motif": reason, "proposition": asked}
    meta = RoundMeta(round_id=3, statut=statut, valide_le=VALIDE_LE, auteur="cli:root")
    tour = Tour(result, None if statut == STATUT_PROPOSITION else meta)
    c = tour.calcul(1_000_000)
    para = paragraphe_essentiel(
        tour,
        c,
        found,
        granted=granted,
        total=total,
        souhaites=asked,
        already=already,
        type_structure=kind,
        note=note,
        lock=lock,
        score_min=score,
        nested=nested,
    )
    target(float(len(para.split())))  # search for the longest paragraph
    assert len(para.split()) <= ESSENTIEL_MOTS_MAX, (len(para.split()), para)
    assert para == une_ligne(para)


def test_opening_paragraph_gives_every_kind_of_reason(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    """The same checks on fixed real rounds, which together give every motif as a reason."""
    reasons: set[str] = set()
    for request, result in rounds:
        for d, e, s, meta in explained(request, result):
            reasons |= check_opening(d, e, s, meta)
    assert reasons == set(ALL_MOTIFS) - {motifs.ACCORDE}


def test_opening_paragraph_of_a_committed_partial_grant(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    """A committed partial grant: the paragraph a mayor's office reads first."""
    request, result = rounds[0]
    d = next(
        x
        for x in result["decisions"]
        if x["nombreConseillersAttribues"] and motifs.QUOTA_EPUISE in x["motifs"]
    )
    s = next(x for x in request.structures if x.idPG == d["idPG"])
    meta = list(metas(result))[-1]
    e = ex.explain_decision(d, s, result, meta)
    assert e["essentiel"] == (
        f"Vous avez demandé {pluriel(s.nombreConseillersSouhaites, 'poste')} de conseiller "
        "numérique. Le comité de sélection de l'ANCT vous attribue "
        f"{pluriel(d['nombreConseillersAttribues'], 'poste')} dans ce tour (décision du 20 "
        "juin 2021). Raisons : les 25 postes de ce tour ont tous été attribués ; votre poste "
        "suivant était moins prioritaire que le dernier attribué (besoin du territoire, "
        "conseillers déjà présents, note du projet). Vous pouvez "
        + (
            f"améliorer votre projet (une note d'au moins "
            f"{fr(e['contrefactuel']['noteMinimale'])}/100 aurait valu un poste de plus), "
            if e["contrefactuel"]["noteMinimale"] is not None
            else ""
        )
        + "demander d'autres postes sur le portail pour un prochain tour ou former un recours "
        "gracieux auprès de l'ANCT dans les deux mois."
    )


def test_a_long_committee_reason_is_cut_in_the_opening_paragraph_only(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    request, result = rounds[1]
    reason = " ".join(f"mot{k}" for k in range(300))
    by_id = {s.idPG: s for s in request.structures}
    for d, e, _, meta in explained(request, result, motif=reason):
        if meta is not None and d["idPG"] in meta.verrous:
            assert len(e["essentiel"].split()) <= ESSENTIEL_MOTS_MAX
            assert "« mot0 mot1" in e["essentiel"] and "mot15" not in e["essentiel"]
            assert reason in e["texte"].split("## 2.")[1]  # quoted whole in part 2
            check_opening(d, e, by_id[d["idPG"]], meta)


def test_html_page_opens_with_the_paragraph_not_a_second_summary(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    _, result = rounds[0]
    d = result["decisions"][0]
    page = render_html({"idPG": d["idPG"], "nom": "Mairie", "explication": d["explication"]})
    body = page.split("<body>")[1]
    assert body.index("<h1>") < body.index("<p>Vous avez demandé") < body.index("<h2>")
    assert 'class="resume"' not in page
    older = {k: v for k, v in d["explication"].items() if k != "essentiel"}
    assert 'class="resume"' in render_html({"idPG": d["idPG"], "explication": older})


# -- numbers and words agree ----------------------------------------------------------------------

#: A number not inside a larger one (digits grouped by a narrow or a plain space).
SEUL = r"(?<![\d,\u202f])(?<!\d )"
NOMS = "poste|conseiller|commune|habitant|site|personne|demandé"
ACCORDS = re.compile(rf"{SEUL}({NOMBRE}) ({NOMS})(s?)\b")
PARTICIPES = re.compile(rf"{SEUL}({NOMBRE}) (postes?) (attribué|suggéré)(s?)\b")


def check_agreement(text: str) -> None:
    assert "(s)" not in text
    for m in ACCORDS.finditer(text):
        assert (m.group(3) == "s") is (abs(valeur(m.group(1))) >= 2), m.group(0)
    for m in PARTICIPES.finditer(text):
        assert (m.group(4) == "s") is (abs(valeur(m.group(1))) >= 2), m.group(0)


@settings(max_examples=3000, deadline=None, database=None)
@given(
    value=st.one_of(
        st.integers(-5000, 5000),
        st.floats(-5, 5, allow_nan=False),
        st.sampled_from([1.96, 1.949, -1.5, 2.0, 0.0, -0.0]),
    ),
    decimales=st.integers(0, 3),
)
def test_pluriel_agrees_with_the_number_as_printed(value: float, decimales: int) -> None:
    text = pluriel(value, "poste attribué", "postes attribués", decimales)
    number, _, words = text.partition(" poste")
    assert number == nombre(value, decimales)
    assert words.startswith("s attribués") is (abs(valeur(number)) >= 2)
    check_agreement(text)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(payload=varied_rounds())
def test_letters_write_no_plural_in_parentheses(payload: dict[str, Any]) -> None:
    request = parse_round_request(payload)
    result = pipeline.run_round(request)
    if result["status"] == "INFEASIBLE":  # locks beyond the quota: no decision to explain
        return
    for _, e, _, _ in explained(request, result):
        for text in (e["texte"], e["essentiel"], e["resume"]):
            check_agreement(text)


def test_letters_and_notice_of_real_rounds_agree_numbers_and_words(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    for request, result in rounds:
        for _, e, _, _ in explained(request, result):
            for text in (e["texte"], e["essentiel"], e["resume"]):
                check_agreement(text)
    check_agreement(notice.render("md"))


def test_service_messages_agree_numbers_and_words() -> None:
    from service.analysis.simulate import simulate
    from service.contract.schemas import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        simulate(policies=["moteur", "au_hasard"])
    (error,) = caught.value.errors
    assert error.champ == "politiques" and error.message.startswith("1 politique inconnue : ")


# -- who decided ----------------------------------------------------------------------------------


def test_letter_never_names_a_technical_id_as_who_decided(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    request, result = rounds[1]
    by_id = {s.idPG: s for s in request.structures}
    d = next(x for x in result["decisions"] if motifs.VERROUILLE in x["motifs"])
    meta = RoundMeta(
        round_id=9,
        mois="2021-06",
        statut=STATUT_VALIDE,
        auteur="cli:root",
        cree_le="2021-06-01T09:00:00Z",
        valide_par="agence:7",
        valide_le="2021-07-15T10:00:00Z",
        verrous={d["idPG"]: {"nombre": 1, "motif": "zone blanche", "auteur": "admin:ci-bot"}},
    )
    e = ex.explain_decision(d, by_id[d["idPG"]], result, meta)
    for text in (e["texte"], e["essentiel"], e["resume"]):
        for raw in ("cli:root", "root", "agence:7", "admin:ci-bot", "ci-bot"):
            assert raw not in text
    assert "Le comité de sélection de l'ANCT a fixé à" in e["essentiel"]
    assert "(décision du 15 juillet 2021)" in e["essentiel"]
    texte = e["texte"]
    assert (
        "Tour d'attribution n° 9 (mois de juin 2021), préparé le 1er juin 2021 par un agent de "
        "l'ANCT (ligne de commande)."
    ) in texte
    assert "(enregistré par un administrateur du service)" in texte
    assert (
        "Décision prise par le comité de sélection de l'ANCT le 15 juillet 2021 (validation "
        "enregistrée par un agent de l'ANCT)"
    ) in texte
    # the recorded ids stay in the data, for the audit
    assert e["contribution"]["validePar"] == "agence:7"
    assert e["contribution"]["preparePar"] == "cli:root"
    assert e["contribution"]["decideur"] == DECIDEUR


@pytest.mark.parametrize(
    ("recorded", "words"),
    [
        ("cli:root", "un agent de l'ANCT (ligne de commande)"),
        ("cli", "un agent de l'ANCT (ligne de commande)"),
        ("agence:12", "un agent de l'ANCT"),
        ("agence:Marie Dupont", "un agent de l'ANCT"),
        ("admin:7", "un administrateur du service"),
        ("démonstration", "la démonstration du service"),
        ("import-historique", "l'import de l'historique des comités"),
        ("x\n## 7. Faux", "un utilisateur du service"),
        ("", None),
        (None, None),
    ],
)
def test_recorded_authors_in_words(recorded: str | None, words: str | None) -> None:
    assert auteur_en_clair(recorded) == words


@pytest.mark.parametrize(
    ("iso", "words"),
    [
        ("2021-07-01T09:00:00Z", "1er juillet 2021"),
        ("2021-12-15", "15 décembre 2021"),
        ("2021-13-01", "2021-13-01"),
        ("hier\nsoir", "hier soir"),
    ],
)
def test_dates_in_words(iso: str, words: str) -> None:
    assert date_en_clair(iso) == words


# -- the notice, cited by its title and public address ---------------------------------------------


def test_letter_cites_the_notice_by_title_and_public_address(
    rounds: list[tuple[RoundRequest, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    request, result = rounds[0]
    monkeypatch.delenv(PUBLIC_URL_ENV, raising=False)
    for _, e, _, _ in explained(request, result):
        assert (
            f"« {NOTICE_TITRE} », publiée à l'adresse {DEFAULT_PUBLIC_URL}/v1/notice" in e["texte"]
        )
        assert "GET /v1/notice" not in e["texte"] and "(notice," not in e["texte"]
    monkeypatch.setenv(PUBLIC_URL_ENV, "https://conseillers.exemple.gouv.fr/")
    letters = ex.explain_round(result, request)
    for text in (x["texte"] for x in letters.values()):
        assert (
            "« Notice publique de l'algorithme d'attribution des conseillers numériques », "
            "publiée à l'adresse https://conseillers.exemple.gouv.fr/v1/notice." in text
        )
    assert notice.render("md").startswith(f"# {NOTICE_TITRE}\n")


@pytest.mark.parametrize(
    "bad",
    [
        "conseillers.gouv.fr",
        "ftp://conseillers.gouv.fr",
        "https://",
        "https://conseillers.gouv.fr/?a=1",
        "https://conseillers.gouv.fr/#x",
        "https://conseillers .gouv.fr",
        "https://agent:secret@conseillers.gouv.fr",
        "https://conseillers.gouv.fr:99999",
    ],
)
def test_a_public_url_the_letters_could_not_cite_is_refused(
    bad: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PUBLIC_URL_ENV, bad)
    with pytest.raises(ValueError, match=PUBLIC_URL_ENV):
        public_url()
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=PUBLIC_URL_ENV):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}"})


# -- sources numbered S1, S2, … in each letter ----------------------------------------------------


def check_sources(e: dict[str, Any]) -> None:
    texte = e["texte"]
    cited = re.findall(r"\bS(\d+)\b", texte)
    first = list(dict.fromkeys(int(n) for n in cited))
    assert first == list(range(1, len(first) + 1)), first  # in order, without gaps
    numbering = {x["numero"]: x["source"] for x in e["donnees"]["sourcesCitees"]}
    assert list(numbering) == [f"S{n}" for n in first]
    for m in re.finditer(r"\b(S\d+) : ", texte):
        assert texte[m.end() :].startswith(SOURCES[numbering[m.group(1)]].court), m.group(0)
    for item in e["donnees"].values():
        if isinstance(item, dict):  # the data keep the ids of DATA.md
            for code in item["sources"]:
                assert code in SOURCES or code in SOURCES_INTERNES


def test_letter_sources_are_numbered_without_gaps(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    seen = set()
    for request, result in rounds:
        for _, e, _, _ in explained(request, result):
            check_sources(e)
            seen.add(len(e["donnees"]["sourcesCitees"]))
    assert seen == {5, 6}  # with and without the 2021 committees (S5 of DATA.md)
