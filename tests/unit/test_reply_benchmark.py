"""The reading figures published in docs/reply-intent.md and README are the benchmark's."""

from __future__ import annotations

from pathlib import Path

from benchmarks.replies import intent_figures, new_text_figures

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "docs" / "reply-intent.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_held_out_figures_are_published_and_do_not_regress() -> None:
    new_text = new_text_figures("heldout", misses=False)
    intent = intent_figures("heldout", misses=False)
    assert new_text["accuracy"] >= 0.85 and intent["accuracy"] >= 0.75
    assert f"**{new_text['accuracy']:.3f}**" in DOCS and f"**{intent['accuracy']:.3f}**" in DOCS
    for name, row in intent["per_intent"].items():
        published = f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['support']} |"
        assert published in DOCS
    assert f"new text kept exactly {new_text['accuracy']:.3f}, intent right" in README
    assert f"intent right {intent['accuracy']:.3f}" in README


def test_opt_outs_are_never_misread_as_interest() -> None:
    """Precision on the two intents that act on their own, over the whole corpus."""
    intent = intent_figures("all", misses=False)["per_intent"]
    assert intent["unsubscribe"]["precision"] >= 0.9
    assert intent["interested"]["precision"] >= 0.9


def test_interest_that_acts_on_its_own_is_precise_on_held_out_replies() -> None:
    """A false "interested" makes someone a candidate and emails them: the verdicts that act
    without a person (confidence >= review_below) must be right; unsure ones wait."""
    acted = intent_figures("heldout", misses=False)["interested_acted"]
    assert acted["precision"] >= 0.9
