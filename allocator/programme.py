"""The rules of the programme: what the call for applications and the State's conventions fix.

France Relance funds 4,000 *conseillers numériques* posts. The figures below are the call's
(and its historical variants'); every module that needs one imports it from here:

- :data:`NATIONAL_ENVELOPE`: the posts funded for the whole programme;
- :data:`COST_PER_POST_EUR`, :data:`COST_PER_POST_PRIVATE_EUR`: the State's standard cost of one
  post over the reference convention, by cost zone (:func:`cost_zone`) or for a private host;
- :data:`CONVENTION_MONTHS`, :data:`MAX_CONVENTION_MONTHS`: the convention those costs pay for,
  and the longest one paid pro rata (:func:`convention_costs`);
- :data:`DEFAULT_QUALITY`: the project score of an application not scored yet;
- :data:`PROGRAMME_END`: the last month of the monthly rounds (the default quota spreads what is
  left of the envelope over the months to it);
- :data:`SELECTION_DAYS`, :data:`CONTRACT_DAYS`, :data:`REASSESS_MONTHS`, :data:`VACANT_MONTHS`:
  the deadlines of a post after its grant (applied by ``service.application.posts``);
- :func:`departement_of`: a commune's département (from its COG code);
- :func:`prefet_opinion`: the préfet's opinion in the engine's spelling;
- :func:`post_costs`: standard and State's cost of one post, co-funding deducted;
- :func:`fair_shares`: each département's fair share of the envelope (Webster on need).

Plain Python: no service, no geodata (the core's rule, ``[tool.importlinter]``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from allocator.apportionment import webster

#: Posts funded by the State for the whole programme (France Relance).
NATIONAL_ENVELOPE = 4_000

#: The State's standard cost of one post over the reference convention, by host territory (the
#: call, and the programme's historical variants). Keys are the cost zones of :func:`cost_zone`.
COST_PER_POST_EUR = {"metro": 50_000.0, "971-973": 70_000.0, "974-976": 67_500.0}
#: The State's standard cost of one post for a private host (any territory).
COST_PER_POST_PRIVATE_EUR = 32_000.0

#: Reference convention length (months) the standard cost per post pays for, by host kind.
CONVENTION_MONTHS = {"public": 24, "private": 18}
#: Longest convention the State pays (pro rata of the reference length).
MAX_CONVENTION_MONTHS = 36

#: Score given to an application the instructor has not scored yet: neutral, documented.
DEFAULT_QUALITY = 50.0

#: Last month of the programme's monthly rounds for the default quota (France Relance: 4,000
#: posts assigned by early 2022).
PROGRAMME_END = "2022-02"

#: The hosts' commitments after a grant (the call): a presented candidate is selected within
#: :data:`SELECTION_DAYS` days, a selected one is under contract within :data:`CONTRACT_DAYS`
#: days; a grant with no contract :data:`REASSESS_MONTHS` months on is flagged for
#: re-assessment; a post vacant for more than :data:`VACANT_MONTHS` months returns to the pool.
SELECTION_DAYS = 15
CONTRACT_DAYS = 15
REASSESS_MONTHS = 3
VACANT_MONTHS = 6

#: Overseas départements whose posts cost more (:data:`COST_PER_POST_EUR`); every other
#: département is in zone ``metro``.
COST_ZONES = {
    "971": "971-973",
    "972": "971-973",
    "973": "971-973",
    "974": "974-976",
    "976": "974-976",
}


def departement_of(code_commune: str) -> str:
    """Département code of a COG commune code: 3 characters overseas (``97x``, ``98x``), else 2
    (``2A``/``2B`` Corsica)."""
    return code_commune[:3] if code_commune.startswith(("97", "98")) else code_commune[:2]


def cost_zone(departement: str) -> str:
    """The cost zone of a département: ``971-973``, ``974-976`` or ``metro``."""
    return COST_ZONES.get(departement, "metro")


def opinion_spelling(avis: str | None) -> str | None:
    """An opinion (the préfet's or the committee's) as it is stored and shown: the portal's
    ``NEGATIF`` is ``NÉGATIF``; any other value as it is."""
    return "NÉGATIF" if avis == "NEGATIF" else avis


def prefet_opinion(avis: str | None) -> str | None:
    """The préfet's opinion as the engine reads it: ``POSITIF``, ``NÉGATIF`` (also written
    ``NEGATIF`` by the portal, :func:`opinion_spelling`) or ``None`` (no opinion, or any other
    value)."""
    spelled = opinion_spelling(avis)
    return spelled if spelled in ("POSITIF", "NÉGATIF") else None


def post_costs(
    type_: str,
    zone: str,
    cofinancement_eur: float | None = None,
    cofinancement_part: float | None = None,
) -> tuple[float, float]:
    """``(standard cost, State's cost)`` of one post for this host over the reference convention.

    The standard cost is :data:`COST_PER_POST_EUR` of the host's cost zone (or
    :data:`COST_PER_POST_PRIVATE_EUR` for a private host); the host's co-funding per post
    (``cofinancementEur``, or ``cofinancementPart`` × the standard cost) is deducted, never
    below zero: a host paying more than the standard cost (a salary complement) saves the State
    the whole standard cost, no more. Co-funding = standard − State's cost.
    """
    base = COST_PER_POST_PRIVATE_EUR if type_ == "PRIVATE" else COST_PER_POST_EUR[zone]
    cofunding = (cofinancement_eur or 0.0) + (cofinancement_part or 0.0) * base
    return base, max(0.0, base - cofunding)


def convention_costs(
    type_: str,
    code_commune: str,
    cofinancement_eur: float | None = None,
    duree_mois: int | None = None,
    cofinancement_part: float | None = None,
) -> tuple[float, float]:
    """:func:`post_costs` of a host in ``code_commune`` over a convention of ``duree_mois``.

    The standard costs pay for the reference convention (:data:`CONVENTION_MONTHS`: 24 months
    public, 18 private); a convention of ``duree_mois`` (1 to :data:`MAX_CONVENTION_MONTHS`) is
    paid pro rata; ``None`` = the reference length.

    Raises
    ------
    ValueError
        For a length outside 1..:data:`MAX_CONVENTION_MONTHS` (the message is French, for users).
    """
    base, state = post_costs(
        type_, cost_zone(departement_of(code_commune)), cofinancement_eur, cofinancement_part
    )
    reference = CONVENTION_MONTHS["private" if type_ == "PRIVATE" else "public"]
    months = reference if duree_mois is None else duree_mois
    if not 1 <= months <= MAX_CONVENTION_MONTHS:
        raise ValueError(
            f"durée de convention entre 1 et {MAX_CONVENTION_MONTHS} mois ; reçu {months}"
        )
    return base * months / reference, state * months / reference


def fair_shares(needs: Mapping[str, float], envelope: int) -> dict[str, int]:
    """Each département's fair share of ``envelope`` posts: Webster apportionment on need.

    Exact (rational arithmetic), keys in ascending order, summing to ``envelope``; all zero (keys
    in the given order) when no département has any need. The rounds of a process share one need
    (it depends on the bundled data only), so the latest apportionments are kept (16) and each is
    computed once; a need that varies (robustness draws, simulated months) is apportioned afresh
    at each call. This is the only call of :func:`allocator.apportionment.webster` on the
    programme's envelope.
    """
    return dict(_fair_shares(tuple(needs.items()), envelope))


@functools.lru_cache(maxsize=16)
def _fair_shares(
    needs: tuple[tuple[str, float], ...], envelope: int
) -> tuple[tuple[str, int], ...]:
    if not any(need for _, need in needs):
        return tuple((code, 0) for code, _ in needs)
    return tuple(webster(dict(needs), envelope).items())
