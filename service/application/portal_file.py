"""The portal's export file: its columns, how a file is read and how it is written.

A flat file of applications (CSV or an Excel workbook) read line by line into structure
documents (:func:`read_export`, :func:`line_document`) and written back from portal documents
(:func:`write_export_csv`, the sample export). Validating the documents and applying them to the
store is :mod:`service.application.intake`.

The file
--------
- ``.csv``: separator ``;``, UTF-8 with or without BOM (a file in another encoding is refused,
  naming the line of the first undecodable byte, unless ``encoding="cp1252"`` is asked for
  explicitly: Windows spreadsheets save "CSV (point-virgule)" in cp1252); the first line is the
  header. ``.xlsx``: the first sheet, header on row 1, typed cells taken as they are.
- Column names are the contract's field names, exact (case included: a column that differs from
  a known one by case only is refused with the right name); columns the service does not know are
  ignored, and their values never read past the file (the portal's export carries personal
  contact data). ``prefet`` and ``coselec`` cannot be columns: they are flattened (below).
- A line is identified by its number in the file (the header is line 1; in a workbook, the row
  number). Empty lines are skipped. A line with more or fewer cells than the header is refused.

Column mapping (:data:`COLUMNS`)
--------------------------------
======================================  ==========  ============================================
columns                                 kind        document
======================================  ==========  ============================================
``idPG``, ``nombreConseillersSouhaites`` integer    same field (``idPG``, ``type``, ``codeCommune``
``type``, ``nom``, ``siret``,           text        and ``nombreConseillersSouhaites`` are the
``codeCommune``, ``qpvStatut``,                     required columns)
``estLabelliseFranceServices``,
``statut``, ``motivation``,
``codePostal``, ``codeDepartement``,
``codeRegion``
``qualiteProjet``, ``cofinancementEur``, decimal    same field
``cofinancementPart``
``estZRR``                              boolean     same field
``createdAt``                           date-time   same field
``communesDesservies``, ``synthetique`` list        same field
``avisPrefet``,                         text /      ``prefet``: one opinion
``nombreConseillersPrefet``,            integer /   ``[{avisPrefet, nombreConseillersPrefet,
``commentairePrefet``                   text        commentairePrefet}]`` when any is filled
``verrou``, ``avisCoselec``,            (refused)   ``verrou`` and ``coselec`` (one entry), and
``nombreConseillersCoselec``,                       the view's fields: read so that a line
``nombreConseillersAttribues``,                     carrying one is refused by name, exactly as
``derniereExplication``, ``creeLe``,                ``PUT`` refuses them
``modifieLe``
======================================  ==========  ============================================

Values (CSV cells; workbook cells may also be typed numbers, booleans and dates):

- an empty cell is an absent field (never a deletion of a stored value);
- integer: digits only (``3``; ``3,0`` is refused);
- decimal: French notation, decimal comma, optional thousands separated by a space
  (``72,5``, ``12 500,50``); a point is refused (``1.500`` could mean 1,500 or 1.5);
- boolean: ``oui``, ``non``, ``true``, ``false``, ``1``, ``0`` (any case); anything else is
  refused. ``estLabelliseFranceServices`` and ``qpvStatut`` keep the contract's own values
  (``OUI``/``NON``; ``Oui``/``Non``/``Sans objet``);
- date-time: ISO 8601 (``2021-05-02T10:00:00Z``; without offset: UTC);
- list: items separated by a comma (:data:`LIST_SEPARATOR`), spaces around items ignored
  (``01283, 01004``); an empty item is refused;
- ``synthetique`` is this project's own column, not the portal's: it labels the values of demo
  data as synthetic (``qualiteProjet,prefet,createdAt``), as explanations and packs then say.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from service.application.figures import decimal_exact as format_decimal
from service.contract.schemas import FieldError
from service.contract.vocabulary import SERVER_FIELDS

CSV_DELIMITER = ";"
LIST_SEPARATOR = ","
ENCODINGS = ("utf-8", "cp1252")
EXTENSIONS = (".csv", ".xlsx")

Kind = Literal["texte", "entier", "decimal", "booleen", "date", "liste", "brut"]


@dataclass(frozen=True)
class Column:
    """One column of the export: its header (the contract's field name) and how it is read.

    ``entry``: ``"prefet"`` or ``"coselec"`` when the column fills the one-element list of that
    field, else ``None`` (the column is the document's field of the same name).
    """

    name: str
    kind: Kind
    entry: Literal["prefet", "coselec"] | None = None
    required: bool = False


#: The columns the service reads, in the order of the sample export (the portal's fields first).
COLUMNS: tuple[Column, ...] = (
    Column("idPG", "entier", required=True),
    Column("type", "texte", required=True),
    Column("nom", "texte"),
    Column("siret", "texte"),
    Column("codeCommune", "texte", required=True),
    Column("nombreConseillersSouhaites", "entier", required=True),
    Column("qualiteProjet", "decimal"),
    Column("estZRR", "booleen"),
    Column("qpvStatut", "texte"),
    Column("estLabelliseFranceServices", "texte"),
    Column("communesDesservies", "liste"),
    Column("createdAt", "date"),
    Column("cofinancementEur", "decimal"),
    Column("cofinancementPart", "decimal"),
    Column("avisPrefet", "texte", entry="prefet"),
    Column("nombreConseillersPrefet", "entier", entry="prefet"),
    Column("commentairePrefet", "texte", entry="prefet"),
    Column("statut", "texte"),
    Column("motivation", "texte"),
    Column("codePostal", "texte"),
    Column("codeDepartement", "texte"),
    Column("codeRegion", "texte"),
    Column("synthetique", "liste"),
    # Decided by the committee or the service: read only to be refused by name.
    Column("verrou", "entier"),
    Column("avisCoselec", "texte", entry="coselec"),
    Column("nombreConseillersCoselec", "entier", entry="coselec"),
    Column("nombreConseillersAttribues", "brut"),
    Column("derniereExplication", "brut"),
    Column("creeLe", "brut"),
    Column("modifieLe", "brut"),
)
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)
#: Columns a portal document may carry (the ones :func:`export_row` writes): all but the
#: :data:`~service.contract.vocabulary.SERVER_FIELDS` and the coselec entry.
PORTAL_COLUMNS = tuple(
    c.name for c in COLUMNS if c.name not in SERVER_FIELDS and c.entry not in SERVER_FIELDS
)
#: Nested fields of the document, given as flat columns.
FLATTENED = {
    "prefet": tuple(c.name for c in COLUMNS if c.entry == "prefet"),
    "coselec": tuple(c.name for c in COLUMNS if c.entry == "coselec"),
}


class ExportFileError(ValueError):
    """The file cannot be read as an export at all (one French sentence, no line at fault)."""


@dataclass(frozen=True)
class Line:
    """One data line: its number in the file and the non-empty cells of known columns."""

    numero: int
    cells: Mapping[str, Any]
    #: a structural fault of the line (cell count), refused before any field is read
    defaut: str | None = None


@dataclass(frozen=True)
class ExportTable:
    """What :func:`read_export` found: the data lines and the header's ignored columns."""

    lines: tuple[Line, ...]
    ignored_columns: tuple[str, ...]


# -- reading the file -----------------------------------------------------------------------


def read_export(path: str | Path, *, encoding: str = "utf-8") -> ExportTable:
    """Read a ``.csv`` or ``.xlsx`` export; :class:`ExportFileError` when it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise ExportFileError(f"fichier introuvable : {p}")
    if not p.is_file():
        raise ExportFileError(f"{p} n'est pas un fichier")
    suffix = p.suffix.lower()
    if suffix not in EXTENSIONS:
        shown = f"« {p.suffix} »" if p.suffix else "absente"
        raise ExportFileError(
            f"extension {shown} non prise en charge pour {p.name} : fichier .csv (séparateur "
            "« ; ») ou classeur .xlsx attendu"
        )
    if encoding not in ENCODINGS:
        raise ExportFileError(
            f"encodage « {encoding} » non pris en charge : {' ou '.join(ENCODINGS)}"
        )
    data = p.read_bytes()
    if not data.strip() or data.strip() == b"\xef\xbb\xbf":
        raise ExportFileError(f"fichier vide : {p.name}")
    if suffix == ".xlsx":
        rows = _xlsx_rows(data, p.name)
    else:
        if data.startswith(b"PK\x03\x04"):
            raise ExportFileError(
                f"{p.name} est un classeur Excel malgré son extension .csv : renommez-le en .xlsx"
            )
        rows = _csv_rows(data, p.name, encoding)
    return _table(rows, p.name)


def _csv_rows(data: bytes, name: str, encoding: str) -> list[tuple[int, list[Any]]]:
    """``(line number, cells)`` of a CSV file (the header first)."""
    if encoding == "utf-8":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ExportFileError(
                f"{name} n'est pas encodé en UTF-8 (octet 0x{data[exc.start]:02X} ligne {line}) : "
                "réenregistrez-le en « CSV UTF-8 » ou relancez avec --encodage cp1252"
            ) from None
    else:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ExportFileError(
                f"{name} n'est pas encodé en {encoding} (octet 0x{data[exc.start]:02X} ligne "
                f"{line})"
            ) from None
    if "\x00" in text:
        raise ExportFileError(f"{name} contient des octets nuls : ce n'est pas un fichier CSV")
    header_line = text.lstrip("\ufeff").split("\n", 1)[0]
    if CSV_DELIMITER not in header_line:
        hint = ""
        if "," in header_line:
            hint = " (il semble séparé par des virgules)"
        elif "\t" in header_line:
            hint = " (il semble séparé par des tabulations)"
        raise ExportFileError(
            f"séparateur « ; » attendu : l'en-tête de {name} n'en contient pas{hint}"
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=CSV_DELIMITER, strict=True)
    rows: list[tuple[int, list[Any]]] = []
    start = 1
    try:
        for record in reader:
            rows.append((start, record))
            start = reader.line_num + 1
    except csv.Error:
        raise ExportFileError(
            f"{name} : ligne {start} illisible (guillemets non refermés ?)"
        ) from None
    return rows


def _xlsx_rows(data: bytes, name: str) -> list[tuple[int, list[Any]]]:
    """``(row number, cells)`` of the first sheet of a workbook (the header first)."""
    # openpyxl is imported for workbooks only: CSV files, the common case, do without it.
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # Workbooks written by other tools often lack a default style: harmless.
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise ExportFileError(f"{name} n'est pas un classeur .xlsx lisible") from None
    try:
        ws = wb.worksheets[0]
        return [
            (n, list(values)) for n, values in enumerate(ws.iter_rows(values_only=True), start=1)
        ]
    finally:
        wb.close()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _table(rows: Sequence[tuple[int, list[Any]]], name: str) -> ExportTable:
    """Check the header and keep the cells of known columns (unknown ones are dropped here)."""
    rows = [(n, cells) for n, cells in rows if not all(_blank(c) for c in cells)]
    if not rows:
        raise ExportFileError(f"fichier vide : {name}")
    header_no, header_cells = rows[0]
    if header_no != 1:
        raise ExportFileError(f"{name} : l'en-tête (noms des colonnes) doit être la ligne 1")
    header = [("" if c is None else str(c)).strip().lstrip("\ufeff") for c in header_cells]
    folded = {c.name.casefold(): c.name for c in COLUMNS}
    seen: set[str] = set()
    ignored: list[str] = []
    for h in header:
        if h in FLATTENED:
            raise ExportFileError(
                f"colonne « {h} » : l'export à plat donne ce champ dans les colonnes "
                f"{', '.join(FLATTENED[h])}"
            )
        if h in BY_NAME:
            if h in seen:
                raise ExportFileError(f"colonne « {h} » en double dans l'en-tête de {name}")
            seen.add(h)
        elif h.casefold() in folded:
            raise ExportFileError(
                f"colonne « {h} » : le nom exact du champ est « {folded[h.casefold()]} »"
            )
        elif h:
            ignored.append(h)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise ExportFileError(
            f"colonne{'s' if len(missing) > 1 else ''} obligatoire{'s' if len(missing) > 1 else ''}"
            f" absente{'s' if len(missing) > 1 else ''} de {name} : {', '.join(missing)}"
        )
    lines = []
    for numero, cells in rows[1:]:
        # Fewer cells than the header: values (or a separator) were lost, refused. Extra
        # cells are accepted only when empty (trailing separators of some spreadsheets).
        if len(cells) < len(header) or not all(_blank(c) for c in cells[len(header) :]):
            lines.append(
                Line(numero, {}, f"{len(cells)} valeurs pour {len(header)} colonnes dans l'en-tête")
            )
            continue
        values = {
            h: (c.strip() if isinstance(c, str) else c)
            for h, c in zip(header, cells, strict=False)
            if h in BY_NAME and not _blank(c)
        }
        lines.append(Line(numero, values))
    if not lines:
        raise ExportFileError(f"aucune candidature dans {name} (en-tête seul)")
    return ExportTable(tuple(lines), tuple(ignored))


# -- cells → document ----------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot be read as its column's kind (French message)."""


_INT_RE = re.compile(r"-?[0-9]+")
_DECIMAL_RE = re.compile(r"-?(?:[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+|[0-9]+)(?:,[0-9]+)?")
_TRUE = frozenset({"oui", "true", "1"})
_FALSE = frozenset({"non", "false", "0"})


def parse_integer(value: Any) -> int:
    """An integer cell: digits (``-`` allowed, bounds are the schema's), or a whole number."""
    if isinstance(value, bool):
        raise CellError("nombre entier attendu ; reçu un booléen")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CellError(f"nombre entier attendu ; reçu {value}")
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    raise CellError(f"nombre entier attendu ; reçu « {value} »")


def parse_decimal(value: Any) -> float:
    """A decimal cell in French notation (``72,5``; ``12 500,50``), or a number."""
    if isinstance(value, bool):
        raise CellError("nombre attendu ; reçu un booléen")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        digits = re.sub(r"[ \u00a0\u202f]", "", value).replace(",", ".")
        return float(digits)
    hint = " (virgule décimale attendue, p. ex. 72,5)" if isinstance(value, str) else ""
    raise CellError(f"nombre décimal attendu{hint} ; reçu « {value} »")


def parse_boolean(value: Any) -> bool:
    """A boolean cell: ``oui``/``non``/``true``/``false``/``1``/``0`` (any case), or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.casefold() in _TRUE:
            return True
        if value.casefold() in _FALSE:
            return False
    raise CellError(f"booléen attendu : oui, non, true, false, 1 ou 0 ; reçu « {value} »")


def parse_datetime(value: Any) -> str:
    """A date-time cell: ISO 8601 text, or a workbook date, as the ISO 8601 text the contract
    takes (a workbook date has no offset: UTC, as the contract reads such a time)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise CellError(f"date-heure ISO 8601 attendue, p. ex. 2021-05-02T10:00:00Z ; reçu « {value} »")


def _text(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, datetime):
        raise CellError("texte attendu")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_list(value: Any) -> list[str]:
    """A list cell: items separated by :data:`LIST_SEPARATOR`; an empty item is refused."""
    items = [item.strip() for item in _text(value).split(LIST_SEPARATOR)]
    for k, item in enumerate(items, start=1):
        if not item:
            raise CellError(f"élément {k} vide (éléments séparés par « {LIST_SEPARATOR} »)")
    return items


_READERS: dict[str, Any] = {
    "texte": _text,
    "entier": parse_integer,
    "decimal": parse_decimal,
    "booleen": parse_boolean,
    "date": parse_datetime,
    "liste": parse_list,
    "brut": lambda value: value if isinstance(value, str) else str(value),
}


def line_document(line: Line) -> tuple[dict[str, Any], list[FieldError]]:
    """The structure document of a line (before the schema), and the cells that could not be
    read (each naming its column); those cells are left out of the document."""
    if line.defaut is not None:
        return {}, [FieldError("(ligne)", line.defaut)]
    doc: dict[str, Any] = {}
    entries: dict[str, dict[str, Any]] = {}
    errors = []
    for name, raw in line.cells.items():
        column = BY_NAME[name]
        try:
            value = _READERS[column.kind](raw)
        except CellError as exc:
            errors.append(FieldError(name, str(exc)))
            continue
        if column.entry is None:
            doc[name] = value
        else:
            entries.setdefault(column.entry, {})[name] = value
    for entry, values in entries.items():
        doc[entry] = [values]
    return doc, errors


_ITEM_RE = re.compile(r"^(prefet|coselec)\[0\]\.(\w+)$|^(\w+)\[(\d+)\]$")


def column_of(champ: str) -> tuple[str, str]:
    """The column of a schema error's field path, and a prefix for its message.

    ``prefet[0].avisPrefet`` → ``avisPrefet``; ``communesDesservies[2]`` → ``communesDesservies``
    (item 3); ``coselec`` → its flat columns.
    """
    m = _ITEM_RE.match(champ)
    if m and m.group(2):
        return m.group(2), ""
    if m and m.group(3):
        return m.group(3), f"élément {int(m.group(4)) + 1} : "
    if champ in FLATTENED:
        return ", ".join(FLATTENED[champ]), ""
    return champ, ""


# -- document → cells (the sample export, round trips) ------------------------------------


def export_row(document: Mapping[str, Any]) -> dict[str, str]:
    """The export line of a portal document (:data:`PORTAL_COLUMNS`, empty when absent): the
    inverse of :func:`line_document` (the first préfet opinion only)."""
    out = dict.fromkeys(PORTAL_COLUMNS, "")
    prefet = (document.get("prefet") or [{}])[0]
    for name in PORTAL_COLUMNS:
        column = BY_NAME[name]
        value = (prefet if column.entry == "prefet" else document).get(name)
        if value is None:
            continue
        if column.kind == "booleen":
            out[name] = "oui" if value else "non"
        elif column.kind == "decimal":
            out[name] = str(value) if isinstance(value, int) else format_decimal(value)
        elif column.kind == "liste":
            out[name] = LIST_SEPARATOR.join(value)
        elif column.kind == "date" and isinstance(value, datetime):
            out[name] = value.isoformat().replace("+00:00", "Z")
        else:
            out[name] = str(value)
    return out


def write_export_csv(documents: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write portal documents as an export file (UTF-8 with BOM, ``;``, LF line ends): the
    required columns and those some document fills, in the order of :data:`COLUMNS`."""
    rows = [export_row(doc) for doc in documents]
    columns = [c for c in PORTAL_COLUMNS if c in REQUIRED_COLUMNS or any(row[c] for row in rows)]
    p = Path(path)
    with p.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(
            f,
            fieldnames=columns,
            delimiter=CSV_DELIMITER,
            lineterminator="\n",
            extrasaction="ignore",
        )
        writer.writeheader()
        writer.writerows(rows)
    return p
