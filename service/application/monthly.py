"""The monthly round on the cadence of the call (:mod:`service.application.cycle`).

``POST /v1/rounds/mensuel`` and ``allocator round mensuel``: the round of a month considers the
applications received up to the end of its 15th, with the quota of the cadence unless one is
given. The draft itself is :func:`service.application.rounds.draft_round`.
"""

from __future__ import annotations

from typing import Any

from allocator.programme import PROGRAMME_END
from service.application import rounds
from service.application.cycle import (
    applications_cutoff,
    default_quota,
    parse_mois,
    round_date,
)
from service.contract.schemas import PolitiqueIn
from service.store import repository as store
from service.store.db import Database


def draft_monthly(
    db: Database,
    *,
    mois: str,
    quota: int | None = None,
    politique: PolitiqueIn | None = None,
    author: str = "",
    end: str = PROGRAMME_END,
) -> dict[str, Any]:
    """Draft the round of ``mois`` on the cadence (quota defaulted if ``None``)."""
    parse_mois(mois)
    defaulted = quota is None
    if quota is None:
        with db.read() as s:
            restant = store.programme_view(store.programme(s))["restant"]
        quota = default_quota(restant, mois, end)
    view = rounds.draft_round(
        db,
        mois=mois,
        quota=quota,
        politique=politique,
        author=author,
        received_before=applications_cutoff(mois),
    )
    view["cadence"] = {
        "dateTour": round_date(mois).date().isoformat(),
        "receptionAvant": applications_cutoff(mois).isoformat().replace("+00:00", "Z"),
        "quotaParDefaut": defaulted,
    }
    return view
