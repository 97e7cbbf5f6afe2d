"""OR-Tools backends solving the *same* model as the greedy, for certification and beyond.

Every backend reads a ``model.FreeProblem`` (the integer marginal gains once the locks are fixed)
and returns a ``BackendSolution`` whose objective is recomputed exactly by ``model.objective``.
Concave terms are written per unit (consecutive equal gains merged into one variable / arc of
larger capacity); by concavity an optimal solution fills the units of a group in order.

Backends (``SolverConfig.backend``)
-----------------------------------
``min_cost_flow``
    The laminar model as a max-profit flow on a tree: source → département (units priced
    ``-G_d'(k)``, as many as its cap allows) → EPCI-part (``-G_e'(k)``) → sink through one arc per
    applicant unit (``-h_i'(k)``), plus a zero-cost source → sink bypass; supply = the free quota.
    Integer costs, proven optimum, no tolerance. Cannot express the euro budget (a knapsack).
``scip``
    MIP (pywraplp + SCIP): integer ``alloc[id_pg]``, continuous unit variables, the budget as a
    row. Floating point; relative gap target 0. Stopped after :data:`SCIP_NODE_LIMIT`
    branch-and-bound nodes, a deterministic limit (single thread, fixed seed: the same input
    gives the same incumbent and bound on every run); the wall-clock time limit stays a safety
    net, and an answer it cuts is flagged ``timed_out`` (the engine does not use it).
``cp_sat``
    The same model on integers in CP-SAT (exact, handles the budget).
``glop``
    The LP relaxation (pywraplp + GLOP). Exact-up-to-tolerance for the laminar model, whose
    constraint matrix is a network matrix (totally unimodular); only a bound with a budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ortools
from ortools.graph.python import min_cost_flow

from allocator.errors import SolverFailure
from allocator.model import SCALE, FreeProblem, Model, objective

ORTOOLS_VERSION: str = getattr(ortools, "__version__", "unknown")
#: Backends that work on floating point: their bound is compared with this relative tolerance.
FLOAT_TOLERANCE = 1e-9
#: SCIP explores at most this many branch-and-bound nodes (restarts included): a limit on work,
#: not on time, so that an unproven answer is the same on every run and every machine.
SCIP_NODE_LIMIT = 10


@dataclass(frozen=True, slots=True)
class BackendSolution:
    """What a backend returns.

    ``x`` is the full allocation (locks included) or ``None`` when no solution was found;
    ``objective`` is ``F_int(x)`` recomputed exactly; ``bound`` an upper bound on ``F_int``
    proven by the backend (in ``F_int`` units, float for floating-point backends).
    ``timed_out``: the wall-clock time limit stopped the backend before it proved optimality
    or reached a deterministic limit, so ``x`` and ``bound`` depend on the machine's speed and
    load (``parameters["stop"]`` says what stopped it: ``optimal``, ``node_limit`` or
    ``time_limit``).
    """

    backend: str
    x: tuple[int, ...] | None
    objective: int | None
    bound: float | None
    proven_optimal: bool
    exact: bool
    wall_seconds: float
    parameters: dict[str, object] = field(default_factory=dict)
    timed_out: bool = False


def runs(profits: tuple[int, ...]) -> list[tuple[int, int]]:
    """Merge consecutive equal unit profits: ``[(profit, number of units), ...]``."""
    merged: list[tuple[int, int]] = []
    for p in profits:
        if merged and merged[-1][0] == p:
            merged[-1] = (p, merged[-1][1] + 1)
        else:
            merged.append((p, 1))
    return merged


def _full_x(m: Model, fp: FreeProblem, free_values: list[int]) -> tuple[int, ...]:
    x = [v or 0 for v in m.lock]
    for j, i in enumerate(fp.apps):
        x[i] = free_values[j]
    return tuple(x)


def _trivial(m: Model, fp: FreeProblem, backend: str, start: float) -> BackendSolution:
    x = _full_x(m, fp, [0] * len(fp.apps))
    value = objective(m, x)
    return BackendSolution(backend, x, value, float(value), True, True, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# Min-cost flow on the laminar tree
# --------------------------------------------------------------------------------------------
def solve_flow(m: Model, fp: FreeProblem, config: object = None) -> BackendSolution:
    """Certify with ``SimpleMinCostFlow`` (exact integers, proven optimum)."""
    start = time.perf_counter()
    if fp.quota == 0 or not fp.apps:
        return _trivial(m, fp, "min_cost_flow", start)
    n_depts = len(fp.dept_profits)
    source, sink = 0, 1

    def dept_node(d: int) -> int:
        return 2 + d

    def group_node(g: int) -> int:
        return 2 + n_depts + g

    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    costs: list[int] = []

    def arc(tail: int, head: int, capacity: int, cost: int) -> int:
        tails.append(tail)
        heads.append(head)
        caps.append(capacity)
        costs.append(cost)
        return len(tails) - 1

    for d, profits in enumerate(fp.dept_profits):
        for p, units in runs(profits):
            arc(source, dept_node(d), units, -p)
    for g, profits in enumerate(fp.group_profits):
        for p, units in runs(profits):
            arc(dept_node(m.group_dept[g]), group_node(g), units, -p)
    owner: list[int] = []
    app_arcs: list[int] = []
    for j, i in enumerate(fp.apps):
        for p, units in runs(fp.app_profits[j]):
            app_arcs.append(arc(group_node(m.app_group[i]), sink, units, -p))
            owner.append(j)
    arc(source, sink, fp.quota, 0)  # the quota need not be used up

    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(
        np.asarray(tails, dtype=np.int32),
        np.asarray(heads, dtype=np.int32),
        np.asarray(caps, dtype=np.int64),
        np.asarray(costs, dtype=np.int64),
    )
    smcf.set_node_supply(source, fp.quota)
    smcf.set_node_supply(sink, -fp.quota)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise SolverFailure(f"min_cost_flow: status {status} on {len(tails)} arcs")
    flows = smcf.flows(np.asarray(app_arcs, dtype=np.int64))
    free = [0] * len(fp.apps)
    for j, f in zip(owner, flows.tolist(), strict=True):
        free[j] += int(f)
    x = _full_x(m, fp, free)
    value = objective(m, x)
    proven = fp.constant - int(smcf.optimal_cost())
    if value != proven:
        raise SolverFailure(f"min_cost_flow: flow value {proven} != recomputed objective {value}")
    return BackendSolution(
        "min_cost_flow",
        x,
        value,
        float(proven),
        True,
        True,
        time.perf_counter() - start,
        {"arcs": len(tails), "nodes": 2 + n_depts + len(fp.group_profits)},
    )


#: Adds one concave term ``(name, marginal profits, member variables)`` to a backend's model.
_Concave = Callable[[str, tuple[int, ...], list[int]], None]


def _concave_terms(m: Model, fp: FreeProblem, concave: _Concave) -> None:
    """The objective's concave terms, in a fixed order: each applicant's access, each EPCI-part's
    distribution (zero-weight virtual groups add neither profit nor constraint), each
    département's balance."""
    for j, i in enumerate(fp.apps):
        concave(f"acces[{m.ids[i]}]", fp.app_profits[j], [j])
    group_members: list[list[int]] = [[] for _ in fp.group_profits]
    dept_members: list[list[int]] = [[] for _ in fp.dept_profits]
    for j, i in enumerate(fp.apps):
        group_members[m.app_group[i]].append(j)
        dept_members[m.app_dept[i]].append(j)
    for g, profits in enumerate(fp.group_profits):
        if any(profits):
            concave(f"epci[{m.group_codes[g]}]", profits, group_members[g])
    for d, profits in enumerate(fp.dept_profits):
        if dept_members[d]:
            concave(f"departement[{m.dept_territories[d].code}]", profits, dept_members[d])


