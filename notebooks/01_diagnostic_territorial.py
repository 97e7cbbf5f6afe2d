# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Territorial diagnosis: need, existing coverage, accessibility
#
# Everything here comes from the public API of `geodata` on the bundled real data
# (see `DATA.md`). The fragility index is normalised *within* each région; the need formula
# (`geodata.need`) combines it with nationally comparable figures (unemployment, ZRR) and is
# calibrated to the call's 13 million people far from digital tools.
#
# Accessibility is an E2SFCA on straight-line distances between commune centroids × 1.3 at
# 50 km/h — a proxy without a road network. Existing advisors: the 2021 first wave
# (1,450 host structures, 2,138 posts).
#
# Outputs (tables, maps) are written under `out/notebooks/01/` at the repository root
# (gitignored), whatever the directory the notebook runs from.

# %%
import os
from pathlib import Path

import pandas as pd

import geodata
from geodata import diagnostic, maps

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").exists())
OUT = Path(os.environ.get("ALLOCATOR_NOTEBOOK_OUT", ROOT / "out" / "notebooks")) / "01"
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.float_format", "{:,.1f}".format)

# %% [markdown]
# ## National table by département
#
# `fragile_population` is the need; `advisors_per_10k_fragile` the administrative coverage
# (advisors hosted in the département per 10,000 fragile inhabitants); `accessibility_10k` the
# E2SFCA advisors within reach per 10,000 fragile inhabitants; `share_without_advisor` the share
# of the fragile population with no advisor within the catchment.

# %%
national = diagnostic.diagnostic_table()
national.to_csv(OUT / "diagnostic_national.csv")
national.sort_values("fragile_population", ascending=False).head(15)

# %%
print(f"fragile population: {national['fragile_population'].sum():,.0f}")
print(f"advisors hosted (2021 first wave, located): {national['advisors'].sum():,}")
lowest = national.nsmallest(5, "advisors_per_10k_fragile")
print("lowest coverage per 10,000 fragile inhabitants:", ", ".join(lowest["nom"]))
without = (national["share_without_advisor"] * national["fragile_population"]).sum()
print(f"fragile inhabitants with no advisor within reach: {without:,.0f}")

# %% [markdown]
# ## Coverage against need
#
# Départements far below the national rate are where the balance criterion of the call
# ("the balance between départements given their needs and their allocations so far") bites.

# %%
rate = national["advisors"].sum() / national["fragile_population"].sum() * 1e4
gap = national.assign(
    expected=national["fragile_population"] * rate / 1e4,
)
gap["gap_posts"] = gap["advisors"] - gap["expected"]
gap.sort_values("gap_posts")[["nom", "fragile_population", "advisors", "expected", "gap_posts"]].head(10)

# %% [markdown]
# ## Communes of one département (Creuse, 23) and fallbacks
#
# Communes whose need uses a fallback score are listed by reason (`geodata.need`): never a
# silent zero.

# %%
creuse = diagnostic.diagnostic_table(departement="23")
creuse.sort_values("fragile_population", ascending=False).head(10)

# %%
communes = geodata.round.commune_indicators()
flagged = communes[communes["need_fallback"].astype(str).str.len() > 0]
flagged["need_fallback"].value_counts()

# %% [markdown]
# ## Maps
#
# Four indicators nationally (métropole with DROM insets) and per commune for the Creuse.

# %%
paths = maps.diagnostic_maps(OUT) + maps.diagnostic_maps(OUT, departement="23")
[p.name for p in paths]

# %% [markdown]
# ## Sanity checks (fail loudly)

# %%
bundled = geodata.bundled_existing()
assert abs(national["fragile_population"].sum() - 13_000_000) < 1_000, "need not calibrated"
assert national["advisors"].sum() == bundled.located_total, "advisors lost on the way"
assert bundled.total == 2_138, bundled.total
assert (national["fragile_population"] > 0).all(), "a département has no need"
assert len(national) == 101
assert national["share_without_advisor"].between(0, 1).all()
assert all(p.exists() and p.stat().st_size > 10_000 for p in paths), "a map is missing"
assert len(paths) == 8
assert creuse["fragile_population"].sum() > 0
assert abs(creuse["fragile_population"].sum() - national.loc["23", "fragile_population"]) < 1
assert not flagged["need_fallback"].isna().any()
print("all sanity checks passed")
