"""The one wiring of a round: contract request → geodata numbers → engine → contract result.

The HTTP API (``POST /v1/allocate``, rounds) and the notebooks call :func:`run_round`; the CLI
(``allocator allocate``) calls its two halves, :func:`solve_round` then :func:`encoded_round`, which
writes the same result as JSON while building it in two processes. Nothing is computed twice in two
places.

Steps
-----
1. ``adapter.policy_from_request``: the request's ``politique`` over ``allocator.RoundPolicy``
   defaults.
2. ``adapter.request_geodata``: service areas, need, existing offer and the marginal
   accessibility gains of each applicant (plain numbers; geometry stops there).
3. ``adapter.build_round_input``: frozen engine types, départements' fair shares
   (:func:`allocator.programme.fair_shares`).
4. ``allocator.allocate``: greedy + OR-Tools certificate + validator.
5. ``adapter.result_to_contract`` (or ``encoded_round``): the JSON of ``docs/CONTRACT.md``,
   deterministic byte for byte apart from ``solveur.secondes``.

The conversions of steps 1-3 and 5 are :mod:`service.application.adapter`'s; this module
prepares, solves and encodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import mmap
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

import geodata
from allocator import AllocationResult, RoundInput, RoundPolicy, SolverConfig, allocate
from service import speed
from service.application.adapter import (
    build_round_input,
    contract_outline,
    engine_explication,
    existing_map,
    policy_from_request,
    request_geodata,
    result_to_contract,
)
from service.contract.schemas import RoundRequest


@dataclasses.dataclass(frozen=True)
class SolvedRound:
    """An engine result with what it was computed from; the contract's JSON is built from it.

    ``contract()`` is the result as a dict (:func:`result_to_contract`); :func:`encode_round`
    writes the same result as JSON bytes, building it in several processes.
    """

    request: RoundRequest
    round_input: RoundInput
    result: AllocationResult
    geo: geodata.RoundGeodata

    def contract(self, *, explain: bool = True, niveau: str = "complete") -> dict[str, Any]:
        """:func:`result_to_contract` of this round (a new dict at each call)."""
        return result_to_contract(
            self.request, self.round_input, self.result, self.geo, explain=explain, niveau=niveau
        )

    @functools.cached_property
    def outline(self) -> dict[str, Any]:
        """:func:`contract_outline` of this round (built once; treat it as read-only)."""
        return contract_outline(self.request, self.round_input, self.result, self.geo)


def solve_round(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
    config: SolverConfig | None = None,
    programme_consumed: int | None = None,
) -> SolvedRound:
    """:func:`run_round` up to the engine's result (the contract's JSON not built yet).

    The command line encodes it with :func:`encode_round`; arguments and errors are those of
    :func:`run_round`.
    """
    policy = policy_from_request(request)
    prepared = prepare_round(
        request, extra_existing=extra_existing, programme_consumed=programme_consumed
    )
    return _solve(prepared, policy, quota=None, locks=locks, config=config)


def run_round(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
    config: SolverConfig | None = None,
    programme_consumed: int | None = None,
    niveau: str = "complete",
) -> dict[str, Any]:
    """Solve one round and return the contract's result as a JSON-ready dict.

    Parameters
    ----------
    request
        A validated :class:`service.contract.schemas.RoundRequest`.
    extra_existing
        Posts granted by committed rounds, by code commune, added to the bundled 2021 advisors
        when the request does not list ``conseillersExistants`` itself.
    locks
        Committee locks/overrides ``{idPG: posts of this round}`` (take precedence over
        ``verrou`` in the request).
    config
        Solver configuration (defaults: :class:`allocator.SolverConfig`).
    programme_consumed
        Posts already consumed from the national envelope (:func:`build_round_input`;
        ``None``: the existing advisors).
    niveau
        Level of the decisions' explanations (:func:`result_to_contract`).

    Raises
    ------
    service.contract.schemas.InvalidRequest
        For input that is well-formed JSON but wrong for the data (e.g. an unknown commune).
    """
    solved = solve_round(
        request,
        extra_existing=extra_existing,
        locks=locks,
        config=config,
        programme_consumed=programme_consumed,
    )
    return solved.contract(niveau=niveau)


@dataclasses.dataclass(frozen=True)
class PreparedRound:
    """A validated request with its geodata numbers: the policy-independent part of a round.

    Computed once by :func:`prepare_round` and reused by every policy solved on the same
    applicants (scenario variants, robustness draws): only the engine re-runs.

    Attributes
    ----------
    request
        The validated request (its ``politique`` is the baseline policy).
    existing
        Advisors already hosted, by code commune, that the round is solved against
        (``None`` = the bundled 2021 state).
    geo
        Service areas, need, existing offer and marginal gains of the applicants.
    """

    request: RoundRequest
    existing: dict[str, int] | None
    geo: geodata.RoundGeodata
    #: posts already consumed from the envelope (:func:`build_round_input`; None: the existing)
    programme_consumed: int | None = None
    # Engine inputs already built, by (national envelope, locks): a policy enters
    # build_round_input only through the envelope (fair shares, an exact apportionment), and the
    # quota is a plain field of the input.
    _inputs: dict[tuple[Any, ...], RoundInput] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )


def prepare_round(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    programme_consumed: int | None = None,
) -> PreparedRound:
    """Steps 1-2 of :func:`run_round` without the policy: the geodata numbers of the applicants.

    Raises
    ------
    service.contract.schemas.InvalidRequest
        For input that is well-formed JSON but wrong for the data (e.g. an unknown commune).
    """
    existing = existing_map(request, extra_existing)
    return PreparedRound(
        request=request,
        existing=existing,
        geo=request_geodata(request, existing),
        programme_consumed=programme_consumed,
    )


def prepared_input(
    prepared: PreparedRound,
    policy: RoundPolicy,
    *,
    quota: int | None = None,
    locks: Mapping[int, int] | None = None,
) -> tuple[RoundRequest, RoundInput]:
    """The (request, engine input) of a prepared round under ``policy`` (and another quota).

    Inputs are cached on ``prepared`` (frozen values), so variants that differ only by weights
    or rules share one build.
    """
    request = prepared.request
    if quota is not None and quota != request.quota:
        request = request.model_copy(update={"quota": quota})
    key = (policy.national_envelope, tuple(sorted((locks or {}).items())))
    if key not in prepared._inputs:
        prepared._inputs[key] = build_round_input(
            prepared.request,
            policy,
            prepared.geo,
            locks,
            programme_consumed=prepared.programme_consumed,
        )
    round_input = prepared._inputs[key]
    if round_input.quota != request.quota:
        round_input = dataclasses.replace(round_input, quota=request.quota)
    return request, round_input


def solve_prepared(
    prepared: PreparedRound,
    policy: RoundPolicy | None = None,
    *,
    quota: int | None = None,
    locks: Mapping[int, int] | None = None,
    config: SolverConfig | None = None,
) -> dict[str, Any]:
    """Steps 3-5 of :func:`run_round` on a prepared round: the contract result of ``policy``.

    ``policy`` defaults to the request's own (``policy_from_request``); ``quota`` to the
    request's. ``run_round(r)`` is ``solve_prepared(prepare_round(r))``.
    """
    if policy is None:
        policy = policy_from_request(prepared.request)
    return _solve(prepared, policy, quota=quota, locks=locks, config=config).contract()


def _solve(
    prepared: PreparedRound,
    policy: RoundPolicy,
    *,
    quota: int | None,
    locks: Mapping[int, int] | None,
    config: SolverConfig | None,
) -> SolvedRound:
    request, round_input = prepared_input(prepared, policy, quota=quota, locks=locks)
    result = allocate(round_input, policy, config or SolverConfig())
    return SolvedRound(request, round_input, result, prepared.geo)


def dumps_bytes(result: Any, *, indent: int | None = None, newline: bool = True) -> bytes:
    """Canonical UTF-8 JSON of a result (key order as built, UTF-8 kept, final newline).

    Encoded by orjson: a national round carries a legal explanation per structure (≈75 MB of
    JSON for 5,000 structures), which the standard library's encoder writes about ten times
    slower. Compact by default; ``indent=2`` for files read by people; ``newline=False`` for
    HTTP bodies. Integer keys become
    strings (as the standard encoder does); NaN and infinities never reach here
    (:func:`service.application.adapter.result_to_contract` maps them to ``null``).
    """
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    if indent is not None:
        if indent != 2:
            raise ValueError("orjson indents by 2 spaces only")
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(result, option=option)


def dumps(result: Any, *, indent: int | None = None) -> str:
    """:func:`dumps_bytes` as text."""
    return dumps_bytes(result, indent=indent).decode("utf-8")


#: Below this many decisions a round is explained and encoded in one process.
PARALLEL_MIN_DECISIONS = 1_000

#: Share of the decisions the parent process encodes when a child helps: a bit more than half,
#: as the child also writes its bytes out and exits (measured on 5,000 structures: 0.53 ends
#: both at once, ~15 ms sooner than 0.5).
PARENT_SHARE = 0.53

# Stands for the decisions list while the rest of the result is encoded (a NUL-delimited string
# cannot occur in an encoded result: orjson escapes control characters).
_DECISIONS_SLOT = "\x00decisions\x00"


def _explained_decisions(
    solved: SolvedRound,
    start: int,
    stop: int,
    explain: Callable[[dict[str, Any]], dict[str, Any]],
) -> bytes:
    """Decisions ``start:stop`` with their whole ``explication``, encoded and joined by commas.

    Each decision of the outline gets its engine part (:func:`engine_explication`), then its
    legal explanation, and is encoded at once: nothing of it is kept.
    """
    option = orjson.OPT_NON_STR_KEYS
    geo_by_id = {g.id_pg: g for g in solved.geo.applicants}
    engine = solved.result.decisions
    outline = solved.outline["decisions"]
    parts = []
    with speed.gc_paused():  # the explanations are encoded and dropped: nothing to promote
        for i in range(start, stop):
            d = engine[i]
            decision = {**outline[i], "explication": engine_explication(d, geo_by_id[d.id_pg])}
            decision["explication"] = explain(decision)
            parts.append(orjson.dumps(decision, option=option))
    return b",".join(parts)


def encode_round(solved: SolvedRound, *, processes: int = 1, niveau: str = "complete") -> bytes:
    """``dumps_bytes(solved.contract(niveau=niveau))``, built in ``processes`` processes.

    The bytes of :func:`encoded_round` joined (the command line writes its parts instead).
    """
    with encoded_round(solved, processes=processes, niveau=niveau) as parts:
        return b"".join(parts)


@contextlib.contextmanager
def encoded_round(
    solved: SolvedRound, *, processes: int = 1, niveau: str = "complete"
) -> Iterator[list[bytes | memoryview]]:
    """The JSON of ``solved.contract()`` as buffers to write in order, built in several processes.

    ``b"".join(parts) == dumps_bytes(solved.contract(niveau=niveau))`` whatever ``processes``:
    with 2 or more (and :func:`service.speed.can_fork`, and at least :data:`PARALLEL_MIN_DECISIONS`
    decisions), a forked child builds, explains and encodes the last decisions while this
    process does the first ones (:data:`PARENT_SHARE`). The decisions' JSON is most of a
    national round's work (≈75 MB for 5,000 structures, mostly legal text), and the two parts
    share nothing but the round (read-only after the fork). The child's part is read in place
    from the file it wrote (the buffers are valid inside the ``with`` block only): writing the
    parts where they go spares two copies of the whole result. ``solved`` is left unchanged.

    Raises
    ------
    RuntimeError
        When the child fails (its traceback is printed on stderr); nothing is yielded then.
    """
    from service.explanations import letters as explication
    from service.explanations.levels import CLE_NIVEAU, NIVEAU_COMPACT

    outline = solved.outline
    n = len(outline["decisions"])
    explain = explication.round_explainer(outline, solved.request, niveau=niveau)
    outer = {**outline, "decisions": _DECISIONS_SLOT}
    if niveau == NIVEAU_COMPACT:  # as explication.attach says it
        outer[CLE_NIVEAU] = niveau
    shell = dumps_bytes(outer)
    slot = orjson.dumps(_DECISIONS_SLOT)
    if shell.count(slot) != 1:  # pragma: no cover - the slot cannot occur elsewhere
        raise RuntimeError("decisions slot not found exactly once in the encoded result")
    before, after = shell.split(slot)
    if processes < 2 or n < PARALLEL_MIN_DECISIONS or not speed.can_fork():
        yield [before, b"[", _explained_decisions(solved, 0, n, explain), b"]", after]
        return
    half = min(n - 1, math.ceil(n * PARENT_SHARE))
    collect = speed.fork_work(lambda: _explained_decisions(solved, half, n, explain))
    try:
        mine = _explained_decisions(solved, 0, half, explain)
    finally:
        theirs = collect()
    view = memoryview(theirs)
    try:
        yield [before, b"[", mine, b"," if mine and view else b"", view, b"]", after]
    finally:
        view.release()
        if isinstance(theirs, mmap.mmap):
            theirs.close()


def result_summary(result: dict[str, Any], request: RoundRequest | None = None) -> str:
    """A short human summary of a round result (stderr of the CLI, logs), numbers the French
    way (:mod:`service.application.figures`); with its ``request``, the round's « demande restante
    »."""
    from service.application import figures

    n = figures.nombre
    t = result["totaux"]
    s = result["solveur"]
    granted = [d for d in result["decisions"] if d["nombreConseillersAttribues"] > 0]
    unplaced = figures.round_unplaced(result)
    demand = (
        f"{figures.FIGURES['demandeRestante'].libelle} "
        f"{n(figures.round_remaining_demand(request.structures))}"
        if request is not None
        else f"postes demandés (déjà attribués compris) {n(t['demandes'])}"
    )
    gap = "—" if s["gap"] is None else figures.decimal_exact(s["gap"])
    lines = [
        f"statut {result['status']} (écart {gap}, {s['backend']}, {n(s['secondes'], 3)} s)",
        f"{n(figures.round_granted(result))} {figures.FIGURES['attribues'].libelle}"
        + (f" (dont {figures.compte(unplaced, 'nonLocalises')})" if unplaced else "")
        + f" / quota {n(t['quota'])} ; {demand}",
        f"{n(len(granted))} structures retenues sur {n(len(result['decisions']))}",
    ]
    if t.get("coutEtatEur") is not None:
        lines.append(
            f"coût pour l'État {figures.euros(t['coutEtatEur'])} ; cofinancement "
            f"{figures.euros(t.get('cofinancementEur') or 0)}"
            + (
                f" ; budget {figures.euros(t['budgetEur'])}"
                if t.get("budgetEur") is not None
                else ""
            )
            + f" ; contrainte liante : {t.get('contrainteLiante')}"
        )
    if result.get("conflits"):
        lines.append("règles en conflit : " + " ; ".join(result["conflits"]))
    return "\n".join(lines)
