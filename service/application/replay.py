"""Replay of a stored round and its certificate.

Every round stores, at the moment it is solved (:func:`service.application.rounds.draft_round`
and each override), its full input snapshot — the contract request (structures, existing advisors,
politique), the committee locks, the legacy ``extraExisting``, the envelope already consumed
(``enveloppeConsommee``, drafts on a store with the 2021 history) — and :func:`environment`: package
version, a SHA-256 of the code that decides a result, Python / OR-Tools / NumPy / pandas versions
and the solver configuration. :func:`replay_round` re-solves the snapshot through the same
pipeline steps as the round (``prepare_round`` → ``prepared_input`` → ``allocator.allocate`` →
``adapter.result_to_contract``), runs the solver-free validator, and compares the canonical JSON
of both results (``solveur.secondes`` excluded: wall time is the one field allowed to differ). A
mismatch is an error for the CLI (exit 1).

Imported 2021 committees (origin ``historique``) were never solved: their replay re-derives the
decisions from the bundled file (whose SHA-256 was recorded) and compares them the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import platform
from pathlib import Path
from typing import Any

from sqlalchemy import select

import allocator
from allocator import SolverConfig
from allocator.solve import ORTOOLS_VERSION
from service.application import adapter, history, pipeline
from service.application.figures import decimal_exact
from service.contract.errors import NotFound
from service.contract.schemas import stored_request
from service.store import repository as store
from service.store.db import Database
from service.store.models import Round

ROOT = Path(__file__).resolve().parents[2]
#: The code that decides a round's result (hashed into ``environment()["codeSha256"]``).
DECISIVE_CODE = (
    "allocator",
    "geodata",
    "service/application/adapter.py",
    "service/application/pipeline.py",
    "service/contract/schemas.py",
)


@functools.cache
def code_sha256() -> str:
    """SHA-256 over the decisive source files (paths and contents, sorted by path)."""
    h = hashlib.sha256()
    files: list[Path] = []
    for entry in DECISIVE_CODE:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    for f in sorted(files):
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return None


def environment(config: Any = None) -> dict[str, Any]:
    """What a solve ran with: versions, code hash, solver configuration (JSON-ready)."""
    cfg = config if config is not None else SolverConfig()
    return {
        "versionCode": _version("conseillers-numeriques-allocator"),
        "codeSha256": code_sha256(),
        "python": platform.python_version(),
        "ortools": ORTOOLS_VERSION,
        "numpy": _version("numpy"),
        "pandas": _version("pandas"),
        "config": dataclasses.asdict(cfg),
    }


def _solver_config(recorded: dict[str, Any] | None) -> Any:
    if not recorded:
        return SolverConfig()
    known = {f.name for f in dataclasses.fields(SolverConfig)}
    return SolverConfig(**{k: v for k, v in recorded.items() if k in known})


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its wall time (the only field allowed to differ between solves)."""
    solveur = {k: v for k, v in (result.get("solveur") or {}).items() if k != "secondes"}
    return {**result, "solveur": solveur}


def result_sha256(result: dict[str, Any]) -> str:
    return store.canonical_sha256(comparable(result))


def _grants(result: dict[str, Any] | None) -> dict[int, tuple[Any, Any, Any]]:
    return {
        d["idPG"]: (
            d.get("nombreConseillersAttribues"),
            d.get("nombreConseillersCoselec"),
            d.get("avisCoselec"),
        )
        for d in (result or {}).get("decisions", [])
    }


