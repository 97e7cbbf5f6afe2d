"""Typed errors and warnings of ``geodata``: raised at the boundary, with the offending values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class GeodataError(ValueError):
    """Base class of the data errors raised by ``geodata``."""


class UnknownCommuneCode(GeodataError):
    """One or more well-formed INSEE codes are neither COG 2026 nor a known older code.

    Attributes
    ----------
    codes
        The offending codes, sorted and de-duplicated.
    source
        Where they came from (file or argument name).
    """

    def __init__(self, codes: Iterable[str], source: str = "", *, reason: str = "") -> None:
        self.codes: tuple[str, ...] = tuple(sorted({str(c) for c in codes}))
        self.source = source
        shown = ", ".join(repr(c) for c in self.codes[:20])
        more = f" (+{len(self.codes) - 20} more)" if len(self.codes) > 20 else ""
        where = f" in {source}" if source else ""
        why = reason or "not a COG 2026 commune nor a known former code"
        super().__init__(f"{len(self.codes)} unknown code(s) INSEE{where}: {shown}{more} ({why})")


class MalformedCommuneCode(UnknownCommuneCode):
    """A code INSEE that is not a 5-character string (digits, or ``2A``/``2B`` + 3 digits)."""

    def __init__(self, codes: Iterable[str], source: str = "") -> None:
        super().__init__(
            codes,
            source,
            reason="a code INSEE is a 5-character string: 5 digits, or 2A/2B and 3 digits; "
            "read CSV code columns with dtype=str to keep leading zeros",
        )


class CommuneOutsideProgramme(GeodataError):
    """A commune of a COM (975, 977, 978, 984, 986-989): outside the programme's data."""

    def __init__(self, codes: Iterable[str], source: str = "") -> None:
        self.codes = tuple(sorted(set(codes)))
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(
            f"commune(s) of a collectivité d'outre-mer{where}: {', '.join(self.codes)}; "
            "the COM are outside the programme's data (no geometry, no fragility index)"
        )


class MissingColumns(GeodataError):
    """A table lacks required columns."""

    def __init__(self, name: str, missing: Iterable[str], present: Iterable[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"'{name}' lacks required column(s) {list(self.missing)}; has {sorted(present)}"
        )


class CRSMismatch(GeodataError):
    """A GeoDataFrame is not in the expected coordinate reference system."""


class RekeyedCodeWarning(UserWarning):
    """Older codes INSEE were re-keyed to COG 2026 through the bundled history file.

    Attributes
    ----------
    mapping
        ``{old_code: cog_2026_code}`` for every re-keyed code.
    """

    def __init__(self, mapping: Mapping[str, str], source: str = "") -> None:
        self.mapping = dict(sorted(mapping.items()))
        self.source = source
        pairs = ", ".join(f"{a}->{b}" for a, b in list(self.mapping.items())[:20])
        more = f" (+{len(self.mapping) - 20} more)" if len(self.mapping) > 20 else ""
        where = f" in {source}" if source else ""
        super().__init__(
            f"re-keyed {len(self.mapping)} code(s) INSEE to COG 2026{where}: {pairs}{more}"
        )


class UnknownDepartement(GeodataError):
    """A département that is not one of the programme's (métropole and the five DROM).

    The message is French (it is shown as is by the command line) and names the valid form.
    """

    def __init__(self, value: object, form: str) -> None:
        self.value = value
        super().__init__(f"{form} ; reçu {value!r}")