# --------------------------------------------------------------------------------------------
# pywraplp: SCIP (MIP) and GLOP (LP)
# --------------------------------------------------------------------------------------------
def solve_linear(
    m: Model,
    fp: FreeProblem,
    backend: str,
    *,
    time_limit_s: float,
    workers: int,
    seed: int,
    with_budget: bool,
) -> BackendSolution:
    """Solve with pywraplp (``backend`` = "scip" MIP or "glop" LP relaxation)."""
    from ortools.linear_solver import pywraplp  # loaded on use: the default backend is the flow

    start = time.perf_counter()
    if fp.quota == 0 or not fp.apps:
        return _trivial(m, fp, backend, start)
    integer = backend == "scip"
    solver = pywraplp.Solver.CreateSolver("SCIP" if integer else "GLOP")
    if solver is None:
        raise SolverFailure(f"{backend}: solver not available in OR-Tools {ORTOOLS_VERSION}")
    solver.SetTimeLimit(max(1, round(time_limit_s * 1000)))
    if integer:
        solver.SetNumThreads(workers)
        solver.SetSolverSpecificParametersAsString(
            f"randomization/randomseedshift = {seed}\nlimits/totalnodes = {SCIP_NODE_LIMIT}\n"
        )
    x_vars = _linear_model(solver, m, fp, integer, with_budget)
    params = pywraplp.MPSolverParameters()
    if integer:
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
    status = solver.Solve(params)
    # Below the node limit, an unproven stop is the wall clock's (a cut that depends on timing).
    timed_out = status != pywraplp.Solver.OPTIMAL and (
        not integer or solver.nodes() < SCIP_NODE_LIMIT
    )
    parameters: dict[str, object] = {
        "variables": solver.NumVariables(),
        "constraints": solver.NumConstraints(),
        "relative_mip_gap": 0.0 if integer else None,
        "node_limit": SCIP_NODE_LIMIT if integer else None,
        "budget_row": bool(with_budget and fp.budget_cents is not None),
        "stop": "optimal"
        if status == pywraplp.Solver.OPTIMAL
        else "time_limit"
        if timed_out
        else "node_limit",
    }
    wall = time.perf_counter() - start
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        if status == pywraplp.Solver.NOT_SOLVED:  # time limit without a solution
            return BackendSolution(
                backend, None, None, None, False, False, wall, parameters, timed_out=True
            )
        raise SolverFailure(f"{backend}: status {status}")
    x, bound = _linear_solution(solver, m, fp, backend, x_vars, integer)
    proven = status == pywraplp.Solver.OPTIMAL
    return BackendSolution(
        backend, x, objective(m, x), bound, proven, False, wall, parameters, timed_out=timed_out
    )


