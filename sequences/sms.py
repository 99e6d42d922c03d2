"""SMS segment arithmetic: GSM-7 when every character fits, UCS-2 otherwise (GSM 03.38)."""

from __future__ import annotations

from dataclasses import dataclass

_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # each takes two septets (escape + char)


@dataclass(frozen=True)
class Segments:
    """How a text travels as SMS: encoding, length in its units, and parts billed."""

    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def sms_segments(text: str) -> Segments:
    """Segments of ``text``: 160/153 septets in GSM-7, 70/67 code units in UCS-2."""
    if all(char in _GSM7 or char in _GSM7_EXTENDED for char in text):
        septets = len(text) + sum(char in _GSM7_EXTENDED for char in text)
        return Segments("GSM-7", septets, _count(septets, 160, 153))
    units = len(text.encode("utf-16-le")) // 2
    return Segments("UCS-2", units, _count(units, 70, 67))


def _count(units: int, single: int, multi: int) -> int:
    if units == 0:
        return 0
    return 1 if units <= single else -(-units // multi)
