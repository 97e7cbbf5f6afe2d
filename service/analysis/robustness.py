"""Robustness of a round: Monte-Carlo perturbation of the indicators and of the weights.

A decision that flips when the data or the weights move by a few per cent deserves a human look
before the committee. :func:`robustness` solves the round ``tirages`` times with perturbed
inputs and measures, per structure, the share of draws that reproduce the baseline grant.

Perturbation model (defaults; every number is recorded in the report)
----------------------------------------------------------------------
- **Fragility index ±5 %** (:data:`NEED_NOISE`): each programme commune's fragility index is
  multiplied by an independent factor ``U(0.95, 1.05)``. Need is linear in the index
  (:mod:`geodata.need`), so the commune's fragile population moves by the same factor; the
  national total is then re-calibrated to its baseline value (the call's 13 million), as the
  need formula does. Applicants' fragile populations ``P_i`` (sums over their service areas),
  their marginal gains (:func:`geodata.marginal_gains` with the baseline existing offer ``E_i``
  held fixed), the need of départements and EPCI parts, and the départements' fair shares
  (Webster apportionment of the national envelope) follow.
- **Weights ±10 %** (:data:`WEIGHT_NOISE`): ``poidsAcces``, ``poidsRepartition`` and
  ``poidsEquilibre`` are each multiplied by an independent factor ``U(0.9, 1.1)``.
- Everything else (requests, scores, préfet opinions, quota, rules) is held fixed.

Stability and review
--------------------
``stabilite`` of a structure = share of draws whose grant equals the baseline grant. A decision
with ``stabilite < STABILITY_THRESHOLD`` (0.9: it changes in more than one draw in ten) is flagged
``aRevoir`` for human review; the threshold is a parameter of the report.

Reproducibility and scale
-------------------------
Draw ``k`` uses ``numpy.random.default_rng(SeedSequence(graine, spawn_key=(k,)))``: it depends on
the master seed and its own index only, so a serial run, a local Dask cluster and an existing
cluster (``tcp://host:8786``) give identical grants, whatever the chunking and the number of
workers. Draws run in chunks; the precomputed base (engine input, commune arrays, service-area
matrix — plain numbers, no geometry) is shipped once to each worker.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

import geodata
from allocator import (
    RoundInput,
    RoundPolicy,
    SolverConfig,
    Status,
    Territory,
    allocate,
    programme,
)
from service.application.adapter import policy_from_request
from service.application.pipeline import PreparedRound, prepare_round, prepared_input
from service.contract.schemas import RoundRequest

#: Half-width of the uniform multiplicative noise on each commune's fragility index.
NEED_NOISE = 0.05
#: Half-width of the uniform multiplicative noise on each of the three objective weights.
WEIGHT_NOISE = 0.10
#: Decisions reproduced in fewer than this share of the draws are flagged for human review.
STABILITY_THRESHOLD = 0.9
#: Default master seed of the draws.
DEFAULT_SEED = 0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RobustnessBase:
    """Everything a draw needs, as plain numbers (shipped once to every Dask worker).

    Attributes
    ----------
    round_input, policy, config
        The baseline engine input, policy and solver configuration (counterfactual re-runs off:
        only the grants are kept).
    fragile
        Fragile population of every programme commune (the baseline need).
    dep_of, epci_of
        Row of each commune in ``round_input.departements`` / ``round_input.epcis``
        (``-1``: no EPCI part).
    area
        CSR matrix applicants × communes: 1 where the commune is in the applicant's service
        area (rows in ``round_input.applicants`` order, i.e. ascending ``id_pg``).
    existing_offer
        ``E_i`` of every applicant (held fixed).
    capacity
        ``geodata.AccessParams.capacity`` of the marginal gains.
    need_noise, weight_noise
        Half-widths of the uniform multiplicative perturbations.
    """

    round_input: RoundInput
    policy: RoundPolicy
    config: SolverConfig
    fragile: np.ndarray
    dep_of: np.ndarray
    epci_of: np.ndarray
    area: sparse.csr_matrix
    existing_offer: np.ndarray
    capacity: float
    need_noise: float = NEED_NOISE
    weight_noise: float = WEIGHT_NOISE

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(a.id_pg for a in self.round_input.applicants)


def build_base(
    prepared: PreparedRound,
    policy: RoundPolicy | None = None,
    *,
    need_noise: float = NEED_NOISE,
    weight_noise: float = WEIGHT_NOISE,
    config: SolverConfig | None = None,
) -> RobustnessBase:
    """The precomputed base of the draws of a prepared round (policy: the request's own)."""
    if not (0 <= need_noise < 1 and 0 <= weight_noise < 1):
        raise ValueError(
            f"noise half-widths must be in [0, 1), got need {need_noise}, weights {weight_noise}"
        )
    policy = policy or policy_from_request(prepared.request)
    _, round_input = prepared_input(prepared, policy)
    table = geodata.round.commune_indicators(prepared.existing)
    codes = table.index.astype(str)
    pos = {c: i for i, c in enumerate(codes)}
    dep_row = {t.code: i for i, t in enumerate(round_input.departements)}
    epci_row = {t.code: i for i, t in enumerate(round_input.epcis)}
    deps = table["departement"].astype(str).to_numpy()
    sirens = table["epci_siren"].to_numpy()
    dep_of = np.array([dep_row[d] for d in deps], dtype=np.int64)
    epci_of = np.array(
        [
            epci_row.get(f"{d}:{s}", -1) if isinstance(s, str) else -1
            for d, s in zip(deps, sirens, strict=True)
        ],
        dtype=np.int64,
    )
    geo_by_id = {g.id_pg: g for g in prepared.geo.applicants}
    rows, cols = [], []
    offer = []
    for r, a in enumerate(round_input.applicants):
        g = geo_by_id[a.id_pg]
        cs = [pos[c] for c in g.service_area]
        rows.extend([r] * len(cs))
        cols.extend(cs)
        offer.append(g.existing_offer)
    area = sparse.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(len(round_input.applicants), len(codes)),
    )
    return RobustnessBase(
        round_input=round_input,
        policy=policy,
        config=dataclasses.replace(config or SolverConfig(), counterfactual_reruns=0),
        fragile=table["fragile_population"].fillna(0.0).to_numpy(float),
        dep_of=dep_of,
        epci_of=epci_of,
        area=area,
        existing_offer=np.asarray(offer, dtype=float),
        capacity=float(prepared.geo.params.capacity),
        need_noise=float(need_noise),
        weight_noise=float(weight_noise),
    )


