"""Choropleth of a proposal (posts proposed per département) as a PNG for an ``<img>``.

Drawn by :func:`geodata.maps.map_departement_values` (bundled contours, Lambert-93 métropole,
DROM insets, matplotlib Agg on a fresh figure: safe in a web worker), about 0.5 s once the
contours are loaded. Files are cached in ``<instance>/cartes/``, named after the round, its
version and a hash of the values drawn, so a cached file is never stale and every worker of a
multi-process server shares it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

LABEL = "Postes proposés dans ce tour"


def png_path(
    cache_dir: str | Path, round_id: int, version: int, posts: Mapping[str, int], title: str
) -> Path:
    """The map's PNG file, drawn on first use (posts: ``{département: posts}``, 0 = none)."""
    from geodata.maps import map_departement_values
    from service.ui.present import departement_names

    values = {code: float(posts.get(code, 0)) for code in departement_names()}
    digest = hashlib.sha256(
        json.dumps([values, title], sort_keys=True).encode("utf-8")
    ).hexdigest()[:16]
    out = Path(cache_dir) / f"tour-{round_id}-v{version}-{digest}.png"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=out.parent)
    os.close(fd)
    try:
        map_departement_values(tmp, values, LABEL, "Blues", title=title)
        os.replace(tmp, out)  # atomic: concurrent workers never serve a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