def _linear_model(
    solver: Any, m: Model, fp: FreeProblem, integer: bool, with_budget: bool
) -> list[Any]:
    """Variables, rows and objective of the free problem in a pywraplp solver; the applicants'
    variables in ``fp.apps`` order."""
    objective_row = solver.Objective()
    objective_row.SetMaximization()
    x_vars = []
    for j, i in enumerate(fp.apps):
        ub = len(fp.app_profits[j])
        name = f"alloc[{m.ids[i]}]"
        x_vars.append(solver.IntVar(0, ub, name) if integer else solver.NumVar(0, ub, name))

    def concave(name: str, profits: tuple[int, ...], members: list[int]) -> None:
        """``Σ_{members} x = Σ_k units_k``, each unit priced by its marginal gain."""
        row = solver.Constraint(0, 0, name)
        for j in members:
            row.SetCoefficient(x_vars[j], 1)
        for r, (p, units) in enumerate(runs(profits)):
            unit = solver.NumVar(0, units, f"{name}[{r}]")
            row.SetCoefficient(unit, -1)
            objective_row.SetCoefficient(unit, p / SCALE)

    _concave_terms(m, fp, concave)
    quota_row = solver.Constraint(0, fp.quota, "quota")
    for var in x_vars:
        quota_row.SetCoefficient(var, 1)
    if with_budget and fp.budget_cents is not None:
        budget_row = solver.Constraint(0, fp.budget_cents, "budget")
        for j, i in enumerate(fp.apps):
            budget_row.SetCoefficient(x_vars[j], m.cost_cents[i])
    return x_vars


def _linear_solution(
    solver: Any, m: Model, fp: FreeProblem, backend: str, x_vars: list[Any], integer: bool
) -> tuple[tuple[int, ...], float]:
    """The integer allocation of a solved pywraplp model and its bound in ``F_int`` units."""
    values = [var.solution_value() for var in x_vars]
    free = [round(v) for v in values]
    if any(abs(v - r) > 1e-6 for v, r in zip(values, free, strict=True)):
        raise SolverFailure(f"{backend}: fractional solution on a network matrix")
    objective_row = solver.Objective()
    raw_bound = objective_row.BestBound() if integer else objective_row.Value()
    # F_int is an integer: any valid bound can be floored (after the solver's tolerance), which
    # also makes the reported bound independent of floating-point noise (threads, platforms).
    bound = float(
        math.floor(
            fp.constant + raw_bound * SCALE + FLOAT_TOLERANCE * abs(raw_bound * SCALE) + 1e-6
        )
    )
    return _full_x(m, fp, free), bound


