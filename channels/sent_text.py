"""Which lines of a reply repeat the message it answers: quoted history, whatever its header.

The outbox holds the exact text we sent. Clients quote it with or without ``>``, re-wrap
it, collapse its spaces and drop its HTML, so lines are compared as runs of three words
(shingles) against the whole sent text: a line whose shingles mostly occur in it repeats it,
wherever its line breaks fall. Lines too short to tell (one to three words) count when they
occur in the sent text and sit between repeated lines.
"""

from __future__ import annotations

import re

_SHINGLE = 3
_SHARE = 0.6  # of a line's shingles found in the sent text: a re-wrap splits a few


def _words(line: str) -> list[str]:
    return re.findall(r"\w+", line.lstrip(" \t>").casefold())


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def _contains(sequence: list[str], part: list[str]) -> bool:
    size = len(part)
    return any(sequence[i : i + size] == part for i in range(len(sequence) - size + 1))


def repeated_lines(lines: list[str], sent: str) -> set[int]:
    """Indexes of ``lines`` that repeat ``sent`` (blank lines inside such a run included)."""
    sent_words = _words(sent.replace("\n", " "))
    known = _shingles(sent_words)
    if not known:
        return set()
    sure, maybe = set(), set()
    for index, line in enumerate(lines):
        words = _words(line)
        if len(words) > _SHINGLE:
            found = _shingles(words)
            if len(found & known) >= _SHARE * len(found):
                sure.add(index)
        elif words and _contains(sent_words, words):
            maybe.add(index)
    return sure | _between(lines, sure, maybe)


def _between(lines: list[str], sure: set[int], maybe: set[int]) -> set[int]:
    """Short or blank lines whose nearest telling lines both repeat the sent text (or that
    end the reply below one that does)."""
    telling = [i for i, line in enumerate(lines) if line.strip() and i not in maybe]
    marked, position = set(), 0
    for index, line in enumerate(lines):
        while position < len(telling) and telling[position] < index:
            position += 1
        if index in sure or (line.strip() and index not in maybe):
            continue
        above = telling[position - 1] if position > 0 else None
        below = telling[position] if position < len(telling) else None
        if above in sure and (below is None or below in sure):  # inside, or the tail
            marked.add(index)
    return marked
