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
# # 2. A monthly round: proposal, explanations, committee pack
#
# The demo round replays the last 2021 comité de sélection (2021-05-19, 190 real host
# structures) as a monthly round: the structures of the earlier committees are the existing
# advisors, the quota is 70 % of what eligible (public) hosts ask. Their granted number is their
# request (the best public proxy). **Project scores, préfet opinions and submission times are
# synthetic** (fixed seed, labelled `synthetique` in every document).
#
# The round is solved by `service.analysis.rounds.run`, through the one pipeline
# (`service.application.pipeline`) that the CLI (`allocator allocate`) and the HTTP API
# (`POST /v1/allocate`) use.

# %%
import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from service.analysis import rounds
from service.application import export
from service.application.history import DEMO_SEED, demo_request
from service.contract.schemas import parse_round_request

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").exists())
OUT = Path(os.environ.get("ALLOCATOR_NOTEBOOK_OUT", ROOT / "out" / "notebooks")) / "02"
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.float_format", "{:,.2f}".format)

# %% [markdown]
# ## The request and the proposal

# %%
payload = demo_request()
request = parse_round_request(payload)
print(
    f"round {payload['mois']}: {len(payload['structures'])} structures, quota {payload['quota']}, "
    f"{sum(e['nombre'] for e in payload['conseillersExistants'])} advisors already hosted "
    f"(synthetic fields, seed {DEMO_SEED})"
)
print(Counter(s["type"] for s in payload["structures"]))

# %%
round_run = rounds.run(request)
result = round_run.result
(OUT / "resultat.json").write_text(round_run.json(), encoding="utf-8")
print(round_run.summary())

# %% [markdown]
# ## Decisions by motif and by département against fair shares
#
# `motifs` are stable machine codes (`allocator.motifs`). The fair share of a département is the
# Webster apportionment of the national envelope (4,000 posts) on need.

# %%
decisions = pd.DataFrame(
    {
        "idPG": d["idPG"],
        "attribues": d["nombreConseillersAttribues"],
        "motifs": ", ".join(d["motifs"]),
        "departement": d["explication"]["territoire"]["departement"],
    }
    for d in result["decisions"]
)
decisions["motifs"].value_counts().head(10)

# %%
report = result["rapport"]
posts = pd.Series(report["posts_per_departement"], dtype=int)
dep = (
    pd.DataFrame(
        {
            d["explication"]["territoire"]["departement"]: {
                "existants": d["explication"]["details"]["departement"]["existing"],
                "part_equitable": d["explication"]["details"]["departement"]["fair_share"],
            }
            for d in result["decisions"]
        }
    )
    .T.assign(attribues=posts)
    .fillna({"attribues": 0})
)
dep["ecart_part"] = dep["existants"] + dep["attribues"] - dep["part_equitable"]
dep.sort_values("ecart_part").head(12)

# %% [markdown]
# ## Equity before and after the round
#
# `round_run.equity()` (`service.analysis.metrics.round_equity`): share of posts away from the
# need-proportional split, need-weighted Gini and Theil of posts per 10,000 fragile inhabitants
# across départements, fragile inhabitants with an advisor within reach.

# %%
equity = round_run.equity()
pd.DataFrame(equity)

# %% [markdown]
# ## Explanations of a few structures
#
# One structure fully served, one partly served, one refused by the national ranking, one
# excluded by a rule. The full French explanation (legal mention, data, parameters, operations,
# counterfactual) is built by `service.explanations.letters` and attached to each decision by the
# pipeline (`explication.texte`); the machine-readable keys (priorities, cut-off, details) sit
# beside it.

# %%
def pick(predicate):
    return next(d for d in result["decisions"] if predicate(d))


examples = {
    "servie": pick(lambda d: "DEMANDE_SATISFAITE" in d["motifs"] and d["nombreConseillersAttribues"]),
    "partielle": pick(lambda d: d["nombreConseillersAttribues"] and "PRIORITE_INSUFFISANTE" in d["motifs"]),
    "refusee": pick(lambda d: d["motifs"] == ["QUOTA_EPUISE", "PRIORITE_INSUFFISANTE"]),
    "exclue": pick(lambda d: "TYPE_NON_ELIGIBLE" in d["motifs"] or "AVIS_PREFET_NEGATIF" in d["motifs"]),
}
for label, d in examples.items():
    e = d["explication"]
    print(f"--- {label}: idPG {d['idPG']}, {d['nombreConseillersAttribues']} poste(s), {d['motifs']}")
    print(f"priorités {e['priorites'][:3]} ; seuil du tour {e['seuil']}")

# %%
print(examples["partielle"]["explication"].get("texte", "(texte absent : voir les clés ci-dessus)"))

# %% [markdown]
# ## Committee pack
#
# `service.application.export` writes the workbook the committee works from (a national sheet, then one
# sheet per département with the préfet's opinion, the algorithm's proposal and the motifs),
# CSV and JSON, and maps of the posts granted and the coverage before / after.

# %%
pack = export.pack_from_result(result, request)
top_dep = str(dep["attribues"].idxmax())
files = export.export_round(pack, OUT / "dossier", cartes=True, departements=[top_dep])
[f.name for f in files]

# %% [markdown]
# ## Sanity checks (fail loudly)

# %%
granted = {d["idPG"]: d["nombreConseillersAttribues"] for d in result["decisions"]}
by_id = {s["idPG"]: s for s in payload["structures"]}
assert result["status"] == "OPTIMAL", result["status"]
assert result["solveur"]["gap"] == 0.0
assert list(granted) == sorted(by_id), "one decision per structure, ascending idPG"
assert sum(granted.values()) == result["totaux"]["attribues"] == payload["quota"]
assert all(0 <= n <= by_id[i]["nombreConseillersSouhaites"] for i, n in granted.items())
assert all(granted[i] == 0 for i, s in by_id.items() if s["type"] == "PRIVATE"), "private hosts"
assert all(
    granted[i] == 0 for i, s in by_id.items() if s["prefet"][-1]["avisPrefet"] != "POSITIF"
), "négatif préfet opinions are excluded by default"
assert int(dep["attribues"].sum()) == payload["quota"]
before, after = equity["avant"], equity["apres"]
assert after["posts"] == before["posts"] + payload["quota"]
assert after["fragile_within_reach"] >= before["fragile_within_reach"]
assert after["share_away_from_need"] < before["share_away_from_need"], "the round rebalances"
assert all(f.exists() and f.stat().st_size > 0 for f in files)
assert any(f.suffix == ".xlsx" for f in files)
again = rounds.run(request).result
again["solveur"].pop("secondes"), result["solveur"].pop("secondes")
assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True), "determinism"
print("all sanity checks passed")
