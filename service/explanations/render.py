"""Rendering of the letters: Markdown pieces, the whole text, HTML pages."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from service.explanations.wording import une_ligne


def markdown_lignes(lignes: list[str] | tuple[str, ...]) -> str:
    """Lines of a part of ``texte``: each ``- line``, then a blank line."""
    if not lignes:
        return "\n"
    return "- " + "\n- ".join([une_ligne(x) for x in lignes]) + "\n\n"


def bloc(n: int, titre: str, lignes: list[str] | tuple[str, ...]) -> str:
    """Part ``n`` of ``texte``: its heading and its lines."""
    return f"## {n}. {titre}\n\n" + markdown_lignes(lignes)


def titre(nom: str | None, id_pg: object) -> str:
    """Title of a decision's explanation (on one line whatever the name holds)."""
    if nom:
        return f"Explication de la décision — {une_ligne(nom)} (idPG {id_pg})"
    return f"Explication de la décision — structure idPG {id_pg}"


# -- HTML -----------------------------------------------------------------------------------------

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#161616}h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;"
    "border-bottom:1px solid #ddd}h3{font-size:1rem}.resume{background:#f5f5fe;padding:.75rem;"
    "border-left:4px solid #000091}table{border-collapse:collapse}td,th{border:1px solid #ddd;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}"
)


def page_html(titre: str, body: str) -> str:
    """A standalone French HTML page (the body is already escaped HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(titre)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def markdown_html(text: str) -> str:
    """HTML of the Markdown subset the letters are written in (headings, lists), escaped."""
    out: list[str] = []
    in_list = False
    for line in text.splitlines():
        if line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html.escape(line[2:])}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def render_html(entry: Mapping[str, Any]) -> str:
    """The portal page of a decision (``entry`` as served by the explanation endpoint)."""
    expl = entry.get("explication") or {}
    title = titre(entry.get("nom"), entry.get("idPG"))
    body = markdown_html(expl.get("texte") or f"# {title}\n")
    # a letter that opens with its paragraph needs no summary above it (older ones get theirs)
    if expl.get("resume") and not expl.get("essentiel"):
        first = body.find("\n")
        resume = f'<p class="resume">{html.escape(expl["resume"])}</p>'
        body = body[:first] + "\n" + resume + body[first:] if first >= 0 else body + resume
    return page_html(title, body)
