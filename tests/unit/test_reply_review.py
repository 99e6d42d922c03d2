"""Which verdicts wait for a person before the sequence acts on them."""

from __future__ import annotations

import pytest

from engine.inbound.intent import Verdict
from engine.inbound.review import held


@pytest.mark.parametrize(
    ("verdict", "review_below", "expected"),
    [
        (Verdict("interested", 0.55, "'yes' (1); outweighs question"), 0.6, True),
        (Verdict("interested", 0.6, "'yes' (1)"), 0.6, False),
        (Verdict("not_interested", 0.7, "'no thanks' (2)"), 0.8, True),
        (Verdict("unsubscribe", 0.3, "'remove me' (3); outweighs ..."), 0.6, False),  # at once
        (Verdict("other", 0.5, "no intent cue found"), 0.6, False),  # the plain replied branch
        (Verdict("question", 0.55, "'?' (1.5)"), 0.0, False),  # 0 turns holding off
    ],
)
def test_held(verdict: Verdict, review_below: float, expected: bool) -> None:
    assert held(verdict, review_below) is expected
