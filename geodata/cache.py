"""Persistent on-disk cache of the derived national tables, so that a fresh process skips them.

Reading the bundled files, projecting the centroids, computing the need, the national E2SFCA of
the bundled 2021 advisors and the catchments costs about a second and a half in a fresh process;
the results only depend on the bundled data, the parameters and the code. They are stored once
per user and loaded in tens of milliseconds by the next processes.

Location
    ``$ALLOCATOR_CACHE_DIR`` when set (the value ``off`` disables the cache: everything is
    computed in memory), else ``${XDG_CACHE_HOME:-~/.cache}/conseillers-numeriques-allocator``.

Key
    Every entry file is named ``{name}-{key}.npz`` where ``key`` hashes everything its content
    depends on: the SHA-256 of each input file of :data:`INPUT_FILES` (the bytes, not their
    dates), the SHA-256 of the ``geodata`` source files, the versions of Python, of this package
    and of the libraries that compute the numbers (:data:`DEPENDENCIES`), the machine type, the
    cache format and the entry's parameters (``repr`` of :class:`~geodata.need.NeedParams`,
    :class:`~geodata.access.AccessParams` ...). A changed input gives a new file name: a stale
    entry is never read (old entries stay on disk until the directory is cleaned).

Format
    NumPy ``.npz`` archives loaded with ``allow_pickle=False``: a cache directory never
    executes code. Object arrays are refused at write time; strings are fixed-width unicode
    arrays; tables (pandas) are Arrow IPC streams stored as one ``uint8`` member. Each zip
    member carries a CRC-32, checked when it is read.

Robustness
    Files are written to a temporary file of the same directory and renamed
    (:func:`os.replace`): readers see a complete file or none, and two processes building the
    same entry at once both succeed (the last rename wins; contents are identical). A file that
    cannot be read or decoded (truncated, corrupt, wrong entry) is ignored, rebuilt and
    overwritten, with one ``logging`` warning per file and process. An unwritable location
    (read-only home, no home) is reported once and the values are computed in memory.

Entries are decoded by the same function whether they come from disk or from a fresh build, so
results are identical with and without the cache (the tests compare both). They are:

==================  =========================================================  ===========
entry               content                                                    warm path
==================  =========================================================  ===========
``context``         programme communes: positions, need, flags, groups         round
                    (départements, régions, EPCI, EPCI parts) and their sums
``state``           E2SFCA of the bundled 2021 advisors, default parameters    round
``catchments``      every commune's catchment at the default radius (CSR)      round
``codes``           COG 2026 codes and the old-code history                    re-keying
``names``           names of communes, départements, EPCI                      labels
``communes``        :func:`geodata.layers.load_communes` (Arrow)               tables
``commune_table``   :func:`geodata.national.commune_table` (Arrow)             tables
==================  =========================================================  ===========

The first five load with numpy alone; the tables need pandas and pyarrow.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Bump when the layout of any entry changes.
FORMAT_VERSION = 1

#: Files kept per entry name (other versions of the data or code); older ones are deleted.
KEEP_VERSIONS = 3

ENV_VAR = "ALLOCATOR_CACHE_DIR"
APP_DIR = "conseillers-numeriques-allocator"

#: Bundled files the cached entries are computed from (names inside the data directory).
INPUT_FILES: tuple[str, ...] = (
    "communes_2026.parquet",
    "communes_codes_historiques_2026.csv",
    "conseillers_numeriques_structures_2021.csv",
    "departements_2026.csv",
    "epci_2026.csv",
    "fragilite_numerique_communes_2026.csv",
    "france_services_2024-08-01.csv",
    "insee_comparateur_communes_2024.csv",
    "zrr_communes_2026.csv",
)

#: Distributions whose version enters the key (they compute or encode the cached numbers).
DEPENDENCIES: tuple[str, ...] = (
    "conseillers-numeriques-allocator",
    "numpy",
    "pandas",
    "pyarrow",
    "pyproj",
    "scipy",
)

SOURCE_DIR = Path(__file__).resolve().parent

T = TypeVar("T")

_warned: set[str] = set()
_fingerprints: dict[tuple[Any, ...], str] = {}


def _warn_once(topic: str, message: str, *args: object) -> None:
    if topic not in _warned:
        _warned.add(topic)
        import logging  # here: a warm process never needs it

        logging.getLogger(__name__).warning(message, *args)


# --------------------------------------------------------------------------- location and key


def cache_dir() -> Path | None:
    """The cache directory (not created), or ``None`` when the cache is off or has no home."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_DIR
    try:
        home = Path.home()
    except (RuntimeError, KeyError, OSError):
        _warn_once("nohome", "geodata cache: no home directory; computing in memory")
        return None
    return home / ".cache" / APP_DIR


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _versions() -> tuple[tuple[str, str], ...]:
    """Installed versions of :data:`DEPENDENCIES`, read from the ``.dist-info`` directory names.

    ``importlib.metadata`` would cost tens of milliseconds of imports; the directory names of
    the installed distributions (``{name}-{version}.dist-info``) hold the same versions.
    """
    wanted = {_normalise(n): n for n in DEPENDENCIES}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for fn in names:
            if fn.endswith(".dist-info"):
                stem = fn[: -len(".dist-info")]
            elif fn.endswith(".egg-info"):
                stem = fn[: -len(".egg-info")]
            else:
                continue
            name, _, version = stem.partition("-")
            key = _normalise(name)
            if version and key in wanted and key not in found:
                found[key] = version.split("-")[0]
    found["numpy"] = np.__version__
    return tuple((n, found.get(_normalise(n), "?")) for n in DEPENDENCIES)


