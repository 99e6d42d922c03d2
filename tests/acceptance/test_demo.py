"""``nurture demo``: the whole product on a fresh workspace, checked from the database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.cli.scaffold import prepare_workspace
from engine.demo.simulation import REPLIES, Simulation
from engine.runs.tick import tick as engine_tick
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent
from sequences.model import INTENTS


def outcome(db: Database) -> dict[str, Any]:
    """Who was sent what, who became a candidate, who opted out."""
    with db.session() as session:
        sent = session.execute(
            select(Talent.email, OutboxMessage.step_id)
            .join(Talent, Talent.id == OutboxMessage.talent_id)
            .where(OutboxMessage.status == "sent")
        ).all()
        twice = session.execute(
            select(OutboxMessage.enrollment_id, OutboxMessage.step_id)
            .group_by(OutboxMessage.enrollment_id, OutboxMessage.step_id)
            .having(func.count() > 1)
        ).all()
        emails = lambda where: sorted(session.scalars(select(Talent.email).where(where)))  # noqa: E731
        return {
            "sent": sorted(map(tuple, sent)),
            "twice": twice,
            "candidates": emails(Talent.stage == "candidate"),
            "email_opt_out": emails(Talent.email_opted_out_at.is_not(None)),
            "sms_opt_out": emails(Talent.sms_opted_out_at.is_not(None)),
            "outcomes": Counter(session.scalars(select(Enrollment.outcome))),
            "replies": sorted(
                (detail or "", data.get("intent"))
                for detail, data in session.execute(
                    select(Engagement.detail, Engagement.data).where(Engagement.kind == "replied")
                )
            ),
        }


def reply_languages(replies: list[tuple[str, str | None]]) -> Counter[tuple[str | None, str]]:
    """(stored intent, language) of each reply, the language told by the demo's reply text.

    A stored text that is not one of the demo's, or a stored intent other than the one the
    text was written to show, fails here: the real classifier must agree with the demo.
    """
    written = {
        text: (intent, lang) for intent, texts in REPLIES.items() for lang, text in texts.items()
    }
    found: Counter[tuple[str | None, str]] = Counter()
    for text, intent in replies:
        assert text.strip() in written, f"not a reply of the demo: {text!r}"
        meant, lang = written[text.strip()]
        assert intent == meant, f"{text!r} classified as {intent}, written as {meant}"
        found[intent, lang] += 1
    return found


@pytest.mark.slow
def test_demo_runs_the_campaign_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "160", "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--seed", "1", "--workspace", str(root)],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]  # Prefect's server included
    assert "Funnel: backend-engineers-q1" in done.stdout
    assert "became a candidate" in done.stdout and "opted out" in done.stdout
    db = Database(f"sqlite:///{root / 'nurture.db'}", migrate=False)
    result = outcome(db)
    db.dispose()
    assert result["twice"] == []  # never the same step twice
    steps = Counter(step for _, step in result["sent"])
    assert steps["intro"] >= 40 and steps["followup"] > 0 and steps["nudge"] > 0
    assert len(result["candidates"]) == steps["book_call"] >= 4
    assert len(result["sms_opt_out"]) == 1  # the STOP
    # the one-click unsubscribe, the hard bounce and the "remove me" replies (en, fr, de)
    assert len(result["email_opt_out"]) == 5
    assert result["outcomes"][None] == 0  # every enrollment reached an end
    ends = {"converted", "not_interested", "bounced", "answered", "unsubscribed", "replied"}
    assert ends <= set(result["outcomes"])  # "replied": the reply of intent other
    languages = reply_languages(result["replies"])
    for intent in INTENTS:  # every intent the classifier knows, in English and in French
        assert languages[intent, "en"] and languages[intent, "fr"], (intent, languages)
        assert languages[intent, "de"], (intent, languages)
    messages = list((root / "outbox").iterdir())
    assert len(messages) == len(result["sent"])  # the file channel wrote each sent message


async def _simulate(root: Path, seed: int) -> dict[str, Any]:
    prepare_workspace(root)
    sim = Simulation(root, seed)
    sim.import_talents()

    async def tick(campaign: str, now: str) -> None:
        from engine.core.clock import clock_from_option

        await engine_tick(sim.db, sim.rt, sim.channels, campaign, clock=clock_from_option(now))

    try:
        await sim.run(tick, lambda _done: None)
        return outcome(sim.db)
    finally:
        await sim.aclose()


@pytest.mark.anyio
async def test_same_seed_same_outcome_and_another_seed_differs(tmp_path: Path) -> None:
    first = await _simulate(tmp_path / "a", 7)
    again = await _simulate(tmp_path / "b", 7)
    other = await _simulate(tmp_path / "c", 8)
    assert first == again
    assert first["candidates"] != other["candidates"]
    for result in (first, other):  # whatever the seed: each intent in English and French
        languages = reply_languages(result["replies"])
        assert all(languages[i, "en"] and languages[i, "fr"] for i in INTENTS), languages
