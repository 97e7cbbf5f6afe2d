"""The fast paths of service.explanations.letters give exactly what the straightforward code gave.

- :func:`nombre` against its previous implementation (kept below), on every kind of value;
- the number lists formatted in one go against :func:`nombre` value by value;
- the texts worded once per round (per département, EPCI, motif list, ...) against the same
  decision explained alone, in any order, whatever other decisions came first;
- the inputs read at once (``dict``) against the same inputs read key by key (other mappings,
  missing keys with their defaults);
- the garbage collector left as it was found.
"""

from __future__ import annotations

import copy
import gc
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.contract.schemas import RoundRequest, parse_round_request
from service.explanations import letters as ex
from service.explanations.meta import STATUT_BROUILLON, STATUT_VALIDE, RoundMeta
from service.explanations.wording import nombre, nombres_1, par_poste, postes
from tests.service.test_explication import demo_payload

NBSP = "\u202f"


def nombre_reference(value: Any, decimales: int = 0) -> str:
    """:func:`service.explanations.wording.nombre` as it was written before its fast paths."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    text = f"{value:,.{decimales}f}"
    return text.replace(",", NBSP).replace(".", ",")


def same_outcome(f: Any, g: Any, *args: Any) -> None:
    """``f(*args) == g(*args)``, or both raise the same exception type."""
    try:
        expected = f(*args)
    except Exception as exc:  # the exception's type is what is compared
        with pytest.raises(type(exc)):
            g(*args)
        return
    assert g(*args) == expected


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2000, max_value=2000),
    st.integers(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.booleans(),
    st.none(),
    # ties and boundaries of the rounding and of the digit grouping
    st.sampled_from([0.05, 0.15, 0.25, 2.5, 0.125, 998.95, 999.0, 999.05, 999.5, 999.95]),
    st.sampled_from([-0.0, 0.0, -0.04, -999.5, 1e16, 2.0**53, 2**53, 2**53 + 1, -(2**53) - 1]),
)


@settings(max_examples=3000, deadline=None, database=None)
@given(value=NUMBERS, decimales=st.integers(0, 9))
@example(value=-0.0, decimales=0)
@example(value=-0.0, decimales=1)
@example(value=999.95, decimales=1)
@example(value=999.5, decimales=0)
@example(value=float("nan"), decimales=1)
@example(value=True, decimales=0)
@example(value=2**53 + 1, decimales=0)
def test_nombre_matches_the_reference(value: Any, decimales: int) -> None:
    same_outcome(nombre_reference, nombre, value, decimales)


@settings(max_examples=300, deadline=None, database=None)
@given(value=NUMBERS, decimales=st.sampled_from([-1, 10, 12, True, False, 1.0]))
def test_nombre_odd_decimals_match_the_reference(value: Any, decimales: Any) -> None:
    same_outcome(nombre_reference, nombre, value, decimales)


def test_nombre_other_numeric_types_match_the_reference() -> None:
    np = pytest.importorskip("numpy")
    from decimal import Decimal
    from fractions import Fraction

    for value in (np.float64(1234.56), np.int64(-98765), Decimal("1234.5"), Fraction(7, 3)):
        for decimales in (0, 1, 2):
            same_outcome(nombre_reference, nombre, value, decimales)


LISTS = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-5000, max_value=5000),
        st.sampled_from([0.05, 998.95, 999.0, 999.95, -0.0, 1e300, -1e300]),
        st.integers(-5000, 5000),
        st.booleans(),
        st.none(),
    ),
    max_size=25,
)


@settings(max_examples=1500, deadline=None, database=None)
@given(values=LISTS)
@example(values=[1e308, 1e308])  # a sum beyond the float range
@example(values=[999.95, 1.0])
@example(values=[-0.0])
def test_number_lists_match_nombre(values: list[Any]) -> None:
    assert nombres_1(values) == [nombre_reference(v, 1) for v in values]
    assert par_poste(values) == ", ".join(
        f"poste {k} : {nombre_reference(v, 1)}" for k, v in enumerate(values, 1)
    )


@given(n=st.integers(-5, 1500))
def test_postes(n: int) -> None:
    assert postes(n) == f"{nombre_reference(n)} poste" + ("s" if abs(n) > 1 else "")


# -- whole explanations: the per-round wording is independent of what was explained before ----


@pytest.fixture(scope="module")
def rounds() -> list[tuple[RoundRequest, dict[str, Any]]]:
    """Varied real rounds: refusals, locks, co-funding, préfet opinions, policies."""
    try:
        from service.application.pipeline import run_round
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"pipeline unavailable: {exc}")
    base = demo_payload(n=60, quota=20)
    structures = [dict(s) for s in base["structures"]]
    structures[5]["verrou"] = 1
    structures[6]["verrou"] = 0
    structures[7]["synthetique"] = ["tout"]
    structures[8]["coselec"] = [{"nombreConseillersCoselec": 1, "avisCoselec": "POSITIF"}]
    structures[9]["prefet"] = [{"avisPrefet": "POSITIF"}]
    structures[10]["prefet"] = [{"avisPrefet": None, "nombreConseillersPrefet": 3}]
    structures[11]["prefet"] = [
        {"avisPrefet": "NEGATIF", "nombreConseillersPrefet": 1, "commentairePrefet": "non"}
    ]
    structures[12]["cofinancementPart"] = 0.333
    structures[13]["cofinancementEur"] = 12345.67
    structures[14] = {k: v for k, v in structures[14].items() if k != "qualiteProjet"}
    structures[15]["synthetique"] = None
    structures[16]["estZRR"] = None
    structures[17]["communesDesservies"] = ["01283", "01053"]
    payloads = [
        {**base, "structures": structures},
        {
            **base,
            "structures": structures,
            "politique": {
                "avisPrefetNegatif": "penaliser",
                "cofinancement": "prioritaire",
                "budgetEur": 250_000.0,
                "plafondParStructure": 2,
            },
        },
        {
            **demo_payload(n=40, quota=60),
            "politique": {"plafondDepartement": "part_equitable", "enveloppeNationale": 2500},
        },
    ]
    out = []
    for payload in payloads:
        request = parse_round_request(payload)
        out.append((request, run_round(request)))
    return out


def metas(result: Mapping[str, Any]) -> Iterator[RoundMeta | None]:
    ids = [int(d["idPG"]) for d in result["decisions"]]
    yield None
    yield RoundMeta(round_id=4, mois="2021-06", statut=STATUT_BROUILLON, auteur="a")
    yield RoundMeta(
        round_id=5,
        statut=STATUT_VALIDE,
        cree_le="2021-06-01T09:00:00Z",
        valide_par="b",
        valide_le="2021-06-20T09:00:00Z",
        verrous={
            ids[0]: {"nombre": 1, "motif": "zone blanche", "auteur": "c", "proposition": 0},
            ids[1]: {"nombre": 0},
        },
    )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_round_wording_does_not_depend_on_other_decisions(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    """Each decision explained within its round, alone, or after the others in reverse order."""
    for request, result in rounds:
        by_id = {s.idPG: s for s in request.structures}
        for meta in metas(result):
            together = ex.explain_round(copy.deepcopy(result), request, meta)
            reversed_result = copy.deepcopy(result)
            reversed_result["decisions"] = reversed_result["decisions"][::-1]
            backwards = ex.explain_round(reversed_result, request, meta)
            for d in result["decisions"]:
                alone = ex.explain_decision(copy.deepcopy(d), by_id[d["idPG"]], result, meta)
                assert together[d["idPG"]] == alone == backwards[d["idPG"]]
                assert dumps(together[d["idPG"]]) == dumps(alone) == dumps(backwards[d["idPG"]])


class Mapped(Mapping[str, Any]):
    """A read-only mapping that is not a dict (read key by key, with ``.get``)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def as_mappings(value: Any) -> Any:
    if isinstance(value, dict):
        return Mapped({k: as_mappings(v) for k, v in value.items()})
    return value


