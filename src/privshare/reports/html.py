"""A self-contained ``report.html``: figures inlined as base64 PNG, plain tables.

No scripts, no external files: the page opens from a mail attachment.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from privshare.atomic import write_text_atomic
from privshare.reports.style import FigureFile

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 1.5em auto; padding: 0 1em;
       color: #111; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #999; padding-bottom: .2em; margin-top: 2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #333; }
table { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: right; }
th { background: #eee; } td.l, th.l { text-align: left; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .8em; }
.failed { color: #b00; } .note { color: #555; font-size: .9em; }
"""


@dataclass(frozen=True)
class Table:
    """A titled table; ``rows`` hold already formatted cells."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:.{digits}f}"


def _figure(fig: FigureFile) -> str:
    data = base64.b64encode(fig.png.read_bytes()).decode("ascii")
    return (f'<figure id="{html.escape(fig.name)}"><h3>{html.escape(fig.title)}</h3>'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(fig.title)}">'
            f"<figcaption>{html.escape(fig.caption)} "
            f"<span class=note>(files: {html.escape(fig.png.name)}, {html.escape(fig.svg.name)})"
            "</span></figcaption></figure>")


def _table(t: Table) -> str:
    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(f"<{tag}{' class=l' if i == 0 else ''}>{html.escape(str(v))}</{tag}>"
                       for i, v in enumerate(row))
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in t.rows)
    note = f"<p class=note>{html.escape(t.note)}</p>" if t.note else ""
    return (f"<h3>{html.escape(t.title)}</h3>{note}<table><thead><tr>{cells(t.header, 'th')}"
            f"</tr></thead><tbody>{body}</tbody></table>")


def render(*, title: str, summary: Sequence[str], figures: Sequence[FigureFile],
           tables: Sequence[Table], config: dict, provenance: dict[str, str],
           answer: Sequence[str] = (), answer_note: str = "") -> str:
    """The whole page as one string; ``answer`` (one line per owner) opens it."""
    facts = "".join(f"<li>{html.escape(s)}</li>" for s in summary)
    first = ("<h2 id=answer>The answer, per owner</h2><ul>" +
             "".join(f"<li>{html.escape(a)}</li>" for a in answer) + "</ul>" +
             (f"<p class=note>{html.escape(answer_note)}</p>" if answer_note else "")
             if answer else "")
    prov = "".join(f"<tr><th class=l>{html.escape(k)}</th><td class=l>{html.escape(v)}</td></tr>"
                   for k, v in provenance.items())
    toc = "".join(f'<li><a href="#{html.escape(f.name)}">{html.escape(f.title)}</a></li>'
                  for f in figures)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{first}<ul>{facts}</ul>"
        f"<table>{prov}</table>"
        f"<h2>Figures</h2><ol>{toc}</ol>" + "".join(_figure(f) for f in figures) +
        "<h2>Numbers</h2>" + "".join(_table(t) for t in tables) +
        "<h2>Configuration</h2><pre>" + html.escape(json.dumps(config, indent=2, sort_keys=True)) +
        "</pre></body></html>\n"
    )


def write_page(path: Path, text: str) -> Path:
    """``text`` to ``path`` whole or not at all (its folder made; no ``.tmp`` left on failure)."""
    write_text_atomic(path, text)
    return path