def _differences(a: dict[str, Any], b: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    da = {d["idPG"]: d for d in a.get("decisions", [])}
    db_ = {d["idPG"]: d for d in b.get("decisions", [])}
    for i in sorted(set(da) | set(db_)):
        x, y = da.get(i), db_.get(i)
        if x != y:
            out.append(
                {
                    "idPG": i,
                    "enregistre": None if x is None else x.get("nombreConseillersAttribues"),
                    "rejoue": None if y is None else y.get("nombreConseillersAttribues"),
                    # which fields of the decision differ (e.g. only its explanation)
                    "champs": sorted(
                        k
                        for k in set(x or {}) | set(y or {})
                        if (x or {}).get(k) != (y or {}).get(k)
                    ),
                }
            )
            if len(out) >= limit:
                break
    if not out:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        out = [{"champ": k} for k in keys[:limit]]
    return out


def resolve(snapshot: dict[str, Any], locks: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Re-solve an engine round's snapshot: ``(contract result, validator violations)``."""
    request = stored_request(snapshot["request"])
    config = _solver_config((snapshot.get("moteur") or {}).get("config"))
    policy = adapter.policy_from_request(request)
    prepared = pipeline.prepare_round(
        request,
        extra_existing=snapshot.get("extraExisting") or None,
        programme_consumed=snapshot.get("enveloppeConsommee"),
    )
    lock_map = {int(k): int(v["nombre"]) for k, v in (locks or {}).items()}
    req, round_input = pipeline.prepared_input(prepared, policy, locks=lock_map)
    result = allocator.allocate(round_input, policy, config)
    contract = adapter.result_to_contract(req, round_input, result, prepared.geo)
    violations = [v.message for v in allocator.check_feasible(round_input, policy, result)]
    return contract, violations


def _replay_history(row: Round) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    snap = row.snapshot
    problems: list[str] = []
    sha = history.bundled_file_sha256()
    if sha != (snap.get("source") or {}).get("sha256"):
        problems.append("le fichier 2021 embarqué a changé depuis l'import")
    committee = next(
        (c for c in history.history_committees() if c["numero"] == snap["numero"]), None
    )
    if committee is None:
        problems.append(f"comité {snap['numero']} absent du fichier embarqué")
        return {}, problems, {"nom": "historique"}
    return history.history_result(committee), problems, {"nom": "historique", "version": "2021"}


def replay_round(db: Database, round_id: int) -> dict[str, Any]:
    """Re-solve round ``round_id`` from its snapshot and return the certificate.

    ``identique`` is true when the replayed result equals the stored one byte for byte (canonical
    JSON, wall time excluded) and the validator finds no violation.
    """
    with db.read() as s:
        row = s.get(Round, round_id)
        if row is None:
            raise NotFound(f"Aucun tour d'attribution n° {round_id}.")
        s.expunge(row)
    stored = row.result
    recorded = (row.snapshot or {}).get("moteur") or {}
    if row.origine == "historique":
        replayed, violations, solver = _replay_history(row)
        input_sha = store.canonical_sha256(
            {k: row.snapshot.get(k) for k in ("source", "numero", "date")}
        )
    else:
        replayed, violations = resolve(row.snapshot, row.locks or {})
        solver = replayed.get("solveur", {})
        input_sha = store.canonical_sha256(
            {
                "request": row.snapshot.get("request"),
                "extraExisting": row.snapshot.get("extraExisting"),
                "verrous": {k: v.get("nombre") for k, v in (row.locks or {}).items()},
                "config": recorded.get("config"),
                # drafts since the store counts the envelope itself (older snapshots lack it)
                **{k: row.snapshot[k] for k in ("enveloppeConsommee",) if k in row.snapshot},
            }
        )
    a, b = result_sha256(stored), result_sha256(replayed) if replayed else None
    same = a == b and not violations
    same_grants = not violations and _grants(stored) == _grants(replayed)
    current = environment(_solver_config(recorded.get("config")))
    return {
        "roundId": row.id,
        "mois": row.mois,
        "statut": row.status,
        "origine": row.origine,
        "identique": same,
        # the decisions' numbers, when the bytes differ (e.g. a newer code version words the
        # explanations differently): a replay mismatch is then a format change, not a new decision
        "attributionsIdentiques": same_grants,
        "entreeSha256": input_sha,
        "entreeMoteurSha256": stored.get("entreeSha256"),
        "entreeMoteurRejoueSha256": replayed.get("entreeSha256"),
        "resultatSha256": a,
        "resultatRejoueSha256": b,
        "solveur": {
            "nom": solver.get("nom"),
            "version": solver.get("version"),
            "backend": solver.get("backend"),
            "gap": solver.get("gap"),
            "statut": replayed.get("status"),
        },
        "validateur": {
            "verdict": "conforme" if not violations else "non conforme",
            "violations": violations,
        },
        "environnement": {
            "enregistre": recorded or None,
            "actuel": current,
            "codeIdentique": recorded.get("codeSha256") == current["codeSha256"]
            if recorded
            else None,
        },
        "differences": [] if same else _differences(comparable(stored), comparable(replayed)),
    }


def replay_all(db: Database, *, committed_only: bool = True) -> list[dict[str, Any]]:
    """Certificates of every (committed) round of the store, by id."""
    with db.read() as s:
        stmt = select(Round.id).order_by(Round.id)
        if committed_only:
            stmt = stmt.where(Round.status == "committed")
        ids = list(s.scalars(stmt))
    return [replay_round(db, i) for i in ids]


def certificate_text(cert: dict[str, Any]) -> str:
    """Human form of a certificate (CLI)."""
    env = cert["environnement"]
    gap = cert["solveur"]["gap"]
    lines = [
        f"tour n° {cert['roundId']} ({cert['origine']}, {cert['mois']}, {cert['statut']})",
        f"  entrée (instantané)  sha256 {cert['entreeSha256']}",
        f"  entrée moteur        sha256 {cert['entreeMoteurSha256']}",
        f"  résultat enregistré  sha256 {cert['resultatSha256']}",
        f"  résultat rejoué      sha256 {cert['resultatRejoueSha256']}",
        f"  solveur {cert['solveur']['nom']} {cert['solveur']['version']} "
        f"({cert['solveur']['backend']}), statut {cert['solveur']['statut']}, "
        f"écart {'—' if gap is None else decimal_exact(gap)}",
        f"  validateur : {cert['validateur']['verdict']}"
        + "".join(f"\n    - {v}" for v in cert["validateur"]["violations"]),
        f"  code : {'identique' if env['codeIdentique'] else 'différent ou non enregistré'}"
        f" (actuel {env['actuel']['codeSha256'][:12]}…)",
        "  verdict : "
        + (
            "IDENTIQUE"
            if cert["identique"]
            else "DIFFÉRENT (attributions identiques, autres octets)"
            if cert.get("attributionsIdentiques")
            else "DIFFÉRENT"
        ),
    ]
    for d in cert["differences"]:
        lines.append(f"    diff {d}")
    return "\n".join(lines)