# --------------------------------------------------------------------------------------------
# CP-SAT
# --------------------------------------------------------------------------------------------
def solve_cp_sat(
    m: Model,
    fp: FreeProblem,
    *,
    time_limit_s: float,
    workers: int,
    seed: int,
    with_budget: bool,
) -> BackendSolution:
    """Solve on integers with CP-SAT (exact objective and bound)."""
    from ortools.sat.python import cp_model  # loaded on use (it imports pandas)

    start = time.perf_counter()
    if fp.quota == 0 or not fp.apps:
        return _trivial(m, fp, "cp_sat", start)
    model, x_vars = _cp_sat_model(m, fp, with_budget)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    wall = time.perf_counter() - start
    # CP-SAT stops on the wall clock only: an unproven answer depends on timing.
    timed_out = status != cp_model.OPTIMAL
    parameters: dict[str, object] = {
        "num_workers": workers,
        "random_seed": seed,
        "budget_row": bool(with_budget and fp.budget_cents is not None),
        "stop": "time_limit" if timed_out else "optimal",
    }
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.UNKNOWN:
            return BackendSolution(
                "cp_sat", None, None, None, False, True, wall, parameters, timed_out=True
            )
        raise SolverFailure(f"cp_sat: status {solver.status_name(status)}")
    x = _full_x(m, fp, [int(solver.value(v)) for v in x_vars])
    bound = float(fp.constant + round(solver.best_objective_bound))
    return BackendSolution(
        "cp_sat",
        x,
        objective(m, x),
        bound,
        status == cp_model.OPTIMAL,
        True,
        wall,
        parameters,
        timed_out=timed_out,
    )


def _cp_sat_model(m: Model, fp: FreeProblem, with_budget: bool) -> tuple[Any, list[Any]]:
    """The free problem as a CP-SAT model; the applicants' variables in ``fp.apps`` order."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x_vars = [
        model.new_int_var(0, len(fp.app_profits[j]), f"alloc[{m.ids[i]}]")
        for j, i in enumerate(fp.apps)
    ]
    terms: list[cp_model.LinearExprT] = []

    def concave(name: str, profits: tuple[int, ...], members: list[int]) -> None:
        units = []
        for r, (p, count) in enumerate(runs(profits)):
            unit = model.new_int_var(0, count, f"{name}[{r}]")
            units.append(unit)
            if p:
                terms.append(p * unit)
        model.add(sum(x_vars[j] for j in members) == sum(units)).with_name(name)

    _concave_terms(m, fp, concave)
    model.add(sum(x_vars) <= fp.quota).with_name("quota")
    if with_budget and fp.budget_cents is not None:
        model.add(
            sum(m.cost_cents[i] * x_vars[j] for j, i in enumerate(fp.apps)) <= fp.budget_cents
        ).with_name("budget")
    model.maximize(sum(terms))
    return model, x_vars


def solve(
    m: Model,
    fp: FreeProblem,
    backend: str,
    *,
    time_limit_s: float,
    workers: int,
    seed: int,
    with_budget: bool,
) -> BackendSolution:
    """Dispatch to a backend by name (see module docstring)."""
    if backend == "min_cost_flow":
        if with_budget and fp.budget_cents is not None:
            raise SolverFailure("min_cost_flow cannot express a budget row (knapsack)")
        return solve_flow(m, fp)
    if backend in ("scip", "glop"):
        return solve_linear(
            m,
            fp,
            backend,
            time_limit_s=time_limit_s,
            workers=workers,
            seed=seed,
            with_budget=with_budget,
        )
    if backend == "cp_sat":
        return solve_cp_sat(
            m, fp, time_limit_s=time_limit_s, workers=workers, seed=seed, with_budget=with_budget
        )
    raise SolverFailure(f"unknown backend {backend!r}")
