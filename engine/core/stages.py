"""Lifecycle stages of a talent and the moves allowed between them, in one place.

    person -> prospect (contacted) -> engaged (opened/clicked/replied)
           -> candidate (showed interest) -> interviewing -> hired
    any stage -> not_interested (with a re-contact date) | do_not_contact

Pure: the rules only. :mod:`engine.talents.moves` applies them and writes the timeline.
"""

from __future__ import annotations

from sequences.model import STAGES

_EXITS = frozenset({"not_interested", "do_not_contact"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "person": frozenset({"prospect", "engaged", "candidate"}) | _EXITS,
    "prospect": frozenset({"engaged", "candidate"}) | _EXITS,
    "engaged": frozenset({"candidate"}) | _EXITS,
    "candidate": frozenset({"interviewing", "hired"}) | _EXITS,
    "interviewing": frozenset({"hired", "candidate"}) | _EXITS,
    "hired": frozenset({"do_not_contact"}),
    "not_interested": frozenset({"person", "prospect", "engaged", "candidate", "do_not_contact"}),
    "do_not_contact": frozenset(),
}
assert set(TRANSITIONS) == set(STAGES)

# A first message sent makes a person a prospect (contacted); other stages stay.
ON_SENT: dict[str, str] = {"person": "prospect"}
assert all(target in TRANSITIONS[current] for current, target in ON_SENT.items())


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())
