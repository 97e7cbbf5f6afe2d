"""Service areas of applicants: codes re-keyed to COG 2026, then one rule per applicant type.

The rules (see :mod:`geodata.areas`): a COMMUNE serves its commune; an EPCI its EPCI (or its
commune when it has none); a DEPARTEMENT or REGION its whole territory; a COLLECTIVITE, GIP or
PRIVATE its commune and the catchment of the first decay step; an explicit list of served
communes overrides the type's rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from geodata import layers
from geodata.access import AccessParams
from geodata.catchments import catchment_of
from geodata.codes import rekey_codes
from geodata.context import RoundContext, codes_of, round_context
from geodata.errors import CommuneOutsideProgramme
from geodata.round_types import ApplicantSite


class _KnownCodes:
    """The COG 2026 codes, as :func:`geodata.layers.known_codes`: programme communes and COM."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: RoundContext) -> None:
        self.ctx = ctx

    def __contains__(self, code: object) -> bool:
        return code in self.ctx.pos or code in self.ctx.com_codes


class _CodeHistory(Mapping[str, str]):
    """:func:`geodata.layers.code_history_map`, loaded only if some code is an older one."""

    def __getitem__(self, code: str) -> str:
        return layers.code_history_map()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(layers.code_history_map())

    def __len__(self) -> int:
        return len(layers.code_history_map())


def rekey_all(sites: Sequence[ApplicantSite]) -> tuple[list[str], list[tuple[str, ...] | None]]:
    """Re-key every code of the sites at once: one warning per call, listing all old codes."""
    flat: list[str] = []
    for s in sites:
        flat.append(s.code_commune)
        flat.extend(s.communes_desservies or ())
    ctx = round_context()
    # stacklevel 4: the warning points at the caller of round_geodata / service_area.
    new = rekey_codes(flat, _KnownCodes(ctx), _CodeHistory(), "sites", stacklevel=4)
    seats: list[str] = []
    served: list[tuple[str, ...] | None] = []
    i = 0
    for s in sites:
        seats.append(new[i])
        i += 1
        if s.communes_desservies is None:
            served.append(None)
        else:
            n = len(s.communes_desservies)
            served.append(tuple(new[i : i + n]))
            i += n
    outside = sorted({c for c in new if c in ctx.com_codes})
    if outside:
        raise CommuneOutsideProgramme(outside, "sites")
    return seats, served


_GROUP_OF_TYPE = {"DEPARTEMENT": "departement", "REGION": "region", "EPCI": "epci"}


def area_of(
    ctx: RoundContext, kind: str, seat: int, served: tuple[str, ...] | None
) -> tuple[str, Any]:
    """How an applicant's area is found: ``("seat", seat)``, ``(grouping, key)``,
    ``("catchment", seat)`` or ``("list", sorted positions)``."""
    if served is not None:
        return "list", tuple(sorted({ctx.pos[c] for c in served}))
    if kind == "COMMUNE":
        return "seat", seat
    grouping = _GROUP_OF_TYPE.get(kind)
    if grouping == "departement":
        return grouping, str(ctx.departement[seat])
    if grouping == "region":
        return grouping, str(ctx.region[seat])
    if grouping == "epci":
        e = ctx.epci[seat]
        return ("seat", seat) if e is None else ("epci", e)
    # COLLECTIVITE, GIP, PRIVATE: seat + catchment of the first decay step.
    return "catchment", seat


def area_positions(
    ctx: RoundContext, kind: str, seat: int, served: tuple[str, ...] | None, params: AccessParams
) -> tuple[np.ndarray, tuple[str, ...]]:
    how, key = area_of(ctx, kind, seat, served)
    if how == "list":
        pos = np.array(key, dtype=np.intp)
    elif how == "seat":
        return np.array([seat], dtype=np.intp), (str(ctx.codes[seat]),)
    elif how == "catchment":
        pos = catchment_of(seat, params.catchment_radius_m)
    else:
        groups = ctx.groups[how]
        return groups.members[groups.index[str(key)]], codes_of(how, str(key))
    return pos, tuple(ctx.codes[pos].tolist())