def test_inputs_read_at_once_or_key_by_key_give_the_same_explanation(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    request, result = rounds[1]
    by_id = {s.idPG: s for s in request.structures}
    for d in result["decisions"][:15]:
        expected = ex.explain_decision(d, by_id[d["idPG"]], result)
        expl = d["explication"]
        mapped = {**d, "explication": {k: as_mappings(v) for k, v in expl.items()}}
        assert ex.explain_decision(mapped, by_id[d["idPG"]], result) == expected
        # a missing co-funding factor reads as 1.0 (the engine's details are echoed as given)
        details = dict(expl["details"])
        if details.get("cofunding_factor") == 1.0:
            details.pop("cofunding_factor")
            changed = {**d, "explication": {**expl, "details": details}}
            e = ex.explain_decision(changed, by_id[d["idPG"]], result)
            assert {**e, "details": expl["details"]} == expected
        territoire = {k: v for k, v in expl["territoire"].items() if k != "zrr"}
        for explication in (
            {**expl, "territoire": territoire},
            {**expl, "territoire": Mapped(territoire)},
        ):
            e = ex.explain_decision({**d, "explication": explication}, by_id[d["idPG"]], result)
            assert "classement de la commune siège « inconnu »" in e["texte"]
            assert e["donnees"]["zrr"]["reference"] is None


def test_zero_signs_and_number_types_are_worded_apart(
    rounds: list[tuple[RoundRequest, dict[str, Any]]],
) -> None:
    """-0.0 and 0.0, 2 and 2.0 are equal keys but are written differently: never shared."""
    request, result = rounds[0]
    by_id = {s.idPG: s for s in request.structures}
    template = result["decisions"][0]
    # four applicants asking for the same number of posts
    asked = [d for d in result["decisions"] if by_id[d["idPG"]].nombreConseillersSouhaites == 1]
    decisions = []
    for k, (need, total) in enumerate(((0.0, 2), (-0.0, 2), (5.0, 2), (5.0, 2.0))):
        d = copy.deepcopy(asked[k])
        d["nombreConseillersAttribues"] = template["nombreConseillersAttribues"]
        d["motifs"] = list(template["motifs"])
        d["nombreConseillersCoselec"] = total
        details = d["explication"]["details"]
        details["departement"] = {**template["explication"]["details"]["departement"]}
        details["departement"]["need"] = need
        decisions.append(d)
    twin = {**result, "decisions": decisions}
    together = ex.explain_round(twin, request)
    for d in decisions:
        alone = ex.explain_decision(d, by_id[d["idPG"]], twin)
        assert together[d["idPG"]] == alone
        assert dumps(together[d["idPG"]]) == dumps(alone)
    texts = [together[d["idPG"]] for d in decisions]
    assert "besoin estimé 0 personne fragile" in texts[0]["texte"]
    assert "besoin estimé -0 personne fragile" in texts[1]["texte"]
    assert "(total 2 sur" in texts[2]["resume"] and "(total 2.0 sur" in texts[3]["resume"]


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(enabled=st.booleans(), frozen=st.booleans())
def test_garbage_collector_left_as_found(
    rounds: list[tuple[RoundRequest, dict[str, Any]]], enabled: bool, frozen: bool
) -> None:
    request, result = rounds[2]
    was_enabled = gc.isenabled()
    try:
        if frozen:
            gc.freeze()
        count = gc.get_freeze_count()
        (gc.enable if enabled else gc.disable)()
        ex.attach(copy.deepcopy(result), request)
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == count  # a process's own frozen objects stay frozen
    finally:
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()
