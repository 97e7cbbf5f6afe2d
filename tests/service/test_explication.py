"""The legal explanation of every decision (service.explanations.letters), on real rounds.

Every decision of a real round (bundled 2021 structures, synthetic scores and opinions) carries
the five parts of R311-3-1-2 plus the mention and the text, consistent with the result; the
counterfactual score is checked by re-solving the round with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator import ALL_MOTIFS, motifs
from service.application.pipeline import dumps, run_round
from service.contract.schemas import RoundRequest, parse_round_request
from service.explanations import letters as ex
from service.explanations.legal import (
    CONTACT_ANCT,
    DEPARTAGE,
    MOTIF_LIBELLES,
    REFERENCES_LEGALES,
    SOURCES,
    SOURCES_INTERNES,
    TRIBUNAL_ADMINISTRATIF,
)
from service.explanations.levels import ENGINE_KEYS, PART_KEYS
from service.explanations.meta import STATUT_PROPOSITION, STATUT_VALIDE, RoundMeta
from service.explanations.render import markdown_html, render_html
from service.explanations.wording import nombre

ROOT = Path(__file__).resolve().parents[2]
HARD = {motifs.TYPE_NON_ELIGIBLE, motifs.AVIS_PREFET_NEGATIF, motifs.SCORE_INSUFFISANT}
STEPS = [
    "eligibilite",
    "besoin_couverture",
    "equilibre_departements",
    "repartition_departement",
    "classement_departage",
]


def demo_payload(n: int = 40, quota: int = 25) -> dict[str, Any]:
    """A real small round: the first ``n`` structures of the first 2021 committee."""
    from service.application.history import demo_request

    payload = demo_request(committee=0)
    structures = payload["structures"][:n]
    structures[1] = {**structures[1], "type": "PRIVATE"}
    structures[2] = {
        **structures[2],
        "prefet": [{"avisPrefet": "NÉGATIF", "nombreConseillersPrefet": 0}],
    }
    structures[3] = {k: v for k, v in structures[3].items() if k != "qualiteProjet"}
    return {**payload, "structures": structures, "quota": quota}


@pytest.fixture(scope="module")
def round_pair(real_pipeline_module: None) -> tuple[RoundRequest, dict[str, Any]]:
    request = parse_round_request(demo_payload())
    return request, run_round(request)


@pytest.fixture(scope="module")
def real_pipeline_module() -> None:
    try:
        import service.application.pipeline  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"pipeline unavailable: {exc}")


def check_decision(d: dict[str, Any], s: Any, result: dict[str, Any], request: Any) -> None:
    """The five parts, the mention and the text agree with the decision and the round."""
    e = d["explication"]
    for key in (*ENGINE_KEYS, *PART_KEYS):
        assert key in e, key
    granted = d["nombreConseillersAttribues"]
    found = set(d["motifs"])
    report = result["rapport"]
    det = e["details"]
    # 1. mention
    assert e["mention"]["references"] == list(REFERENCES_LEGALES)
    assert "CADA" in e["mention"]["recours"]
    # 2. contribution
    c = e["contribution"]
    assert c["mode"] == "aide à la décision"
    if motifs.VERROUILLE not in found:
        assert c["propositionAlgorithme"] == granted
    # 3. data
    don = e["donnees"]
    assert don["demande"]["valeur"] == s.nombreConseillersSouhaites
    assert don["dejaAttribues"]["valeur"] == s.already_granted
    assert don["noteProjet"]["valeur"] == (50.0 if s.qualiteProjet is None else s.qualiteProjet)
    assert don["noteProjet"]["parDefaut"] is (s.qualiteProjet is None)
    assert don["avisPrefet"]["valeur"] == (s.prefet[-1].avisPrefet if s.prefet else None)
    assert don["communeSiege"]["code"] == e["territoire"]["codeCommune"]
    assert don["indiceFragilite"]["valeur"] == e["territoire"]["indicateurs"]["score_global"]
    assert don["indiceFragilite"]["millesime"] == SOURCES["S3"].millesime
    assert don["conseillersExistants"]["departement"] == det["departement"]["existing"]
    for item in don.values():
        if isinstance(item, dict):
            assert item["sources"], item
            for code in item["sources"]:
                assert code in SOURCES or code in SOURCES_INTERNES
    # 4. parameters
    par = e["parametres"]
    assert par["quota"] == request.quota == result["totaux"]["quota"]
    assert par["poids"]["acces"] == report["policy"]["weight_access"]
    dep = det["departement"]["code"]
    assert par["departement"]["partEquitable"] == report["fair_shares"][dep]
    assert par["departement"]["dejaPresents"] == det["departement"]["existing"]
    assert par["departement"]["attribuesCeTour"] == report["posts_per_departement"].get(dep, 0)
    assert par["regles"]["DEMANDE"]["contraignante"] is (motifs.DEMANDE_SATISFAITE in found)
    assert par["regles"]["NOTE_MINIMALE"]["contraignante"] is (motifs.SCORE_INSUFFISANT in found)
    assert set(par["reglesContraignantes"]) == {
        k for k, v in par["regles"].items() if v["contraignante"]
    }
    # 5. operations
    ops = e["operations"]["etapes"]
    assert [o["etape"] for o in ops] == STEPS
    assert ops[0]["eligible"] is not bool(HARD & found)
    assert ops[1]["gains"] == det["gains"]
    rank = ops[4]
    assert rank["rangs"] == e["rangs"] and rank["seuil"] == e["seuil"]
    assert [p["priorite"] for p in rank["postes"]] == e["priorites"]
    assert sum(p["attribue"] for p in rank["postes"]) == min(granted, len(e["priorites"]))
    # counterfactual
    cf = e["contrefactuel"]
    assert cf["noteMinimale"] == det["counterfactual"]["min_quality"]
    assert cf["demandePlusGrande"] == det["counterfactual"]["larger_request_would_help"]
    if cf["noteMinimale"] is not None:
        assert cf["noteMinimale"] > cf["noteActuelle"]
    # text: generated from the same numbers
    text = e["texte"]
    assert text.startswith("# Explication de la décision")
    for part in ("mention", "contribution", "donnees", "parametres", "operations"):
        assert e[part]["titre"] in text
    assert f"Résultat : {granted} poste" in text
    assert f"total {nombre(d['nombreConseillersCoselec'])} sur" in text
    for m in found:
        assert MOTIF_LIBELLES[m] in text
    for r in e["rangs"]:
        assert f"rang national {r}" in text
    if e["seuil"] is not None:
        assert nombre(e["seuil"], 1) in text
    if cf["noteMinimale"] is not None:
        assert nombre(cf["noteMinimale"], 2) in text
    assert e["resume"].startswith(f"{granted} poste")


def test_every_decision_explained(round_pair: tuple[RoundRequest, dict[str, Any]]) -> None:
    request, result = round_pair
    by_id = {s.idPG: s for s in request.structures}
    assert len(result["decisions"]) == len(request.structures)
    seen: set[str] = set()
    for d in result["decisions"]:
        check_decision(d, by_id[d["idPG"]], result, request)
        seen.update(d["motifs"])
        assert d["explication"]["contribution"]["statut"] == STATUT_PROPOSITION
    # the round exercises refusals of several kinds
    assert {motifs.TYPE_NON_ELIGIBLE, motifs.AVIS_PREFET_NEGATIF, motifs.ACCORDE} <= seen
    assert result["sources"]["conseillersExistants"]["origine"] == "requete"


def test_counterfactual_score_gives_one_more_post(
    round_pair: tuple[RoundRequest, dict[str, Any]],
) -> None:
    """Re-solving with the suggested score yields one more post; 0.01 less does not."""
    request, result = round_pair
    payload = request.model_dump(mode="json", exclude_none=True)
    candidates = [
        d for d in result["decisions"] if d["explication"]["contrefactuel"]["noteMinimale"]
    ]
    assert candidates, "the round should have counterfactual scores to verify"
    for d in candidates[:10]:
        score = d["explication"]["contrefactuel"]["noteMinimale"]
        index = next(i for i, s in enumerate(payload["structures"]) if s["idPG"] == d["idPG"])
        granted = {}
        for value in (score, round(score - 0.01, 2)):
            changed = json.loads(json.dumps(payload))
            changed["structures"][index]["qualiteProjet"] = value
            again = run_round(parse_round_request(changed))
            granted[value] = next(
                x["nombreConseillersAttribues"]
                for x in again["decisions"]
                if x["idPG"] == d["idPG"]
            )
        assert granted[score] == d["nombreConseillersAttribues"] + 1, d["idPG"]
        if motifs.SCORE_INSUFFISANT not in d["motifs"]:
            assert granted[round(score - 0.01, 2)] == d["nombreConseillersAttribues"]


def test_results_stay_byte_deterministic(
    round_pair: tuple[RoundRequest, dict[str, Any]],
) -> None:
    request, result = round_pair
    again = run_round(parse_round_request(request.model_dump(mode="json", exclude_none=True)))

    def strip(text: str) -> str:
        return re.sub(r'"secondes": ?[0-9.e-]+', "", text)

    assert strip(dumps(again)) == strip(dumps(result))


def test_explain_round_is_pure_and_idempotent(
    round_pair: tuple[RoundRequest, dict[str, Any]],
) -> None:
    """Re-explaining a result (as the commit does) gives the same explanations."""
    request, result = round_pair
    again = ex.explain_round(json.loads(json.dumps(result)), request)
    for d in result["decisions"]:
        assert again[d["idPG"]] == json.loads(json.dumps(d["explication"]))


def test_committed_meta_and_override(round_pair: tuple[RoundRequest, dict[str, Any]]) -> None:
    request, result = round_pair
    d = next(x for x in result["decisions"] if x["nombreConseillersAttribues"] == 0)
    locked = {**d, "nombreConseillersAttribues": 1, "motifs": ["ACCORDE", "VERROUILLE"]}
    meta = RoundMeta(
        round_id=7,
        mois="2021-07",
        statut=STATUT_VALIDE,
        auteur="agence:a",
        cree_le="2021-07-01T09:00:00Z",
        valide_par="agence:b",
        valide_le="2021-07-15T10:00:00Z",
        verrous={d["idPG"]: {"nombre": 1, "motif": "zone blanche", "proposition": 0}},
    )
    s = next(x for x in request.structures if x.idPG == d["idPG"])
    e = ex.explain_decision(locked, s, result, meta)
    c = e["contribution"]
    assert c["statut"] == "valide" and c["validePar"] == "agence:b"
    assert c["valideLe"] == "2021-07-15T10:00:00Z" and c["tour"] == {"id": 7, "numero": "7"}
    assert c["derogation"]["motif"] == "zone blanche"
    assert c["propositionAlgorithme"] == 0 and c["decision"] == 1
    assert "« zone blanche »" in e["texte"] and "l'algorithme proposait 0 poste" in e["texte"]
    assert "Décision prise par le comité de sélection de l'ANCT le 15 juillet 2021" in e["texte"]
    assert "(validation enregistrée par un agent de l'ANCT)" in e["texte"]
    assert "registre du service au 1er juillet 2021" in e["texte"]
    assert e["donnees"]["conseillersExistants"]["etatAu"] == "2021-07-01T09:00:00Z"
    assert e["donnees"]["conseillersExistants"]["sources"] == ["S5", "tours_valides"]


def test_vocabulary_is_complete() -> None:
    assert set(MOTIF_LIBELLES) == set(ALL_MOTIFS)
    data_md = (ROOT / "DATA.md").read_text(encoding="utf-8")
    for s in SOURCES.values():
        assert f"| {s.id} |" in data_md and s.version.split("@")[-1] in data_md, s.id


def test_html_is_escaped() -> None:
    entry = {
        "idPG": 1,
        "nom": "<script>alert(1)</script>",
        "explication": {"texte": "# Titre\n\n## 1. A\n\n- <b>x</b>\n", "resume": "r <i>"},
    }
    page = render_html(entry)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<li>&lt;b&gt;x&lt;/b&gt;</li>" in page and "r &lt;i&gt;" in page


CODES = ["01283", "01053", "75056", "13055", "69123", "29019", "38185", "97411", "2A004"]


@st.composite
def small_rounds(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 6))
    structures = []
    for i in range(n):
        prefet = draw(st.sampled_from([None, "POSITIF", "NÉGATIF"]))
        s: dict[str, Any] = {
            "idPG": 100 + i,
            "type": draw(st.sampled_from(["COMMUNE", "EPCI", "DEPARTEMENT", "PRIVATE"])),
            "codeCommune": draw(st.sampled_from(CODES)),
            "nombreConseillersSouhaites": draw(st.integers(1, 4)),
            "qualiteProjet": draw(st.one_of(st.none(), st.integers(0, 100))),
            "createdAt": f"2021-05-0{1 + i % 9}T10:00:00Z",
        }
        if prefet:
            s["prefet"] = [{"avisPrefet": prefet, "nombreConseillersPrefet": 1}]
        if draw(st.booleans()):
            s["coselec"] = [{"nombreConseillersCoselec": 1, "avisCoselec": "POSITIF"}]
        structures.append(s)
    return {"quota": draw(st.integers(0, 8)), "mois": "2021-06", "structures": structures}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(payload=small_rounds())
def test_generated_rounds_are_explained(
    real_pipeline_module: None, payload: dict[str, Any]
) -> None:
    request = parse_round_request(payload)
    result = run_round(request)
    by_id = {s.idPG: s for s in request.structures}
    if result["status"] == "INFEASIBLE":  # pragma: no cover - no locks here
        return
    for d in result["decisions"]:
        check_decision(d, by_id[d["idPG"]], result, request)


def _tied_pair(created_5: str | None, created_9: str | None) -> dict[str, Any]:
    """Two communes with the same seat, score and request: tied on priority for one post."""
    structures = []
    for id_pg, created in ((5, created_5), (9, created_9)):
        s: dict[str, Any] = {
            "idPG": id_pg,
            "type": "COMMUNE",
            "codeCommune": "01283",
            "nombreConseillersSouhaites": 1,
            "qualiteProjet": 70,
        }
        if created is not None:
            s["createdAt"] = created
        structures.append(s)
    return {"quota": 1, "mois": "2021-06", "structures": structures}


@pytest.mark.parametrize(
    ("created_5", "created_9"),
    [
        ("2021-05-01T09:00:00Z", "2021-05-01T10:00:00+02:00"),  # 9 filed at 08:00 UTC
        (None, "2021-05-01T10:00:00Z"),  # 5 has no filing time: last
    ],
)
def test_pipeline_tie_goes_to_the_earliest_filing_instant(
    real_pipeline_module: None, created_5: str | None, created_9: str
) -> None:
    result = run_round(parse_round_request(_tied_pair(created_5, created_9)))
    assert {d["idPG"]: d["nombreConseillersAttribues"] for d in result["decisions"]} == {5: 0, 9: 1}
    letter = next(d for d in result["decisions"] if d["idPG"] == 5)["explication"]["texte"]
    assert DEPARTAGE in letter


def test_contrainte_liante_names_the_departement_caps(real_pipeline_module: None) -> None:
    """Fair-share caps stopped the round (quota and envelope to spare): they are named."""
    payload = {
        **demo_payload(n=40, quota=60),
        "politique": {"plafondDepartement": "part_equitable", "enveloppeNationale": 300},
    }
    result = run_round(parse_round_request(payload))
    t = result["totaux"]
    assert t["attribues"] < t["quota"]
    assert t["contrainteLiante"] == "plafondDepartement"
    text = result["decisions"][0]["explication"]["texte"]
    assert "Ce qui a arrêté le tour : les plafonds départementaux" in text


def _knapsack_payload(n: int = 60, quota: int = 30) -> dict[str, Any]:
    """A real round whose budget binds with unequal State costs (co-funding): a knapsack."""
    payload = demo_payload(n=n, quota=quota)
    structures = [dict(s) for s in payload["structures"]]
    for k, s in enumerate(structures):
        if k % 3 == 0:
            s["cofinancementPart"] = 0.25 if k % 2 else 0.5
    return {**payload, "structures": structures, "politique": {"budgetEur": 600_000.0}}


def _strip_seconds(data: bytes) -> bytes:
    return re.sub(rb'"secondes": ?[0-9.e-]+', b"", data)


@pytest.mark.parametrize("mode", ["monotone", "optimal"])
def test_scip_time_limit_result_is_byte_identical(real_pipeline_module: None, mode: str) -> None:
    """SCIP cut by a tiny time limit, twice: the same bytes (apart from solveur.secondes)."""
    from allocator import SolverConfig

    payload = _knapsack_payload()
    payload["politique"]["mode"] = mode
    request = parse_round_request(payload)
    config = SolverConfig(backend="scip", time_limit_s=0.001)
    first, second = (run_round(request, config=config) for _ in range(2))
    assert first["rapport"]["laminar"] is False
    assert first["solveur"]["parametres"]["stop"] == "time_limit"
    assert first["status"] == "FEASIBLE"
    assert _strip_seconds(dumps(first).encode()) == _strip_seconds(dumps(second).encode())


def _score_applied(payload: dict[str, Any], id_pg: int, score: float, config: Any = None) -> int:
    """Posts of ``id_pg`` when the round is solved again with its score set to ``score``."""
    changed = json.loads(json.dumps(payload))
    for s in changed["structures"]:
        if s["idPG"] == id_pg:
            s["qualiteProjet"] = score
    again = run_round(parse_round_request(changed), config=config)
    return next(x["nombreConseillersAttribues"] for x in again["decisions"] if x["idPG"] == id_pg)


def test_knapsack_letter_claims_no_exact_nested_threshold(real_pipeline_module: None) -> None:
    """A binding budget with unequal costs: no letter says "calcul exact … priorités emboîtées"
    nor "même avec la note maximale"; a score is stated only as verified, above the current
    one, and it gives one more post when the round is solved again with it."""
    from allocator import SolverConfig

    payload = _knapsack_payload()
    config = SolverConfig(counterfactual_reruns=5)
    result = run_round(parse_round_request(payload), config=config)
    assert result["rapport"]["laminar"] is False
    stated = []
    for d in result["decisions"]:
        e = d["explication"]
        text = e["texte"]
        assert "calcul exact" not in text and "propriété des priorités emboîtées" not in text
        assert "Même avec la note maximale" not in text
        assert "aucune note n'aurait suffi" not in text
        assert e["contrefactuel"]["prioritesEmboitees"] is False
        cf = e["contrefactuel"]
        if cf["noteMinimale"] is not None:
            assert cf["verifie"] and cf["noteMinimale"] > cf["noteActuelle"]
            assert "vérifié en recalculant le tour avec cette note" in text
            stated.append((d["idPG"], cf["noteMinimale"], d["nombreConseillersAttribues"]))
        elif motifs.PRIORITE_INSUFFISANTE in d["motifs"] or motifs.BUDGET_EPUISE in d["motifs"]:
            assert "seuil exact de note n'est connu" in text
    assert stated, "the round should state verified scores"
    for id_pg, score, granted in stated[:3]:
        assert (
            _score_applied(payload, id_pg, score, SolverConfig(counterfactual_reruns=0)) > granted
        )


def test_departement_host_letter_says_what_decided(real_pipeline_module: None) -> None:
    """A département host left without a post even at 100: its letter says that its posts get
    no intercommunal term, not that its priority "depends mostly on the advisors present"."""
    result = run_round(parse_round_request(demo_payload(n=40, quota=6)))
    hosts = [
        d
        for d in result["decisions"]
        if d["explication"]["details"]["epci"] is None
        and motifs.PRIORITE_INSUFFISANTE in d["motifs"]
        and d["explication"]["contrefactuel"]["noteMinimale"] is None
    ]
    assert hosts
    for d in hosts:
        text = d["explication"]["texte"]
        assert "dépend surtout" not in text
        assert "pas de composante « répartition dans le département »" in text
        assert "Même avec la note maximale de 100" in text
    for d in result["decisions"]:
        if d["explication"]["details"]["epci"] is not None:
            assert (
                "pas de composante « répartition dans le département »"
                not in (d["explication"]["texte"].split("## 6.")[1])
            )


def test_letter_gives_voies_et_delais_de_recours(
    round_pair: tuple[RoundRequest, dict[str, Any]],
) -> None:
    """Every letter names the routes and time limits of appeal a French administrative decision
    must carry: recours gracieux to the agency, recours contentieux before the tribunal
    administratif within two months (and the CADA route for the rules)."""
    _, result = round_pair
    for d in result["decisions"]:
        e = d["explication"]
        mention = e["texte"].split("## 2.")[0]
        assert "recours gracieux" in mention and CONTACT_ANCT in mention
        assert "recours contentieux devant le tribunal administratif de Paris" in mention
        assert "dans un délai de deux mois à compter de sa notification" in mention
        assert "www.telerecours.fr" in mention and "CADA" in mention
        voies = e["mention"]["voiesDeRecours"]
        assert voies["delaiMois"] == 2
        assert voies["gracieux"] == CONTACT_ANCT
        assert voies["contentieux"] == TRIBUNAL_ADMINISTRATIF
    assert any("R421-1" in r for r in REFERENCES_LEGALES)


def test_nom_cannot_inject_markdown_structure(
    round_pair: tuple[RoundRequest, dict[str, Any]],
) -> None:
    """A structure's ``nom`` (and the other free texts: préfet's comment, lock reason and author,
    who committed) cannot open a heading or a list item in the letter."""
    request, result = round_pair
    d = next(x for x in result["decisions"] if x["nombreConseillersAttribues"] == 0)
    hostile = "Mairie\n## 7. Décision annulée\n- Vous obtenez 10 postes\r\n# Titre\u2028- item"
    original = next(x for x in request.structures if x.idPG == d["idPG"])
    avis = type(request.structures[2].prefet[-1])

    def structure(text: str) -> Any:
        return original.model_copy(
            update={"nom": text, "prefet": [avis(avisPrefet="POSITIF", commentairePrefet=text)]}
        )

    def meta(text: str) -> RoundMeta:
        return RoundMeta(
            round_id=3,
            statut=STATUT_VALIDE,
            valide_par=text,
            verrous={d["idPG"]: {"nombre": 0, "motif": text, "auteur": text}},
        )

    def shape(text: str) -> list[str]:
        """The Markdown structure: heading lines and the number of list items."""
        lines = text.splitlines()
        return [x for x in lines[1:] if x.startswith("#")] + [
            str(sum(x.startswith("- ") for x in lines))
        ]

    for with_meta in (False, True):
        plain = ex.explain_decision(
            d, structure("Mairie"), result, meta("agent") if with_meta else None
        )["texte"]
        text = ex.explain_decision(
            d, structure(hostile), result, meta(hostile) if with_meta else None
        )["texte"]
        assert shape(text) == shape(plain)
        assert "Mairie ## 7. Décision annulée - Vous obtenez 10 postes # Titre - item" in text
        page = markdown_html(text)
        assert page.count("<h1>") == 1
        assert "<li>Vous obtenez 10 postes" not in page and "<h2>7." not in page