# --------------------------------------------------------------------------------------------
# One draw
# --------------------------------------------------------------------------------------------
def draw_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of draw ``index``: a function of the master seed and the index only."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def perturbed_input(
    base: RobustnessBase, factors: np.ndarray, weights: np.ndarray
) -> tuple[RoundInput, RoundPolicy]:
    """The engine input and policy with commune need × ``factors`` and weights × ``weights``.

    ``factors`` are re-normalised so that the national need is unchanged; with all factors 1
    the baseline input is returned unchanged.
    """
    ri = base.round_input
    frag = base.fragile * factors
    total = base.fragile.sum()
    if frag.sum() > 0:
        frag *= total / frag.sum()
    base_p = base.area @ base.fragile
    new_p = base.area @ frag
    ratio = np.divide(new_p, base_p, out=np.ones_like(new_p), where=base_p > 0)
    dep_base = np.bincount(base.dep_of, weights=base.fragile, minlength=len(ri.departements))
    dep_new = np.bincount(base.dep_of, weights=frag, minlength=len(ri.departements))
    has = base.epci_of >= 0
    epci_base = np.bincount(base.epci_of[has], weights=base.fragile[has], minlength=len(ri.epcis))
    epci_new = np.bincount(base.epci_of[has], weights=frag[has], minlength=len(ri.epcis))

    def scaled(value: float, new: float, old: float) -> float:
        return value * (new / old) if old > 0 else value

    applicants = []
    for i, a in enumerate(ri.applicants):
        if ratio[i] == 1.0 or not a.gains:
            applicants.append(a)
            continue
        p_i = float(new_p[i])
        gains = geodata.marginal_gains(p_i, base.existing_offer[i], len(a.gains), base.capacity)
        applicants.append(dataclasses.replace(a, gains=gains))
    need = {t.code: scaled(t.need, dep_new[d], dep_base[d]) for d, t in enumerate(ri.departements)}
    # Fair shares bind only under the département cap; elsewhere they are informative and the
    # (exact, slow) apportionment is skipped: the grants do not depend on them.
    shares: Mapping[str, int | None]
    if base.policy.departement_cap == "part_equitable":
        shares = programme.fair_shares(need, base.policy.national_envelope)
    else:
        shares = {t.code: t.fair_share for t in ri.departements}
    departements = tuple(
        Territory(code=t.code, need=need[t.code], existing=t.existing, fair_share=shares[t.code])
        for t in ri.departements
    )
    epcis = tuple(
        Territory(code=t.code, need=scaled(t.need, epci_new[e], epci_base[e]), existing=t.existing)
        for e, t in enumerate(ri.epcis)
    )
    p = base.policy
    policy = dataclasses.replace(
        p,
        weight_access=p.weight_access * float(weights[0]),
        weight_distribution=p.weight_distribution * float(weights[1]),
        weight_balance=p.weight_balance * float(weights[2]),
    )
    return (
        dataclasses.replace(
            ri, applicants=tuple(applicants), departements=departements, epcis=epcis
        ),
        policy,
    )


