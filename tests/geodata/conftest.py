"""Toy territories for geodata tests (hand-computable), and a temporary geodata cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def toy_need_table() -> pd.DataFrame:
    """Five communes: A, B in région R1 (dép D1); C, D in R2 (dép D2); E a COM.

    Unemployment: R1 200/2000 = 10 %, R2 400/1000 = 40 % (D has no RP figure), national
    600/3000 = 20 %. ZRR: only A (pop 1000) → z_R1 = 1000/4000 = 0.25, z_R2 = 0,
    z_nat = 1000/10000 = 0.1. D has no score → D2's mean = C's 100.
    """
    return pd.DataFrame(
        {
            "code_insee": ["01001", "01002", "02001", "02002", "97501"],
            "departement": ["D1", "D1", "D2", "D2", "975"],
            "region": ["R1", "R1", "R2", "R2", "975"],
            "zone": ["metro", "metro", "metro", "metro", "com"],
            "population": [1000, 3000, 4000, 2000, 500],
            "score_global": [120.0, 80.0, 100.0, np.nan, np.nan],
            "chomeurs": [100.0, 100.0, 400.0, 0.0, 50.0],
            "actifs": [1000.0, 1000.0, 1000.0, 0.0, 100.0],
            "zrr": ["oui", "non", "non", "non", None],
        }
    ).set_index("code_insee", drop=False)


@pytest.fixture
def toy_line() -> dict[str, np.ndarray]:
    """Four communes on a line (metres): A at 0, B at 5 km, C at 14 km, D at 40 km."""
    return {
        "xy": np.array([[0.0, 0.0], [5_000.0, 0.0], [14_000.0, 0.0], [40_000.0, 0.0]]),
        "fragile": np.array([1000.0, 3000.0, 2000.0, 500.0]),
    }


@pytest.fixture(scope="session", autouse=True)
def _geodata_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The on-disk cache of geodata tests: one temporary directory, never the user's cache."""
    directory = tmp_path_factory.mktemp("geodata-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALLOCATOR_CACHE_DIR", str(directory))
        yield directory
