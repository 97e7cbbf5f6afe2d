"""The on-disk cache of derived national tables (geodata.cache): exactness, keys, robustness.

Every test points ``ALLOCATOR_CACHE_DIR`` at its own temporary directory (the session default
comes from conftest); in-process memos are cleared where a test needs a fresh process' view.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geodata import cache as disk_cache
from geodata import catchments, layers, national
from geodata import round as gr
from geodata.access import AccessParams
from geodata.areas import APPLICANT_TYPES
from geodata.need import NeedParams

REPO = Path(__file__).resolve().parents[2]
GEOMETRY = ("geopandas", "shapely", "pyproj", "pyogrio", "matplotlib")
HEAVY = (*GEOMETRY, "pandas", "pyarrow", "scipy")


def clear_memory() -> None:
    """Forget every per-process memo of derived data (what a fresh process would not have)."""
    for fn in (
        layers.shared_codes,
        layers.known_codes,
        layers.code_history_map,
        layers.shared_communes,
        layers.reference_names,
        national._commune_table,
        national._programme_table,
        gr.round_context,
        gr.catchment_trees,
        gr.round_state,
        gr.default_catchments,
        gr.catchment_query,
        gr.codes_of,
    ):
        fn.cache_clear()


@pytest.fixture
def cache_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | Path], None]]:
    """Point the cache somewhere (a directory or ``"off"``) as a fresh process would see it."""
    monkeypatch.setattr(disk_cache, "_warned", set())

    def point(where: str | Path) -> None:
        monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(where))
        clear_memory()

    yield point
    clear_memory()


# --------------------------------------------------------------------------- exact comparison


def assert_identical(a: Any, b: Any, path: str = "") -> None:
    """Same types and values everywhere (floats bit for bit, NaN = NaN), tables exactly."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, pd.DataFrame):
        assert disk_cache.same_frame(a, b), f"{path}: tables differ"
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), path
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys differ"
        for k in a:
            assert_identical(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        same = (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
        assert same, f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# --------------------------------------------------------------------------- real entries


def varied_sites() -> list[gr.ApplicantSite]:
    """Every type, métropole and the five DROM, old codes, explicit areas, repeated seats."""
    t = national.programme_table()
    rng = np.random.default_rng(7)
    codes = t.index.to_numpy()
    drom = codes[np.isin(t["departement"].to_numpy(), ["971", "972", "973", "974", "976"])]
    old = ["01039", "01003", "01144"]  # re-keyed to COG 2026 (with a warning)
    sites = []
    for kind in APPLICANT_TYPES:
        seats = [*rng.choice(codes, 12).tolist(), *rng.choice(drom, 5).tolist(), *old]
        sites += [gr.ApplicantSite(len(sites), kind, str(c), None, len(sites) % 6) for c in seats]
        served = (*rng.choice(codes, 4).tolist(), old[0])
        sites.append(gr.ApplicantSite(len(sites), kind, str(codes[0]), served, 3))
        sites.append(gr.ApplicantSite(len(sites), kind, str(drom[0]), (), 2))
    sites += [gr.ApplicantSite(900 + i, "GIP", "01053", None, 4) for i in range(3)]
    return sites


def national_outputs() -> dict[str, Any]:
    """Everything the cache may serve, computed the way callers get it."""
    out: dict[str, Any] = {
        "commune_table": national.commune_table(),
        "programme_table": national.programme_table(),
        "communes": layers.load_communes(),
        "known_codes": sorted(layers.known_codes()),
        "history": layers.code_history_map(),
        "names": layers.reference_names(),
    }
    sites = varied_sites()
    existing = {"01053": 3, "01039": 2, "97411": 5, "29019": 0, "75056": 12}
    runs = {
        "default": {},
        "existing": {"existing": existing},
        "france_services": {"params": AccessParams(include_france_services=True)},
        "steps": {"params": AccessParams(steps=((10.0, 1.0), (20.0, 0.5)), capacity=2000.0)},
    }
    for name, kwargs in runs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[name] = gr.round_geodata(sites, **kwargs)
        out[f"{name}.warnings"] = [(type(w.message), str(w.message)) for w in caught]
    out["indicators"] = gr.commune_indicators()
    out["areas"] = [gr.service_area(s.type, s.code_commune) for s in sites[:12]]
    return out


@pytest.fixture(scope="module")
def uncached() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALLOCATOR_CACHE_DIR", "off")
        clear_memory()
        out = national_outputs()
    clear_memory()
    return out


ENTRIES = ("catchments", "codes", "commune_table", "communes", "context", "names", "state")


@pytest.mark.slow
def test_cold_and_warm_cache_give_identical_results(
    uncached: dict[str, Any], cache_at: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_at(tmp_path)
    cold = national_outputs()
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.npz")) == sorted(ENTRIES)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind

    cache_at(tmp_path)

    def no_build(*args: object) -> None:
        raise AssertionError("a warm cache should not build anything")

    monkeypatch.setattr(disk_cache, "_as_arrays", no_build)
    monkeypatch.setattr(national, "_build_commune_table", no_build)
    monkeypatch.setattr(layers, "_build_communes", no_build)
    warm = national_outputs()
    assert_identical(uncached, cold)
    assert_identical(uncached, warm)


@pytest.mark.slow
def test_corrupt_entries_are_ignored_and_rebuilt(
    uncached: dict[str, Any],
    cache_at: Callable,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_at(tmp_path)
    national_outputs()
    files = {p.name.split("-")[0]: p for p in tmp_path.glob("*.npz")}
    files["context"].write_bytes(files["context"].read_bytes()[:1000])  # truncated
    files["state"].write_bytes(b"not a zip file")
    data = bytearray(files["catchments"].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the member's CRC-32 fails
    files["catchments"].write_bytes(bytes(data))
    shutil.copyfile(files["codes"], files["names"])  # another entry's file
    files["commune_table"].write_bytes(b"")

    cache_at(tmp_path)
    with caplog.at_level(logging.WARNING, logger="geodata.cache"):
        rebuilt = national_outputs()
    assert_identical(uncached, rebuilt)
    messages = " ".join(r.getMessage() for r in caplog.records)
    for name in ("context", "state", "catchments", "names", "commune_table"):
        assert str(files[name]) in messages
    # rewritten: a fresh process reads them without any warning
    caplog.clear()
    cache_at(tmp_path)
    with caplog.at_level(logging.WARNING, logger="geodata.cache"):
        assert_identical(uncached, national_outputs())
    assert not caplog.records


@pytest.mark.slow
def test_cache_off_writes_nothing(
    cache_at: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    cache_at("off")
    assert disk_cache.cache_dir() is None
    gr.round_geodata([gr.ApplicantSite(1, "GIP", "01053", None, 2)])
    layers.reference_names()
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_catchments_are_those_of_query_ball_point() -> None:
    ctx = gr.round_context()
    indptr, indices = gr.default_catchments()
    radius = AccessParams().catchment_radius_m
    assert catchments.DEFAULT_CATCHMENT_RADIUS_M == radius
    for zone, members in ctx.zone_members.items():
        found = gr.catchment_trees()[zone].query_ball_point(ctx.xy[members], radius)
        for local, position in zip(found, members.tolist(), strict=True):
            expected = np.sort(members[np.asarray(local, dtype=np.intp)])
            assert np.array_equal(indices[indptr[position] : indptr[position + 1]], expected)


# --------------------------------------------------------------------------- imports


def run_python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_geodata_loads_no_geometry(tmp_path: Path) -> None:
    loaded = run_python(
        f"""
        import sys
        import geodata, geodata.round
        from geodata import ApplicantSite, round_geodata, AccessParams, RekeyedCodeWarning
        print(",".join(m for m in {HEAVY!r} if m in sys.modules))
        """,
        {"ALLOCATOR_CACHE_DIR": str(tmp_path)},
    )
    assert loaded == ""


def test_public_names_resolve_lazily() -> None:
    import geodata

    for name in geodata.__all__:
        assert getattr(geodata, name) is not None
        assert name in dir(geodata)
    assert geodata.round is gr and geodata.layers is layers
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = geodata.nope


@pytest.mark.slow
def test_warm_round_geodata_needs_numpy_only(tmp_path: Path) -> None:
    code = f"""
        import sys, warnings
        from geodata.round import ApplicantSite, round_geodata
        kinds = ("COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE")
        sites = [ApplicantSite(i, k, c, None, 3) for i, k in enumerate(kinds)
                 for c in ("01053", "97411", "2A004", "75056")]
        sites.append(ApplicantSite(99, "COMMUNE", "01053", ("01001", "01039"), 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = round_geodata(sites)
        from geodata import layers
        layers.reference_names()
        print(len(res.applicants), ",".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    env = {"ALLOCATOR_CACHE_DIR": str(tmp_path)}
    cold = run_python(code, env)
    assert cold.startswith("29 ") and "scipy" in cold  # computed: pandas, scipy, pyproj
    assert run_python(code, env) == "29"


# --------------------------------------------------------------------------- keys


def copy_inputs(to: Path) -> Path:
    to.mkdir()
    for name in disk_cache.INPUT_FILES:
        shutil.copyfile(layers.DATA_DIR / name, to / name)
    return to


def test_key_changes_with_inputs_params_sources_and_file_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy_inputs(tmp_path / "data")
    key = disk_cache.entry_key("state", (NeedParams(), AccessParams()), data)
    assert key == disk_cache.entry_key("state", (NeedParams(), AccessParams()), data)
    # same bytes elsewhere: same key (content, not paths or dates, is hashed)
    assert key == disk_cache.entry_key("state", (NeedParams(), AccessParams()), layers.DATA_DIR)
    assert key != disk_cache.entry_key("context", (NeedParams(), AccessParams()), data)
    assert key != disk_cache.entry_key(
        "state", (NeedParams(), AccessParams(include_france_services=True)), data
    )
    assert key != disk_cache.entry_key("state", (NeedParams(zrr_weight=0.6), AccessParams()), data)

    zrr = data / "zrr_communes_2026.csv"
    original = zrr.read_bytes()
    zrr.write_bytes(original.replace(b",oui", b",non", 1))
    changed = disk_cache.entry_key("state", (NeedParams(), AccessParams()), data)
    assert changed != key
    zrr.write_bytes(original)
    assert disk_cache.entry_key("state", (NeedParams(), AccessParams()), data) == key

    monkeypatch.setattr(disk_cache, "INPUT_FILES", disk_cache.INPUT_FILES[:-1])
    assert disk_cache.entry_key("state", (NeedParams(), AccessParams()), data) != key
    monkeypatch.undo()

    sources = tmp_path / "src"
    shutil.copytree(disk_cache.SOURCE_DIR, sources, ignore=shutil.ignore_patterns("data"))
    monkeypatch.setattr(disk_cache, "SOURCE_DIR", sources)
    assert disk_cache.entry_key("state", (NeedParams(), AccessParams()), data) == key
    with (sources / "need.py").open("a") as f:
        f.write("\n# a change in the code that computes the need\n")
    assert disk_cache.entry_key("state", (NeedParams(), AccessParams()), data) != key


#: Modules that compute a cached entry (the round split into these: each must be hashed).
COMPUTING_MODULES = (
    "access",
    "area_rules",
    "area_sums",
    "areas",
    "catchments",
    "checks",
    "codes",
    "context",
    "coverage",
    "layers",
    "national",
    "need",
    "round",
    "round_types",
    "state",
    "sums",
)


def modules_feeding_the_cache() -> list[str]:
    """The geodata modules a fresh process loads to build or read every cache entry."""
    loaded = run_python(
        """
        import sys
        from geodata import layers, national, round
        round.prepare_cache()
        national.commune_table()
        layers.load_communes()
        print(" ".join(sorted(m for m in sys.modules if m.startswith("geodata."))))
        """,
        {},
    )
    return [m.removeprefix("geodata.") for m in loaded.split()]


def test_every_module_feeding_the_cache_is_hashed() -> None:
    feeding = modules_feeding_the_cache()
    assert set(COMPUTING_MODULES) <= set(feeding)
    hashed = {p.stem for p in disk_cache._source_files()}
    assert set(feeding) <= hashed, set(feeding) - hashed
    for name in feeding:
        assert (disk_cache.SOURCE_DIR / f"{name}.py").is_file()


@pytest.mark.parametrize("module", COMPUTING_MODULES)
def test_key_changes_with_each_computing_module(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "src"
    shutil.copytree(disk_cache.SOURCE_DIR, sources, ignore=shutil.ignore_patterns("data"))
    monkeypatch.setattr(disk_cache, "SOURCE_DIR", sources)
    params = (NeedParams(), AccessParams())
    key = disk_cache.entry_key("context", params, layers.DATA_DIR)
    path = sources / f"{module}.py"
    original = path.read_bytes()
    path.write_bytes(original + b"\n# one more line in the code that computes the entries\n")
    assert disk_cache.entry_key("context", params, layers.DATA_DIR) != key
    # Same length, other bytes: the content is hashed (the process memo, keyed by size and
    # dates, is dropped: a rewrite within one tick of the file system's clock keeps the dates).
    assert original.startswith(b'"""')
    path.write_bytes(b"'''" + original[3:])
    monkeypatch.setattr(disk_cache, "_fingerprints", {})
    assert disk_cache.entry_key("context", params, layers.DATA_DIR) != key
    path.write_bytes(original)
    assert disk_cache.entry_key("context", params, layers.DATA_DIR) == key


def test_changed_input_is_never_served_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path / "cache"))
    data = copy_inputs(tmp_path / "data")
    calls = []

    def get() -> int:
        def build() -> dict[str, np.ndarray]:
            calls.append(1)
            return {"size": np.array((data / "zrr_communes_2026.csv").stat().st_size)}

        return disk_cache.cached_arrays("toy", None, data, build, lambda a: int(a["size"]))

    first = get()
    assert get() == first and len(calls) == 1
    with (data / "zrr_communes_2026.csv").open("a") as f:
        f.write("99999,non\n")
    assert get() == first + len("99999,non\n") and len(calls) == 2


# --------------------------------------------------------------------------- mechanism


def toy_entry(data: Path, calls: list[int], value: int = 7) -> Callable[[], int]:
    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"v": np.arange(value), "label": np.array("étiquette")}

    def decode(a: dict[str, np.ndarray]) -> int:
        assert str(a["label"]) == "étiquette"
        return int(a["v"].sum())

    return lambda: disk_cache.cached_arrays("toy", ("p", 1), data, build, decode)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b"",
        lambda b: b"PK\x03\x04" + b"\x00" * 100,
        lambda b: b[:-30] + bytes(x ^ 0x5A for x in b[-30:]),
        lambda b: b.replace("étiquette".encode("utf-32-le"), "etiquette".encode("utf-32-le")),
    ],
    ids=["truncated", "empty", "garbage", "damaged directory", "other content"],
)
def test_damaged_file_is_rebuilt_with_one_warning(
    damage: Callable[[bytes], bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(disk_cache, "_warned", set())
    data = copy_inputs(tmp_path / "data")
    calls: list[int] = []
    get = toy_entry(data, calls)
    assert get() == 21 and get() == 21 and len(calls) == 1
    (path,) = tmp_path.glob("toy-*.npz")
    good = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="geodata.cache"):
        for _ in range(2):
            path.write_bytes(damage(good))
            assert get() == 21
    assert len(calls) == 3
    assert len(caplog.records) == 1 and str(path) in caplog.records[0].getMessage()
    assert get() == 21 and len(calls) == 3  # rewritten: read again without building


def test_unwritable_location_and_missing_home_fall_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(disk_cache, "_warned", set())
    data = copy_inputs(tmp_path / "data")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(blocker / "cache"))
    calls: list[int] = []
    get = toy_entry(data, calls)
    with caplog.at_level(logging.WARNING, logger="geodata.cache"):
        assert get() == 21 and get() == 21
    assert len(calls) == 2 and len(caplog.records) == 1
    assert "cannot write" in caplog.records[0].getMessage()

    monkeypatch.delenv("ALLOCATOR_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert disk_cache.cache_dir() is None
    assert get() == 21 and len(calls) == 3


def test_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = "conseillers-numeriques-allocator"
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path / "explicit"))
    assert disk_cache.cache_dir() == tmp_path / "explicit"
    for off in ("off", "OFF", " off "):
        monkeypatch.setenv("ALLOCATOR_CACHE_DIR", off)
        assert disk_cache.cache_dir() is None
    monkeypatch.delenv("ALLOCATOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert disk_cache.cache_dir() == tmp_path / "xdg" / app
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert disk_cache.cache_dir() == tmp_path / "home" / ".cache" / app


def test_concurrent_builders_all_succeed(tmp_path: Path) -> None:
    data = copy_inputs(tmp_path / "data")
    code = f"""
        import time
        import numpy as np
        from pathlib import Path
        from geodata import cache

        def build():
            time.sleep(0.3)  # the builders overlap
            return {{"v": np.arange(100_000)}}

        value = cache.cached_arrays("toy", None, Path({str(data)!r}), build, lambda a: a["v"])
        print(int(value.sum()))
        """
    env = {**os.environ, "ALLOCATOR_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert {out.strip() for out, _ in outs} == {str(sum(range(100_000)))}
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    with np.load(files[0], allow_pickle=False) as z:
        assert np.array_equal(z["v"], np.arange(100_000))


def test_object_arrays_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path))
    data = copy_inputs(tmp_path / "data")
    with pytest.raises(TypeError, match="object arrays"):
        disk_cache.cached_arrays(
            "bad", None, data, lambda: {"o": np.array([None, "a"], dtype=object)}, dict
        )


