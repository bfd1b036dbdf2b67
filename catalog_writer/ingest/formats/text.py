"""HTML description cells -> clean plain text (bs4): paragraphs split by a blank line, list items and
`&bull;`-style bullet lines as '- item' lines, entities decoded, whitespace normalised."""

from __future__ import annotations

import re
from functools import lru_cache

MAX_HTML = 200_000
"""Longer description cells are cut before HTML parsing (the plain text is only a training reference)."""
_ITEMS, _CELLS = {"li", "dt", "dd"}, {"td", "th"}
_BLOCKS = {"p", "div", "section", "article", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "ul",
           "ol", "table", "tr", "blockquote", "pre", "dl", "figure", "figcaption", "hr", "main", "aside", "address"}
_PARA, _LINE, _ITEM = "\ue000", "\ue001", "\ue002"  # private-use markers: not whitespace to strip()
_WS = re.compile(r"[ \t\r\n\f\v\xa0\u200b]+")
_BULLET = re.compile(r"^(?:[•·▪◦‣●*]|[-–—](?=\s))\s*")


@lru_cache(maxsize=4096)  # variant rows and feed items repeat the same description
def html_to_text(html: str) -> str:
    """Description HTML (or plain text) -> clean text: paragraphs split by a blank line, list items as
    '- item' lines, entities decoded, whitespace normalised."""
    if not html or not html.strip():
        return ""
    html = html[:MAX_HTML]
    if "<" not in html:
        from html import unescape

        text = unescape(html).replace("\r\n", "\n").replace("\r", "\n")
        text = re.sub(r"\n\s*\n", _PARA, text).replace("\n", _LINE)
    else:
        text = _mark_html(html)
    return _assemble(text)


def _mark_html(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    # One pass over the tags; get_text() already skips comments, doctypes, script and style contents.
    for tag in soup.find_all(True):
        name = tag.name
        if name == "br":
            tag.replace_with(_LINE)
        elif name in _ITEMS:
            tag.insert(0, _LINE + _ITEM)  # also breaks the line: html.parser nests unclosed <li>s
            tag.append(_LINE)
        elif name in _CELLS:
            tag.append(" ")
        elif name in _BLOCKS:
            tag.insert_before(_PARA)
            tag.insert_after(_PARA)
    return soup.get_text()


def _assemble(text: str) -> str:
    out: list[str] = []
    prev_item = None
    for para in text.split(_PARA):
        first = True
        for raw in para.split(_LINE):
            line = _WS.sub(" ", raw).strip()
            is_item = line.startswith(_ITEM)
            line = line.replace(_ITEM, "").strip()
            if not line:
                continue
            bullet = _BULLET.match(line)
            if bullet:
                is_item, line = True, line[bullet.end():]
            if not line:
                continue
            if out:
                out.append("\n" if (not first or (is_item and prev_item)) else "\n\n")
            out.append(f"- {line}" if is_item else line)
            prev_item, first = is_item, False
    return "".join(out)