def solve_grants(base: RobustnessBase, round_input: RoundInput, policy: RoundPolicy) -> np.ndarray:
    """Posts granted per applicant (ascending ``id_pg``); ``-1`` everywhere when INFEASIBLE."""
    result = allocate(round_input, policy, base.config)
    if result.status == Status.INFEASIBLE:
        return np.full(len(round_input.applicants), -1, dtype=np.int32)
    return np.array([d.granted for d in result.decisions], dtype=np.int32)


def draw(base: RobustnessBase, seed: int, index: int) -> np.ndarray:
    """Grants of draw ``index`` (a pure function of the base, the master seed and the index)."""
    rng = draw_rng(seed, index)
    factors = rng.uniform(1 - base.need_noise, 1 + base.need_noise, size=len(base.fragile))
    weights = rng.uniform(1 - base.weight_noise, 1 + base.weight_noise, size=3)
    round_input, policy = perturbed_input(base, factors, weights)
    return solve_grants(base, round_input, policy)


def run_chunk(base: RobustnessBase, seed: int, start: int, stop: int) -> np.ndarray:
    """Grants of draws ``start .. stop - 1`` (rows), the unit of work of a worker."""
    return np.stack([draw(base, seed, k) for k in range(start, stop)])


# --------------------------------------------------------------------------------------------
# Schedulers
# --------------------------------------------------------------------------------------------
def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="tirages", unit="tirage", disable=not enabled, file=sys.stderr)


