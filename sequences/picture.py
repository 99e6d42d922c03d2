"""The flow of a sequence as a picture: an SVG drawing of :func:`sequences.graph.edges` (the
same edges as ``nurture graph``), for the desk's Sequence page and ``graph --format html``.

Steps stand in one column in their order, exits in a second column. An edge to the next
step is a straight arrow down; one to another step curves on the left (further out the
further it jumps); one to an exit goes right. Each edge is a ``<g class="edge">`` carrying
``data-source`` and ``data-target``, so a test (or a script) can read the picture's edges.
"""

from __future__ import annotations

from html import escape

from sequences.graph import Edge, edges
from sequences.model import Sequence

_ICONS = {"email": "✉", "sms": "☏", "whatsapp": "☏", "task": "☑"}
_W, _H, _ROW, _LEFT, _EXIT_X, _TOP = 220, 46, 96, 380, 780, 20


def _positions(sequence: Sequence, found: list[Edge]) -> dict[str, tuple[int, int]]:
    """The top-left corner of each node: steps in a column, exits beside them."""
    places = {step.id: (_LEFT, _TOP + i * _ROW) for i, step in enumerate(sequence.steps)}
    exits = list(dict.fromkeys(e.target for e in found if e.target.startswith("exit:")))
    for i, name in enumerate(exits):
        places[name] = (_EXIT_X, _TOP + i * _ROW)
    return places


def _node(name: str, corner: tuple[int, int], channel: str | None) -> str:
    x, y = corner
    is_exit = channel is None
    label = name.removeprefix("exit:") if is_exit else f"{_ICONS.get(channel or '', '')} {name}"
    sub = "exit" if is_exit else channel
    return (
        f'<g class="node {"exit" if is_exit else "step"}" data-id="{escape(name)}">'
        f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="{23 if is_exit else 8}"/>'
        f'<text x="{x + _W // 2}" y="{y + 20}" class="name">{escape(label)}</text>'
        f'<text x="{x + _W // 2}" y="{y + 37}" class="sub">{escape(sub or "")}</text></g>'
    )


def _path(edge: Edge, places: dict[str, tuple[int, int]], order: dict[str, int]) -> str:
    (sx, sy), (tx, ty) = places[edge.source], places[edge.target]
    if edge.target.startswith("exit:"):
        return (
            f"M{sx + _W},{sy + _H // 2} C{sx + _W + 90},{sy + _H // 2} "
            f"{tx - 90},{ty + _H // 2} {tx},{ty + _H // 2}"
        )
    if order[edge.target] == order[edge.source] + 1:
        return f"M{sx + _W // 2},{sy + _H} L{tx + _W // 2},{ty}"
    bend = sx - 40 - 28 * abs(order[edge.target] - order[edge.source])
    return f"M{sx},{sy + _H // 2} C{bend},{sy + _H // 2} {bend},{ty + _H // 2} {tx},{ty + _H // 2}"


def _label_at(
    edge: Edge, places: dict[str, tuple[int, int]], order: dict[str, int]
) -> tuple[int, int, str]:
    (sx, sy), (tx, ty) = places[edge.source], places[edge.target]
    if edge.target.startswith("exit:"):
        return (sx + _W + tx) // 2, (sy + ty) // 2 + _H // 2 - 4, "middle"
    if order[edge.target] == order[edge.source] + 1:
        return sx + _W // 2 + 6, sy + _H + (_ROW - _H) // 2 + 4, "start"
    bend = sx - 40 - 28 * abs(order[edge.target] - order[edge.source])
    return bend + 16, (sy + ty) // 2 + _H // 2, "end"


def to_svg(sequence: Sequence) -> str:
    """The picture of ``sequence`` as one standalone ``<svg>`` element."""
    found = edges(sequence)
    places = _positions(sequence, found)
    order = {step.id: i for i, step in enumerate(sequence.steps)}
    seen: dict[tuple[int, int], int] = {}
    parts = []
    for edge in found:
        x, y, anchor = _label_at(edge, places, order)
        shift = seen.get((x, y), 0)
        seen[(x, y)] = shift + 1
        dashed = ' stroke-dasharray="5 4"' if edge.dashed else ""
        parts.append(
            f'<g class="edge" data-source="{escape(edge.source)}" '
            f'data-target="{escape(edge.target)}"><title>{escape(edge.label)}</title>'
            f'<path d="{_path(edge, places, order)}"{dashed} marker-end="url(#arrow)"/>'
            f'<text x="{x}" y="{y + 14 * shift}" text-anchor="{anchor}">'
            f"{escape(edge.label)}</text></g>"
        )
    channels = {step.id: step.channel for step in sequence.steps}
    nodes = [_node(name, corner, channels.get(name)) for name, corner in places.items()]
    height = max(y for _, y in places.values()) + _H + _TOP * 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="0 0 {_EXIT_X + _W + 20} '
        f'{height}" width="{_EXIT_X + _W + 20}" height="{height}" role="img" '
        f'aria-label="flow of sequence {escape(sequence.sequence)}">'
        f"<style>{_SVG_STYLE}</style><defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
        f"</defs>{''.join(parts)}{''.join(nodes)}</svg>"
    )


_SVG_STYLE = (
    ".flow{font-family:system-ui,sans-serif;font-size:12px}"
    ".flow .node rect{fill:#f4f6fb;stroke:#3b5bdb;stroke-width:1.5}"
    ".flow .node.exit rect{fill:#fff4e6;stroke:#e8590c}"
    ".flow .node text{text-anchor:middle}.flow .node .name{font-weight:600;font-size:13px}"
    ".flow .node .sub{fill:#666;font-size:11px}"
    ".flow .edge path{fill:none;stroke:#868e96;stroke-width:1.4}"
    ".flow .edge text{fill:#343a40;font-size:11px}#arrow path{fill:#868e96}"
)


def to_html(sequence: Sequence) -> str:
    """A standalone page (no script, no network) with the picture of ``sequence``."""
    title = escape(f"{sequence.sequence} — nurture sequence")
    edges_list = "".join(
        f"<li><code>{escape(e.source)}</code> → <code>{escape(e.target)}</code>: "
        f"{escape(e.label)}</li>"
        for e in edges(sequence)
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#212529}"
        "svg{max-width:100%;height:auto}</style></head><body>"
        f"<h1>{escape(sequence.name or sequence.sequence)}</h1>{to_svg(sequence)}"
        f"<h2>Edges</h2><ul>{edges_list}</ul></body></html>\n"
    )
