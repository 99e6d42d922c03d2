"""The new text of an email reply: quoted history and signature removed.

Mail clients put the previous message under a header line ("On ... wrote:", "Le ... a
écrit :", "Am ... schrieb ...:", "El ... escribió:", Outlook's "-----Original Message-----"
or its "From: ... Sent: ..." block) or quote it with ">". The first such header ends the
new text; ">" lines are dropped wherever they are (interleaved answers keep their text).
A signature starts at the "-- " delimiter or at a mobile client's "Sent from my iPhone".
"""

from __future__ import annotations

import re

_ATTRIBUTION = re.compile(
    r"""^\s*(?:
        On\s.+\swrote:
      | Le\s.+\sa\sécrit\s?:
      | Am\s.+\sschrieb\s.*:
      | El\s.+\sescribió:
    )\s*$""",
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{3,}\s*(?:Original Message|Message d'origine|Ursprüngliche Nachricht"
    r"|Mensaje original|Forwarded message)\s*-{3,}|_{10,})\s*$",
    re.IGNORECASE,
)
_FROM = re.compile(r"^\s*\*?(?:From|De|Von)\s?:\*?\s", re.IGNORECASE)
_SENT = re.compile(r"^\s*\*?(?:Sent|Date|Envoyé|Gesendet|Enviado|Fecha)\s?:\*?\s", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"^(?:--\s?|(?:Sent from|Envoyé de|Enviado desde)\s.*|Von meinem\s.+\sgesendet"
    r"|Get Outlook for\s.+)$",
    re.IGNORECASE,
)
_ATTRIBUTION_SPAN = 3  # Gmail wraps a long "On ... <address> wrote:" over lines


def _attribution_start(lines: list[str], index: int) -> int | None:
    """Where the attribution ending on line ``index`` begins (the shortest span), if any."""
    for span in range(1, _ATTRIBUTION_SPAN + 1):
        start = index - span + 1
        if start < 0:
            return None
        joined = " ".join(line.strip() for line in lines[start : index + 1])
        if _ATTRIBUTION.match(joined):
            return start
    return None


def _is_outlook_header(lines: list[str], index: int) -> bool:
    if not _FROM.match(lines[index]):
        return False
    return any(_SENT.match(line) for line in lines[index + 1 : index + 4])


def _history_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line) or _is_outlook_header(lines, index):
            return index
        if line.rstrip().endswith(":") and (start := _attribution_start(lines, index)) is not None:
            return start
    return len(lines)


def _signature_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line.rstrip("\r")) and (line.startswith("--") or index > 0):
            return index
    return len(lines)


def strip_quoted(text: str) -> str:
    """The reply's own text: no quoted history, no ``>`` lines, no signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _history_start(lines)]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    lines = lines[: _signature_start(lines)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()