def run_draws(
    base: RobustnessBase,
    draws: int,
    seed: int = DEFAULT_SEED,
    *,
    scheduler: Any = "serial",
    workers: int = 2,
    chunk_size: int | None = None,
    progress: bool = False,
    processes: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Grants of ``draws`` perturbed rounds, as a ``draws × applicants`` int matrix.

    Parameters
    ----------
    base
        :func:`build_base`.
    draws, seed
        Number of draws and master seed (draw ``k`` depends on ``(seed, k)`` only).
    scheduler
        ``"serial"`` (in this process), ``"local"`` (a Dask ``LocalCluster`` of ``workers``
        single-threaded workers, started and closed here), a scheduler address
        (``"tcp://host:8786"``: an existing cluster, used as it is) or a
        ``distributed.Client``.
    workers
        Workers of the local cluster.
    chunk_size
        Draws per task (default: about 8 tasks per worker, at most 50 draws each).
    progress
        Show a progress bar (tqdm on stderr).
    processes
        Local cluster of processes (default: the engine is pure Python and holds the GIL, so
        threads would not run draws in parallel) or of threads.

    Returns
    -------
    (numpy.ndarray, dict)
        The grants (row ``k`` = draw ``k``) and how they were computed (scheduler, workers,
        chunks, seconds).
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    size = chunk_size or max(1, min(50, math.ceil(draws / (8 * workers))))
    chunks = _chunks(draws, size)
    start = time.perf_counter()
    info: dict[str, Any] = {"chunks": len(chunks), "chunkSize": size}
    n = len(base.round_input.applicants)
    out = np.empty((draws, n), dtype=np.int32)
    if scheduler == "serial":
        with _progress_bar(draws, progress) as bar:
            for a, b in chunks:
                out[a:b] = run_chunk(base, seed, a, b)
                bar.update(b - a)
        info.update(scheduler="serial", workers=1)
    else:
        info.update(_run_dask(base, seed, chunks, out, scheduler, workers, progress, processes))
    info["seconds"] = round(time.perf_counter() - start, 3)
    return out, info


def _run_dask(
    base: RobustnessBase,
    seed: int,
    chunks: Sequence[tuple[int, int]],
    out: np.ndarray,
    scheduler: Any,
    workers: int,
    progress: bool,
    processes: bool,
) -> dict[str, Any]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    own_client = True
    if isinstance(scheduler, Client):
        client, own_client = scheduler, False
    elif scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            # no dashboard; the scheduler's HTTP server on a free port (8787 may be taken)
            scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    elif isinstance(scheduler, str) and "://" in scheduler:
        client = Client(scheduler)
    else:
        raise ValueError(
            "scheduler must be 'serial', 'local', a scheduler address (tcp://host:8786) or a "
            f"distributed.Client, got {scheduler!r}"
        )
    try:
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        [base_future] = client.scatter([base], broadcast=True)
        futures = {
            client.submit(run_chunk, base_future, seed, a, b, pure=False): (a, b) for a, b in chunks
        }
        with _progress_bar(sum(b - a for a, b in chunks), progress) as bar:
            for fut in as_completed(futures):
                a, b = futures[fut]
                out[a:b] = fut.result()
                bar.update(b - a)
        address = "LocalCluster" if cluster is not None else client.scheduler_info()["address"]
        return {"scheduler": f"dask ({address})", "workers": n_workers}
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Robustness:
    """Draws of a round and their report.

    Attributes
    ----------
    base
        The precomputed base.
    baseline
        Baseline grants (unperturbed), ascending ``id_pg``.
    grants
        ``draws × applicants`` grants.
    report
        JSON-ready report (:func:`report`).
    execution
        How the draws were computed (not part of the report: it differs between schedulers).
    """

    base: RobustnessBase
    baseline: np.ndarray
    grants: np.ndarray
    report: dict[str, Any]
    execution: dict[str, Any]


def stability(baseline: np.ndarray, grants: np.ndarray) -> np.ndarray:
    """Per applicant, the share of draws whose grant equals the baseline grant."""
    return (grants == baseline[None, :]).mean(axis=0)


def report(
    prepared: PreparedRound,
    base: RobustnessBase,
    baseline: np.ndarray,
    grants: np.ndarray,
    seed: int,
    threshold: float = STABILITY_THRESHOLD,
) -> dict[str, Any]:
    """The robustness report: per structure stability and the decisions to review."""
    names = {s.idPG: s.nom for s in prepared.request.structures}
    deps = {a.id_pg: a.departement for a in base.round_input.applicants}
    stab = stability(baseline, grants)
    infeasible = int((grants < 0).all(axis=1).sum())
    valid = grants.clip(min=0)
    moved = np.abs(valid - baseline[None, :]).sum(axis=1) / 2
    rows = []
    for j, id_pg in enumerate(base.ids):
        col = valid[:, j]
        rows.append(
            {
                "idPG": id_pg,
                "nom": names.get(id_pg, ""),
                "departement": deps[id_pg],
                "base": int(baseline[j]),
                "moyenne": round(float(col.mean()), 6),
                "min": int(col.min()),
                "max": int(col.max()),
                "stabilite": round(float(stab[j]), 6),
                "partAccordee": round(float((col > 0).mean()), 6),
                "aRevoir": bool(stab[j] < threshold),
            }
        )
    review = [r["idPG"] for r in rows if r["aRevoir"]]
    return {
        "structures": rows,
        "aRevoir": review,
        "resume": {
            "structures": len(rows),
            "tirages": int(grants.shape[0]),
            "tiragesInfaisables": infeasible,
            "aRevoir": len(review),
            "postesAttribuesBase": int(baseline.sum()),
            "stabiliteMoyenne": round(float(stab.mean()), 6) if len(rows) else 1.0,
            "decisionsStables": round(float((stab >= threshold).mean()), 6) if len(rows) else 1.0,
            "postesDeplacesMoyenne": round(float(moved.mean()), 6),
            "postesDeplacesP95": round(float(np.percentile(moved, 95)), 6),
            "postesDeplacesMax": float(moved.max()),
        },
        "parametres": {
            "tirages": int(grants.shape[0]),
            "graine": int(seed),
            "bruitIndiceFragilite": base.need_noise,
            "bruitPoids": base.weight_noise,
            "loi": "uniforme multiplicative, indépendante par commune et par poids",
            "seuilStabilite": threshold,
            "graineTirage": "SeedSequence(graine, spawn_key=(k,))",
        },
        "methode": (
            "Indice de fragilité de chaque commune et chacun des trois poids multipliés par un "
            "facteur uniforme ; besoin national recalibré ; offre existante, demandes, scores, "
            "avis et quota inchangés. Stabilité : part des tirages qui reproduisent l'attribution "
            "de base. Décision à revoir si stabilité < seuil."
        ),
    }


def robustness_prepared(
    prepared: PreparedRound,
    draws: int,
    seed: int = DEFAULT_SEED,
    *,
    policy: RoundPolicy | None = None,
    threshold: float = STABILITY_THRESHOLD,
    need_noise: float = NEED_NOISE,
    weight_noise: float = WEIGHT_NOISE,
    scheduler: Any = "serial",
    workers: int = 2,
    chunk_size: int | None = None,
    progress: bool = False,
    processes: bool = True,
    config: SolverConfig | None = None,
) -> Robustness:
    """Baseline, ``draws`` perturbed solves and the report of a prepared round.

    See :func:`run_draws` for the scheduling parameters.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    base = build_base(
        prepared, policy, need_noise=need_noise, weight_noise=weight_noise, config=config
    )
    baseline = solve_grants(base, base.round_input, base.policy)
    if (baseline < 0).all() and len(baseline):
        raise ValueError("the baseline round is INFEASIBLE: nothing to perturb")
    grants, info = run_draws(
        base,
        draws,
        seed,
        scheduler=scheduler,
        workers=workers,
        chunk_size=chunk_size,
        progress=progress,
        processes=processes,
    )
    rep = report(prepared, base, baseline, grants, seed, threshold)
    return Robustness(base, baseline, grants, rep, info)


def robustness(
    request: RoundRequest,
    draws: int,
    seed: int = DEFAULT_SEED,
    *,
    extra_existing: Mapping[str, int] | None = None,
    **kwargs: Any,
) -> Robustness:
    """:func:`robustness_prepared` of a validated request (geodata computed once here)."""
    return robustness_prepared(
        prepare_round(request, extra_existing=extra_existing), draws, seed, **kwargs
    )


def review_table(result: Robustness) -> Any:
    """The structures flagged for review, least stable first (a pandas DataFrame)."""
    import pandas as pd

    rows = [r for r in result.report["structures"] if r["aRevoir"]]
    table = pd.DataFrame(rows, columns=list(result.report["structures"][0]) if rows else None)
    return table.sort_values(["stabilite", "idPG"]) if len(table) else table
