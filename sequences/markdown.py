"""Email bodies: Markdown to HTML and to plain text (markdown-it-py, raw HTML disabled).

Raw HTML in a body is shown as text, never passed through, so the HTML part is escaped
by construction. Single line breaks are kept (``breaks``): recruiters write emails, not
documents. ``escape`` makes a value literal Markdown text (a name with ``*`` or ``[``).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

_SPECIAL = re.compile(r"([\\`*_\[\]<>#!~|&])")


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "breaks": True, "typographer": False})


def escape(value: Any) -> Any:
    """``value`` with Markdown syntax characters backslash-escaped (strings, nested)."""
    if isinstance(value, str):
        return _SPECIAL.sub(r"\\\1", value)
    if isinstance(value, dict):
        return {key: escape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [escape(item) for item in value]
    return value


def render(source: str) -> tuple[str, str]:
    """``(text, html)`` of one Markdown source, parsed once."""
    parser = _parser()
    tokens = parser.parse(source)
    return _text(tokens), str(parser.renderer.render(tokens, parser.options, {}))


def _text(tokens: list[Token]) -> str:
    """Readable plain text: paragraphs, list markers, links as ``text (url)``."""
    lines: list[str] = []
    lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
    marker = ""
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([int(token.attrGet("start") or 1)] if kind[0] == "o" else [])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                lines.append("")
        elif kind == "list_item_open":
            marker = "  " * (len(lists) - 1) + _marker(lists[-1])
        elif kind == "inline":
            lines.append(marker + _inline(token.children or []))
            marker = ""
        elif kind in ("paragraph_close", "heading_close") and not token.hidden:
            lines.append("")
        elif kind in ("fence", "code_block"):
            lines.extend([token.content.rstrip("\n"), ""])
        elif kind == "hr":
            lines.extend(["---", ""])
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _marker(numbers: list[int]) -> str:
    if not numbers:
        return "- "
    numbers[0] += 1
    return f"{numbers[0] - 1}. "


def _inline(children: list[Token]) -> str:
    parts: list[str] = []
    links: list[tuple[str, int]] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
        elif child.type == "link_open":
            links.append((str(child.attrGet("href") or ""), len(parts)))
        elif child.type == "link_close" and links:
            href, start = links.pop()
            label = "".join(parts[start:])
            if href and href not in (label, f"mailto:{label}"):
                parts.append(f" ({href})")
    return "".join(parts)
