"""Builders and Hypothesis strategies for the allocator tests (valid rounds only)."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from allocator import (
    AllocationResult,
    Applicant,
    AvisPrefet,
    RoundInput,
    RoundPolicy,
    StructureType,
    Territory,
)


def app(
    id_pg: int,
    gains: tuple[float, ...] = (100.0,),
    *,
    departement: str = "01",
    epci: str | None = "200000001",
    type: StructureType = StructureType.COMMUNE,
    already_granted: int = 0,
    **kwargs: object,
) -> Applicant:
    """An applicant whose request matches its gains (requested = already_granted + len(gains))."""
    return Applicant(
        id_pg=id_pg,
        type=type,
        code_commune=f"{departement}001",
        departement=departement,
        region="84",
        epci=epci,
        requested=kwargs.pop("requested", already_granted + len(gains)),  # type: ignore[arg-type]
        gains=tuple(gains),
        already_granted=already_granted,
        **kwargs,  # type: ignore[arg-type]
    )


def round_of(
    applicants: list[Applicant] | tuple[Applicant, ...],
    quota: int,
    *,
    departements: tuple[Territory, ...] | None = None,
    epcis: tuple[Territory, ...] | None = None,
    **kwargs: object,
) -> RoundInput:
    """A round with default territories for every département / EPCI the applicants use."""
    if departements is None:
        codes = sorted({a.departement for a in applicants})
        departements = tuple(Territory(c, 1000.0, 0) for c in codes)
    if epcis is None:
        codes = sorted({f"{a.departement}:{a.epci}" for a in applicants if a.epci is not None})
        epcis = tuple(Territory(c, 500.0, 0) for c in codes)
    return RoundInput(
        quota=quota,
        applicants=tuple(applicants),
        departements=departements,
        epcis=epcis,
        **kwargs,  # type: ignore[arg-type]
    )


def grants(result: AllocationResult) -> dict[int, int]:
    return {d.id_pg: d.granted for d in result.decisions}


def without_wall_time(result: AllocationResult) -> AllocationResult:
    return dataclasses.replace(result, solver=dataclasses.replace(result.solver, wall_seconds=0.0))


ELIGIBLE_MOSTLY = [StructureType.COMMUNE] * 5 + [StructureType.EPCI, StructureType.PRIVATE]


@st.composite
def rounds(
    draw: st.DrawFn,
    *,
    budget: bool | None = None,
    locks: bool = True,
    max_applicants: int = 30,
) -> tuple[RoundInput, RoundPolicy]:
    """A valid random round and policy: 1-5 départements, EPCI-parts, concave gains, locks."""
    n_depts = draw(st.integers(1, 5))
    dept_codes = [f"{d:02d}" for d in range(1, n_depts + 1)]
    needs = st.one_of(st.just(0.0), st.floats(1.0, 50_000.0), st.sampled_from([100.0, 1000.0]))
    departements = tuple(
        Territory(c, draw(needs), draw(st.integers(0, 10)), None) for c in dept_codes
    )
    epci_codes: dict[str, list[str]] = {}
    epcis = []
    for c in dept_codes:
        epci_codes[c] = [f"2000000{e}" for e in range(draw(st.integers(0, 3)))]
        epcis += [
            Territory(f"{c}:{s}", draw(needs), draw(st.integers(0, 5))) for s in epci_codes[c]
        ]
    n = draw(st.integers(1, max_applicants))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    gains_value = st.one_of(st.floats(0.0, 2_000.0), st.sampled_from([0.0, 10.0, 50.0, 100.0]))
    applicants = []
    for id_pg in ids:
        d = draw(st.sampled_from(dept_codes))
        epci = draw(st.sampled_from([None, *epci_codes[d]]))
        requested = draw(st.integers(1, 5))
        already = draw(st.integers(0, requested))
        remaining = requested - already
        gains = tuple(sorted((draw(gains_value) for _ in range(remaining)), reverse=True))
        applicants.append(
            Applicant(
                id_pg=id_pg,
                type=draw(st.sampled_from(ELIGIBLE_MOSTLY)),
                code_commune=f"{d}001",
                departement=d,
                region="84",
                epci=epci,
                requested=requested,
                gains=gains,
                quality=draw(st.sampled_from([30.0, 40.0, 55.5, 70.0, 100.0]) | st.floats(0, 100)),
                already_granted=already,
                created_at=draw(st.sampled_from(["", "2021-03-01", "2021-03-02"])),
                cost_eur=draw(st.sampled_from([50_000.0, 50_000.0, 70_000.0])),
                avis_prefet=draw(
                    st.sampled_from([None, None, AvisPrefet.POSITIF, AvisPrefet.NEGATIF])
                ),
                locked=draw(st.integers(0, remaining))
                if locks and remaining and draw(st.integers(0, 9)) == 0
                else None,
            )
        )
    use_budget = draw(st.booleans()) if budget is None else budget
    policy = RoundPolicy(
        national_envelope=draw(st.sampled_from([4000, 4000, 30, 10])),
        budget_eur=draw(st.sampled_from([200_000.0, 500_000.0, 1_000_000.0]))
        if use_budget
        else None,
        min_quality=draw(st.sampled_from([0.0, 40.0, 60.0])),
        prefet_negatif=draw(st.sampled_from(["exclure", "penaliser"])),
        max_posts_per_structure=draw(st.sampled_from([None, None, 2, 3])),
        departement_cap=draw(st.sampled_from(["aucun", "aucun", "part_equitable"])),
        weight_access=draw(st.sampled_from([1.0, 0.0, 2.5])),
        weight_distribution=draw(st.sampled_from([1.0, 0.0, 0.3])),
        weight_balance=draw(st.sampled_from([1.0, 0.0, 5.0])),
    )
    round_input = RoundInput(
        quota=draw(st.integers(0, 40)),
        applicants=tuple(applicants),
        departements=departements,
        epcis=tuple(epcis),
        programme_consumed=draw(st.sampled_from([0, 0, 5])),
    )
    return round_input, policy
