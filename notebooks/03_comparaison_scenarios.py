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
# # 3. Scenario comparison: weights, fairness rules, their price, who moves and why
#
# Before a round the analysts compare policies on the *same* applicants: other weights,
# eligibility (admitting private hosts), the département cap at the fair share, the préfet rule,
# another quota. `service.analysis.scenarios.compare` prepares the round once (the geodata numbers of the
# applicants) and re-runs only the engine per variant; the CLI (`allocator scenario compare`)
# and the HTTP API (`POST /v1/scenarios`) call the same function.
#
# Data: the demo round (last 2021 committee, 190 real host structures; **synthetic scores and
# préfet opinions**, fixed seed), then the national case (every 2021 host in one round).

# %%
import os
from pathlib import Path

import pandas as pd

from service.analysis import maps, rounds, scenarios, tables
from service.application.history import demo_request
from service.contract.schemas import parse_round_request

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").exists())
OUT = Path(os.environ.get("ALLOCATOR_NOTEBOOK_OUT", ROOT / "out" / "notebooks")) / "03"
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.float_format", "{:,.4f}".format)
pd.set_option("display.max_colwidth", 60)

# %% [markdown]
# ## Variants
#
# The standard set (`scenarios.standard_variants`) plus a combined variant, to show how moves
# are attributed to the fields that changed.

# %%
request = parse_round_request(demo_request())
ALL_TYPES = ["COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE"]
variants = [
    *scenarios.standard_variants(request),
    scenarios.Variant("prives_sans_equilibre", {"typesEligibles": ALL_TYPES, "poidsEquilibre": 0.0}),
]
comparison = scenarios.compare(request, variants)
report = comparison.report
print(f"{report['structures']} structures, {len(variants)} variants, {report['resolutions']} solves")

# %% [markdown]
# ## Summary: totals, budget and equity, variant minus base
#
# `partHorsBesoin`: share of posts away from the need-proportional split; `gini`, `theil`: of
# posts per 10,000 fragile inhabitants across départements (need-weighted);
# `populationFragileAPortee`: fragile inhabitants with an advisor within reach. Negative
# differences of the first three mean a fairer split.

# %%
summary = pd.DataFrame(
    {
        v["nom"]: {
            "changements": ", ".join(c["champ"] for c in v["changements"]),
            "gagnants": v["gagnants"],
            "perdants": v["perdants"],
            **v["ecarts"],
        }
        for v in report["variantes"]
    }
).T
summary

# %% [markdown]
# ## Who moves and why
#
# For each moved structure: its grant in the base and in the variant, its motifs before and
# after, the priority of the first post that differs against the round's cut-off, a mechanism
# code (ELIGIBILITE, PART_DEPARTEMENT, PRIORITE...) and the causes (fields that move it the same
# way alone, or whose reversion alone shrinks its move).

# %%
moved = tables.structure_table(comparison, "prives_sans_equilibre")
moved[["idPG", "nom", "type", "departement", "base", "variante", "mecanisme", "causes"]].head(15)

# %%
moved.groupby(["mecanisme", "causes"]).size().rename("structures")

# %% [markdown]
# ## Départements against their fair shares

# %%
dep = tables.departement_table(comparison, "sans_equilibre")
dep[dep["base"].ne(0) | dep["variante"].ne(0)][
    ["nom", "besoin", "existants", "partEquitable", "base", "variante", "ecartPartBase"]
]

# %% [markdown]
# ## The price of each fairness rule
#
# Each fairness rule active in the baseline is switched off and the round re-solved.
# `perteObjectif` is the objective *without* the rule lost by imposing it (>= 0);
# `perteAcces` the access term lost; `perteCouverture` the fragile inhabitants within reach
# lost (negative: the rule gains reach); the `gain*` columns are what the rule buys in fairness
# (> 0: fairer with the rule).

# %%
def prices(comp):
    return pd.DataFrame(
        {
            p["regle"]: {
                **p["prix"],
                "gagnantsSansRegle": p["sansRegle"]["gagnants"],
                "perdantsSansRegle": p["sansRegle"]["perdants"],
            }
            for p in comp.report["prixEquite"]
        }
    ).T


prices(comparison)

# %% [markdown]
# ### On the national case (1,443 structures), with the département cap on
#
# Only the engine re-runs per variant: the geodata numbers are prepared once.

# %%
national = parse_round_request(
    {**rounds.national_request(), "politique": {"plafondDepartement": "part_equitable"}}
)
prepared = rounds.prepare(national)
national_cmp = scenarios.compare_prepared(
    prepared, [scenarios.Variant("acces_double", {"poidsAcces": 2.0})], causes=False
)
prices(national_cmp)

# %% [markdown]
# ## Maps
#
# PNG choropleths (need, coverage before and after, posts of each variant minus the base) and
# an interactive HTML map (open `out/notebooks/03/carte_*.html` in a browser; hover a
# territory for its numbers).

# %%
top = dep["variante"].sub(dep["base"]).abs().idxmax()
pngs = maps.scenario_maps(
    comparison, OUT / "cartes", variants=["hotes_prives_admis", "sans_equilibre"], departement=top
)
html = [
    maps.scenario_map(comparison, OUT / "carte_prives.html", variant="hotes_prives_admis"),
    maps.scenario_map(
        comparison, OUT / f"carte_sans_equilibre_{top}.html", variant="sans_equilibre", departement=top
    ),
]
[p.name for p in pngs + html]

# %% [markdown]
# ## Sanity checks (fail loudly)

# %%
base = comparison.base.grants()
for block in report["variantes"] + [p["sansRegle"] for p in report["prixEquite"]]:
    other = comparison.run(block["nom"]).grants()
    assert sum(m["ecart"] for m in block["structures"]) == sum(other.values()) - sum(base.values())
    assert {m["idPG"] for m in block["structures"]} == {i for i in base if base[i] != other[i]}
    assert all(m["causes"] for m in block["structures"]), block["nom"]
    assert sum(d["variante"] for d in block["departements"]) == sum(other.values())
by_name = {v["nom"]: v for v in report["variantes"]}
assert by_name["quota_plus_10pct"]["perdants"] == 0, "more quota never costs anyone a post"
private = [m for m in by_name["hotes_prives_admis"]["structures"] if m["type"] == "PRIVATE"]
assert private and all(m["mecanisme"] == "ELIGIBILITE" and m["ecart"] > 0 for m in private)
for comp in (comparison, national_cmp):
    for p in comp.report["prixEquite"]:
        assert p["prix"]["perteObjectif"] >= -1e-6, p
assert {p["regle"] for p in national_cmp.report["prixEquite"]} == {
    "poidsEquilibre",
    "poidsRepartition",
    "plafondDepartement",
}
assert national_cmp.report["structures"] == 1443
assert all(p.exists() and p.stat().st_size > 10_000 for p in pngs + html)
print("all sanity checks passed")
