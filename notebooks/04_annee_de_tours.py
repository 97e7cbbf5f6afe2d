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
# # 4. A year of rounds: policy simulation and robustness
#
# **Simulation** (`service.analysis.simulate`): twelve monthly rounds (March 2021 – February 2022) under
# three policies side by side — first come first served, département envelopes on need only,
# and the engine. The 2021 first-wave hosts arrive as they did; **from June 2021 the
# applications are synthetic** (seat communes drawn in proportion to fragile population, fixed
# seed). Each round calls the same pipeline as the service.
#
# **Robustness** (`service.analysis.robustness`): Monte-Carlo perturbation of the fragility index (±5 %
# per commune, national need re-calibrated) and of the three weights (±10 % each); per structure,
# the share of draws that reproduce its grant. Decisions reproduced in fewer than 90 % of the
# draws are flagged for human review. Draws run on Dask (a local cluster of 2 worker processes
# here; `allocator scenario robustesse --scheduler tcp://host:8786` uses an existing cluster);
# draw *k* depends only on the master seed and *k*, so any scheduler gives the same grants.

# %%
import os
from pathlib import Path

import numpy as np
import pandas as pd

from allocator import programme
from service.analysis import robustness as rb
from service.analysis import rounds, simulate
from service.application.history import demo_request
from service.contract.schemas import parse_round_request

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").exists())
OUT = Path(os.environ.get("ALLOCATOR_NOTEBOOK_OUT", ROOT / "out" / "notebooks")) / "04"
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.float_format", "{:,.4f}".format)

# %% [markdown]
# ## A year of monthly rounds under three policies

# %%
sim = simulate.simulate("2021-03", "2022-02")
print(simulate.summary_text(sim))

# %%
final = simulate.final_table(sim)
final[["cumul", "enveloppeUtilisee", "partHorsRepartitionBesoin", "populationFragileAPortee", "coutEtatCumulEur"]]

# %%
sim.monthly.pivot(index="mois", columns="politique", values="partHorsRepartitionBesoin")

# %%
files = simulate.write_outputs(sim, OUT / "simulation")
[f.name for f in files]

# %% [markdown]
# ## Robustness of the demo round (190 structures)
#
# 200 draws on a local Dask cluster of 2 worker processes.

# %%
request = parse_round_request(demo_request())
prepared = rounds.prepare(request)
result = rb.robustness_prepared(prepared, 200, seed=2021, scheduler="local", workers=2)
print(result.execution)
pd.Series(result.report["resume"])

# %% [markdown]
# Decisions flagged for review, least stable first: `base` is the round's grant, `min`/`max`
# the range over the draws, `stabilite` the share of draws with the base grant.

# %%
rb.review_table(result)[["idPG", "nom", "departement", "base", "min", "max", "moyenne", "stabilite"]]

# %% [markdown]
# The same draws, serially: identical grants (seed per draw from `SeedSequence`).

# %%
serial, info = rb.run_draws(result.base, 20, seed=2021, scheduler="serial")
print(info, np.array_equal(serial, result.grants[:20]))

# %% [markdown]
# ## Robustness at national scale (1,443 structures)
#
# A short run here (60 draws); the 1,000-draw run is `allocator scenario robustesse --demo
# national --tirages 1000` (about 2 minutes on 2 cores, see `benchmarks/bench_robustness.py`).

# %%
national = rounds.load(rounds.national_request())
nat = rb.robustness_prepared(national, 60, seed=2021, scheduler="local", workers=2)
print(nat.execution)
pd.Series(nat.report["resume"])

# %%
flagged = rb.review_table(nat)
flagged.groupby("departement").size().sort_values(ascending=False).head(10).rename("a_revoir")

# %% [markdown]
# ## Sanity checks (fail loudly)

# %%
assert list(sim.months) == [f"2021-{m:02d}" for m in range(3, 13)] + ["2022-01", "2022-02"]
assert set(final.index) == set(simulate.POLICIES)
assert (final["cumul"] <= programme.NATIONAL_ENVELOPE).all(), "the national envelope is a hard limit"
assert (sim.monthly["attribues"] <= sim.monthly["quota"]).all()
assert (
    final.loc["moteur", "partHorsRepartitionBesoin"]
    < final.loc["premier_arrive", "partHorsRepartitionBesoin"]
), "the engine should split posts closer to need than first come, first served"
for r in (result, nat):
    rep = r.report
    assert rep["resume"]["tiragesInfaisables"] == 0
    assert (r.grants.sum(axis=1) == r.baseline.sum()).all(), "every draw grants the quota"
    assert all(0.0 <= s["stabilite"] <= 1.0 for s in rep["structures"])
    assert rep["aRevoir"] == [s["idPG"] for s in rep["structures"] if s["stabilite"] < 0.9]
    assert rep["resume"]["stabiliteMoyenne"] > 0.9, "a round this unstable needs a look"
assert np.array_equal(serial, result.grants[:20]), "Dask and serial draws differ"
assert result.baseline.tolist() == list(rounds.run(request).grants().values())
assert all(f.exists() for f in files)
print("all sanity checks passed")
