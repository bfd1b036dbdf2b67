"""Model output -> description: trimmed to complete sentences, plain text and sanitised HTML (nh3).

Generation, evaluation and the app all show model text through these functions, so what a reviewer sees
is what the batch job writes.
"""

from __future__ import annotations

import html as _html
import re

ALLOWED_TAGS = {"p", "ul", "ol", "li", "br", "strong", "em", "b", "i", "h2", "h3", "h4"}
_BULLET = re.compile(r"^\s*(?:[-*\u2022])\s+")
# A sentence ends with . ! ? (optionally closed by quotes/brackets) followed by whitespace or the end.
_SENT_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*(?=\s|$)")
_TAG = re.compile(r"</?[A-Za-z!][^>]*>")


def _strip_tags(text: str) -> str:
    """Model output should be plain text; if it emits HTML anyway, keep only the words."""
    if not _TAG.search(text):
        return text
    import nh3

    return _html.unescape(nh3.clean(text, tags=set(), attributes={}, link_rel=None))


def postprocess(text: str, truncated: bool = True) -> str:
    """Clean a raw completion and trim it to complete sentences.

    Drops chat markers, HTML tags, repeated lines (untuned models loop) and a trailing unfinished
    sentence. A trailing bullet line is only dropped when the output was cut by the token limit
    (`truncated`), because bullets legitimately end without a full stop. If nothing complete is left,
    the cleaned text is returned rather than an empty description.
    """
    text = re.sub(r"<\|[^|>]*\|>", "", text).replace("\r\n", "\n")
    text = _strip_tags(text).strip()
    lines: list[str] = []
    seen: set[str] = set()
    for raw in text.split("\n"):
        line = re.sub(r"[ \t]+", " ", raw).strip()
        key = line.lower()
        if line and key in seen:
            continue
        seen.add(key)
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    cleaned = "\n".join(lines)
    if truncated and lines and _BULLET.match(lines[-1]):
        lines.pop()  # the token limit cut this bullet; the ones before it are whole
    while lines:
        last = lines[-1]
        if _BULLET.match(last):
            break
        ends = list(_SENT_END.finditer(last))
        if ends and ends[-1].end() == len(last):
            break
        if ends:
            lines[-1] = last[: ends[-1].end()]
            break
        lines.pop()
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) if lines else cleaned


def sanitize_html(html: str) -> str:
    """Keep only structural/emphasis tags; drop script/style (with content), attributes, links, comments."""
    import nh3

    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes={}, clean_content_tags={"script", "style"},
        strip_comments=True, link_rel=None,
    )


def to_html(text: str) -> str:
    """Plain text -> HTML: blank-line separated paragraphs, lines starting with "- " become a <ul>."""
    blocks: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            blocks.append("<p>" + " ".join(_html.escape(x, quote=False) for x in para) + "</p>")
            para.clear()
        if items:
            lis = "".join(f"<li>{_html.escape(x, quote=False)}</li>" for x in items)
            blocks.append(f"<ul>{lis}</ul>")
            items.clear()

    for line in text.split("\n"):
        line = line.strip()
        if not line:
            flush()
        elif _BULLET.match(line):
            if para:
                flush()
            items.append(_BULLET.sub("", line))
        else:
            if items:
                flush()
            para.append(line)
    flush()
    return sanitize_html("\n".join(blocks))