def test_texts_round_trip() -> None:
    values = ["Saint-Étienne", "", None, float("nan"), "L'Haÿ-les-Roses"]
    back = disk_cache.decode_texts(disk_cache.encode_texts("x", values), "x")
    assert back[:3] == values[:3] and math.isnan(back[3]) and back[4] == values[4]
    assert disk_cache.decode_texts(disk_cache.encode_texts("x", []), "x") == []
    assert "x.kinds" not in disk_cache.encode_texts("x", ["a", "b"])


def test_tables_round_trip_exactly_or_are_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path))
    data = copy_inputs(tmp_path / "data")
    df = pd.DataFrame(
        {
            "s": pd.array(["a", None, "c"], dtype="str"),
            "o": np.array(["x", "y", "z"], dtype=object),
            "mixed": np.array([True, None, False], dtype=object),
            "i": pd.array([1, None, 3], dtype="Int64"),
            "f": [0.1, float("nan"), -0.0],
            "b": [True, False, True],
        },
        index=pd.Index(["k1", "k2", "k3"]),
    )
    calls: list[int] = []

    def build() -> pd.DataFrame:
        calls.append(1)
        return df.copy()

    first = disk_cache.cached_frame("frame", None, data, build)
    second = disk_cache.cached_frame("frame", None, data, build)
    assert len(calls) == 1
    assert disk_cache.same_frame(df, first) and disk_cache.same_frame(df, second)
    assert math.copysign(1, second["f"].iloc[2]) == -1

    # None and NaN in an object column are told apart by same_frame
    other = df.assign(mixed=np.array([True, float("nan"), False], dtype=object))
    assert df.equals(other) and not disk_cache.same_frame(df, other)

    # a column Arrow cannot store (mixed types): computed every time, never stored wrong
    odd = df.assign(o=np.array(["x", 2, 3.5], dtype=object))
    got = disk_cache.cached_frame("odd", None, data, lambda: odd)
    assert disk_cache.same_frame(odd, got) and not list(tmp_path.glob("odd-*"))


def test_old_versions_and_stale_temporary_files_are_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(cache))
    data = copy_inputs(tmp_path / "data")
    old = []
    for age in range(1, 6):  # five older versions of the entry, one day apart
        p = cache / f"toy-{age:040x}.npz"
        p.write_bytes(b"old")
        os.utime(p, (0, 1e9 - age * 86_400))
        old.append(p)
    other = cache / f"other-{0:040x}.npz"
    other.write_bytes(b"another entry")
    os.utime(other, (0, 1e8))
    stale = cache / ".toy-abc.x.tmp"
    stale.write_bytes(b"killed while writing")
    os.utime(stale, (0, 1e8))
    fresh = cache / ".toy-def.y.tmp"
    fresh.write_bytes(b"being written")

    calls: list[int] = []
    assert toy_entry(data, calls)() == 21
    left = sorted(p.name for p in cache.iterdir())
    new = [n for n in left if n.startswith("toy-") and n not in {p.name for p in old}]
    assert len(new) == 1
    assert sorted(n for n in left if n.startswith("toy-")) == sorted(
        [*new, *(p.name for p in old[: disk_cache.KEEP_VERSIONS - 1])]
    )
    assert other.exists() and fresh.exists() and not stale.exists()
