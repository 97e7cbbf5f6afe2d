"""Existing coverage: where advisors already are, and administrative ratios.

Initial state
-------------
By default the existing advisors are the bundled 2021 first-wave host structures
(``conseillers_numeriques_structures_2021.csv``: 1,450 structures, 2,138 posts, ``nb_cnfs``
posts placed at ``code_insee_2026``). Seven structures (9 posts) have no commune code in the
source: they are counted in the total and *reported* (:attr:`ExistingAdvisors.unlocated`), but
cannot be placed on the map. A run-time mapping ``{code_insee: nombre}`` **replaces** the
bundled state when given (it is not added to it).

Administrative coverage
-----------------------
``advisors per 10,000 fragile inhabitants = 10,000 × Σ advisors hosted / Σ fragile population``
over a commune, an EPCI, a département or a région (advisors counted where they are hosted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from geodata import layers
from geodata.checks import check_columns
from geodata.codes import check_code_series, rekey_codes
from geodata.errors import CommuneOutsideProgramme, GeodataError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ExistingAdvisors:
    """Existing advisors per commune.

    Attributes
    ----------
    per_commune
        Advisors per code INSEE (COG 2026), only codes with at least one, sorted by code.
    total
        All advisors, including the unlocated ones.
    unlocated
        Source rows that could not be placed (no code INSEE); empty for a run-time mapping.
    source
        ``"structures_2021"`` or ``"runtime"``.
    """

    per_commune: pd.Series
    total: int
    unlocated: pd.DataFrame
    source: str

    @property
    def located_total(self) -> int:
        """Advisors placed at a commune."""
        return int(self.per_commune.sum())


def existing_from_structures(structures: pd.DataFrame) -> ExistingAdvisors:
    """Existing advisors from a host-structure table (``nb_cnfs`` at ``code_insee_2026``).

    Parameters
    ----------
    structures
        Rows with ``nb_cnfs`` (int >= 0) and ``code_insee_2026`` (COG 2026 or null).

    Returns
    -------
    ExistingAdvisors
        Rows with a null code are returned in ``unlocated``, never dropped silently.
    """
    check_columns(structures, ["nb_cnfs", "code_insee_2026"], "structures")
    has_code = structures["code_insee_2026"].notna()
    located = structures[has_code]
    check_code_series(located["code_insee_2026"], "structures")
    per = located.groupby("code_insee_2026")["nb_cnfs"].sum().astype("int64")
    per = per[per > 0].sort_index()
    per.index.name = "code_insee"
    return ExistingAdvisors(
        per_commune=per,
        total=int(structures["nb_cnfs"].sum()),
        unlocated=structures[~has_code].copy(),
        source="structures_2021",
    )


@cache
def bundled_existing() -> ExistingAdvisors:
    """The 2021 first-wave state (2,138 advisors; 9 of them in 7 structures without code)."""
    return existing_from_structures(
        layers.shared_structures_2021(
            layers.DATA_DIR / "conseillers_numeriques_structures_2021.csv"
        )
    )


def bundled_existing_advisors() -> dict[str, int]:
    """The bundled 2021 advisors as ``{code_insee: nombre}`` (located ones: 2,129 of 2,138)."""
    return {str(c): int(n) for c, n in bundled_existing().per_commune.items()}


def existing_from_mapping(
    existing: Mapping[str, int], *, source: str = "existing", stacklevel: int = 2
) -> ExistingAdvisors:
    """Validate a run-time ``{code_insee: nombre}`` mapping into :class:`ExistingAdvisors`.

    Older codes are re-keyed to COG 2026 (with a :class:`~geodata.errors.RekeyedCodeWarning`);
    numbers at codes that merge into one commune are summed.

    Raises
    ------
    MalformedCommuneCode, UnknownCommuneCode
        Bad or unknown codes.
    CommuneOutsideProgramme
        Codes of a COM.
    GeodataError
        A number that is not an int >= 0.
    """
    import pandas as pd

    if not isinstance(existing, Mapping):
        raise TypeError(
            f"'{source}' should be a mapping code_insee -> nombre, got {type(existing)}"
        )
    bad = {
        k: v for k, v in existing.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0
    }
    if bad:
        raise GeodataError(f"'{source}': numbers of advisors must be ints >= 0, got {bad}")
    codes = rekey_codes(
        list(existing),
        layers.known_codes(),
        layers.code_history_map(),
        source,
        stacklevel=stacklevel + 1,
    )
    communes = layers.shared_communes(layers.DATA_DIR / "communes_2026.parquet")
    com = set(communes.loc[communes["zone"] == "com", "code_insee"])
    outside = [c for c in codes if c in com]
    if outside:
        raise CommuneOutsideProgramme(outside, source)
    per = pd.Series(
        list(existing.values()), index=pd.Index(codes, name="code_insee"), dtype="int64"
    )
    per = per.groupby(level=0).sum()
    per = per[per > 0].sort_index()
    return ExistingAdvisors(
        per_commune=per, total=int(per.sum()), unlocated=pd.DataFrame(), source="runtime"
    )


def resolve_existing(
    existing: Mapping[str, int] | None = None, *, stacklevel: int = 2
) -> ExistingAdvisors:
    """The bundled 2021 state when ``existing`` is None, else the validated mapping."""
    if existing is None:
        return bundled_existing()
    return existing_from_mapping(existing, stacklevel=stacklevel + 1)


def advisors_column(table: pd.DataFrame, existing: ExistingAdvisors) -> pd.Series:
    """Advisors per commune of ``table`` (indexed by code INSEE), 0 where none."""
    missing = existing.per_commune.index.difference(table.index)
    if len(missing):
        raise GeodataError(f"existing advisors at codes outside the table: {list(missing)[:10]}")
    return existing.per_commune.reindex(table.index, fill_value=0).astype("int64")
