"""Typed errors of the allocation engine.

An infeasible round is *not* an error: it is an answer (``Status.INFEASIBLE`` with the conflicting
rules named in ``AllocationResult.conflicts``). Errors are reserved for inputs the engine refuses,
solvers that fail, and broken invariants.
"""

from __future__ import annotations


class AllocatorError(Exception):
    """Base class of every error raised by ``allocator``."""


class InvalidInput(AllocatorError, ValueError):
    """The round, policy or solver configuration breaks a documented precondition.

    The message names the field, the value and the rule, e.g.
    ``"applicants[id_pg=12].gains: must be non-increasing, got 3.0 after 2.0"``.
    """


class SolverFailure(AllocatorError, RuntimeError):
    """An OR-Tools backend returned an error status (not a timeout with a solution)."""


class InternalError(AllocatorError, AssertionError):
    """An invariant of the engine broke (a modelling bug): never silenced, never retried."""
