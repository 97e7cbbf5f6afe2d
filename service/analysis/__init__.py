"""Analyses of rounds for notebooks, benchmarks, the CLI and ``POST /v1/scenarios``.

Public modules (no name with a leading underscore is meant for use outside its module):

- :mod:`service.analysis.rounds` — the bundled national case, a round prepared once for many
  policies, a round solved the service's way (notebooks and benchmarks run models through it);
- :mod:`service.analysis.scenarios` — the scenarios document, variants and the comparison of a
  baseline with its variants; built on :mod:`~service.analysis.runs` (policies solved on one
  prepared round) and :mod:`~service.analysis.differences` (moves, causes, fairness prices);
- :mod:`service.analysis.tables` and :mod:`service.analysis.maps` — tables, PNG and HTML maps of
  a comparison;
- :mod:`service.analysis.robustness` — Monte-Carlo draws (serial or Dask);
- :mod:`service.analysis.simulate` — a year of monthly rounds under several policies;
- :mod:`service.analysis.metrics` — equity and reach metrics.
"""