def _source_files() -> list[Path]:
    return sorted(SOURCE_DIR.glob("*.py"))


def fingerprint(data_dir: Path) -> str:
    """Hash of the inputs, sources and environment shared by every entry (see module docs).

    Memoised in the process by the files' (size, mtime, ctime, inode): contents are hashed again
    as soon as a file changes.
    """
    files = [Path(data_dir) / n for n in INPUT_FILES]
    sources = _source_files()
    signature = tuple(
        (str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        for p in (*files, *sources)
        for st in (p.stat(),)
    )
    memo_key = (FORMAT_VERSION, tuple(INPUT_FILES), signature)
    if memo_key in _fingerprints:
        return _fingerprints[memo_key]
    h = hashlib.sha256()
    env = {
        "format": FORMAT_VERSION,
        "python": sys.version,
        "machine": os.uname().machine if hasattr(os, "uname") else sys.platform,
        "byteorder": sys.byteorder,
        "versions": _versions(),
    }
    h.update(repr(sorted(env.items())).encode())
    for group, paths in (("input", files), ("source", sources)):
        for p in paths:
            h.update(f"\0{group}:{p.name}\0".encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    _fingerprints[memo_key] = digest = h.hexdigest()
    return digest


def entry_key(name: str, params: object, data_dir: Path) -> str:
    """Key of entry ``name`` computed with ``params`` (anything with an exact ``repr``)."""
    h = hashlib.sha256()
    h.update(fingerprint(data_dir).encode())
    h.update(f"\0{name}\0{params!r}".encode())
    return h.hexdigest()[:40]


def entry_path(name: str, params: object, data_dir: Path) -> Path | None:
    """Where entry ``name`` is (or would be) stored; ``None`` when the cache is off."""
    directory = cache_dir()
    if directory is None:
        return None
    return directory / f"{name}-{entry_key(name, params, data_dir)}.npz"


# --------------------------------------------------------------------------- files


def _read(path: Path, tag: str) -> dict[str, np.ndarray] | None:
    try:
        # Opened here (not by np.load) so that the file is closed whatever np.load raises.
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with z:
                arrays = {k: z[k] for k in z.files}
    except (FileNotFoundError, NotADirectoryError):
        return None
    except Exception as exc:  # any unreadable file is rebuilt: never fail on the cache
        _warn_once(str(path), "geodata cache: ignoring unreadable %s (%s); rebuilding", path, exc)
        return None
    stored = arrays.pop("__entry__", None)
    if stored is None or stored.shape != () or str(stored) != tag:
        _warn_once(str(path), "geodata cache: ignoring %s (not entry %s); rebuilding", path, tag)
        return None
    return arrays


def _write(path: Path, tag: str, arrays: Mapping[str, np.ndarray]) -> None:
    import tempfile

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        members: dict[str, Any] = {"__entry__": np.array(tag), **arrays}
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
        os.replace(tmp, path)
        tmp = None
        _prune(path)
    except OSError as exc:
        _warn_once(
            f"write:{path.parent}",
            "geodata cache: cannot write in %s (%s); computing in memory "
            "(set %s to another directory, or to 'off')",
            path.parent,
            exc,
            ENV_VAR,
        )
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(path: Path) -> None:
    """Keep the :data:`KEEP_VERSIONS` newest files of ``path``'s entry; drop stale temp files.

    Best effort: a file deleted under a reader is just rebuilt by it.
    """
    import time

    name = path.name.rsplit("-", 1)[0]
    now = time.time()
    versions = []
    for p in path.parent.glob(f"{name}-*.npz"):
        try:
            versions.append((p.stat().st_mtime, p))
        except OSError:
            continue
    stale = [p for _, p in sorted(versions, reverse=True)[KEEP_VERSIONS:] if p != path]
    for p in path.parent.glob(f".{name}-*.tmp"):
        try:
            if now - p.stat().st_mtime > 3600:  # left by a process killed while writing
                stale.append(p)
        except OSError:
            continue
    for p in stale:
        try:
            p.unlink()
        except OSError:
            pass


def _as_arrays(built: Mapping[str, Any]) -> dict[str, np.ndarray]:
    arrays = {}
    for k, v in built.items():
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise TypeError(f"cache entry member {k!r}: object arrays cannot be stored")
        arrays[k] = a
    return arrays


def _stored(
    name: str, params: object, data_dir: Path, decode: Callable[[dict[str, np.ndarray]], T]
) -> tuple[Path | None, T | None]:
    """``(path, decode(arrays))`` of entry ``name`` on disk.

    The value is ``None`` when the file is absent, unreadable or fails to decode (it is then
    rebuilt); decoders return a value, never ``None``. The path is ``None`` when the cache is
    off or the entry cannot be named (an input or source file is missing: the build reports it).
    """
    try:
        path = entry_path(name, params, data_dir)
    except OSError:
        return None, None
    if path is None:  # the cache is off or has no folder
        return None, None
    arrays = _read(path, f"{name}:{path.stem}")
    if arrays is not None:
        try:
            return path, decode(arrays)
        except Exception as exc:
            _warn_once(str(path), "geodata cache: ignoring %s (%s); rebuilding", path, exc)
    return path, None


def cached_arrays(
    name: str,
    params: object,
    data_dir: Path,
    build: Callable[[], Mapping[str, Any]],
    decode: Callable[[dict[str, np.ndarray]], T],
) -> T:
    """``decode(arrays)`` of entry ``name``: from disk when present, else built and stored.

    Parameters
    ----------
    name, params
        Entry name and the parameters its content depends on (beyond the files and sources).
    data_dir
        Directory of the bundled input files (:data:`geodata.layers.DATA_DIR`).
    build
        Computes the arrays (``{member: array}``, no object arrays).
    decode
        Turns the arrays into the value; also applied to freshly built arrays, so the value is
        the same whether it came from disk or not. A cached file that fails to decode is
        rebuilt.
    """
    path, value = _stored(name, params, data_dir, decode)
    if value is not None:
        return value
    arrays = _as_arrays(build())
    value = decode(arrays)
    if path is not None:
        _write(path, f"{name}:{path.stem}", arrays)
    return value


# --------------------------------------------------------------------------- texts

_TEXT, _NONE, _NAN = 0, 1, 2


def encode_texts(prefix: str, values: list[object]) -> dict[str, np.ndarray]:
    """Strings (or None / NaN) as one UTF-8 buffer: compact, and fast to decode.

    Members ``{prefix}.utf8`` (the values joined by NUL) and, when some value is not a
    string, ``{prefix}.kinds`` (0 string, 1 None, 2 NaN).
    """
    kinds = [
        _TEXT if isinstance(v, str) else _NONE if v is None else _NAN if v != v else -1
        for v in values
    ]
    if -1 in kinds:
        raise TypeError(f"{prefix}: only strings, None and NaN can be stored")
    texts = [v if isinstance(v, str) else "" for v in values]
    if any("\0" in t for t in texts):
        raise ValueError(f"{prefix}: NUL in a string")
    out = {f"{prefix}.utf8": np.frombuffer("\0".join(texts).encode(), dtype=np.uint8)}
    out[f"{prefix}.n"] = np.array(len(values), np.int64)
    if any(kinds):
        out[f"{prefix}.kinds"] = np.array(kinds, dtype=np.int8)
    return out


def decode_texts(arrays: Mapping[str, np.ndarray], prefix: str) -> list[object]:
    """The values given to :func:`encode_texts`."""
    n = int(arrays[f"{prefix}.n"])
    texts = arrays[f"{prefix}.utf8"].tobytes().decode().split("\0") if n else []
    if len(texts) != n:
        raise ValueError(f"{prefix}: {len(texts)} strings, expected {n}")
    if f"{prefix}.kinds" not in arrays:
        return list(texts)
    kinds = arrays[f"{prefix}.kinds"].tolist()
    return [
        v if k == _TEXT else None if k == _NONE else float("nan")
        for v, k in zip(texts, kinds, strict=True)
    ]


# --------------------------------------------------------------------------- tables


def _frame_to_arrays(df: pd.DataFrame) -> dict[str, np.ndarray]:
    import json

    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=None)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    dtypes = {str(c): str(t) for c, t in df.dtypes.items()}
    meta = json.dumps({"dtypes": dtypes, "columns": [str(c) for c in df.columns]})
    return {"arrow": np.frombuffer(sink.getvalue(), dtype=np.uint8), "meta": np.array(meta)}


def _frame_from_arrays(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    import json

    import pyarrow as pa

    reader = pa.ipc.open_stream(pa.py_buffer(arrays["arrow"]))
    df = reader.read_all().to_pandas()
    meta = json.loads(str(arrays["meta"]))
    if [str(c) for c in df.columns] != meta["columns"]:
        raise ValueError("columns differ from the stored ones")
    for col, dtype in meta["dtypes"].items():
        if dtype == "object" and df[col].dtype != object:
            # Arrow has no "object of str" type: pandas reads those columns back as str.
            df[col] = df[col].astype(object)
        if str(df[col].dtype) != dtype:
            raise ValueError(f"column {col!r} read as {df[col].dtype}, stored {dtype}")
    return df


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Exact equality: values (NaN = NaN), dtypes, index, column order, types in object columns."""
    if type(a) is not type(b) or list(a.columns) != list(b.columns):
        return False
    if a.columns.dtype != b.columns.dtype or type(a.index) is not type(b.index):
        return False
    if a.index.dtype != b.index.dtype or a.index.names != b.index.names:
        return False
    if list(a.dtypes) != list(b.dtypes) or a.attrs != b.attrs or not a.equals(b):
        return False
    # DataFrame.equals holds None and NaN for equal in object columns: compare their types too.
    for col, dtype in a.dtypes.items():
        if not (isinstance(dtype, np.dtype) and dtype.kind == "O"):
            continue
        if [type(v) for v in a[col].tolist()] != [type(v) for v in b[col].tolist()]:
            return False
    return True


def cached_frame(
    name: str, params: object, data_dir: Path, build: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """A pandas table from entry ``name`` (Arrow IPC), else ``build()`` and store it.

    The entry is written only when the table reads back exactly equal (:func:`same_frame`):
    a table that Arrow cannot round-trip is simply recomputed by every process.
    """
    path, stored_df = _stored(name, params, data_dir, _frame_from_arrays)
    if stored_df is not None:
        return stored_df
    df = build()
    if path is None:
        return df
    try:
        stored = _frame_to_arrays(df)
        exact = same_frame(df, _frame_from_arrays(stored))
    except Exception:  # a type Arrow cannot store: computed by every process instead
        return df
    if exact:  # else: Arrow does not round-trip it exactly; computed by every process instead
        _write(path, f"{name}:{path.stem}", stored)
    return df
