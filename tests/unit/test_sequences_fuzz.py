"""Random YAML never crashes the loader: it validates, or it yields located problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.loader import check_campaign_text
from sequences.errors import Problem
from sequences.loader import check_sequence_text

KEYS = [
    *("sequence", "kind", "trigger", "settings", "steps", "id", "channel", "subject", "body"),
    *("on", "when", "after", "goto", "exit", "set", "wait", "thread", "variants", "weight"),
    *("if", "title", "timezone", "holidays", "send_window", "from", "to", "days", "stop_on"),
    *("campaign", "sender", "audience", "email", "name", "schedule", "cron", "limits"),
]
WORDS = [
    *("email", "sms", "task", "whatsapp", "inbound", "outbound", "replied", "opened"),
    *("replied.interested", "3 days", "2 business days", "09:00", "talent", "FR", "a", "b"),
    *("{{ talent.first_name }}", "{% if %}", "templates/x.md.j2", "Europe/Paris", "*/5 * * * *"),
]
scalars = st.one_of(
    st.sampled_from(WORDS), st.text(max_size=12), st.integers(-5, 500), st.booleans(), st.none()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def _located(problems: list[Problem], file: str) -> bool:
    return all(p.file.endswith(file) or p.file.endswith(".j2") for p in problems) and all(
        p.line >= 1 and p.column >= 1 and p.message for p in problems
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=values)
def test_random_documents_validate_or_give_located_problems(
    data: Any, tmp_path_factory: Any
) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    workspace = Path(tmp_path_factory.getbasetemp())
    document, problems = check_sequence_text(text, "s.yaml", workspace)
    assert document is not None or any(p.severity == "error" for p in problems)
    assert _located(problems, "s.yaml")
    campaign, _, problems = check_campaign_text(text, "c.yaml")
    assert campaign is not None or any(p.severity == "error" for p in problems)
    assert _located(problems, "c.yaml")


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@ \n\t")), max_size=60))
def test_random_text_never_crashes(text: str, tmp_path_factory: Any) -> None:
    document, problems = check_sequence_text(text, "s.yaml", Path(tmp_path_factory.getbasetemp()))
    assert document is None and problems
    assert _located(problems, "s.yaml")


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.fixed_dictionaries(
            {
                "id": st.sampled_from(["a", "b", "c", "d"]),
                "channel": st.sampled_from(["email", "sms", "task"]),
            },
            optional={
                "body": st.sampled_from(WORDS),
                "title": st.sampled_from(WORDS),
                "subject": st.sampled_from(WORDS),
                "thread": st.sampled_from(["a", "b", "zz"]),
                "if": st.sampled_from(["talent.phone", "x(", "talent.nope"]),
                "on": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "when": st.sampled_from(["replied", "completed", "opened", "nope"]),
                            "after": st.sampled_from(["1 days", "2 business days", "soon"]),
                            "goto": st.sampled_from(["a", "b", "c", "d", "e"]),
                            "exit": st.sampled_from(["done", "Bad Exit"]),
                            "wait": st.sampled_from(["1 hours"]),
                        },
                    ),
                    max_size=3,
                ),
            },
        ),
        min_size=1,
        max_size=5,
    )
)
def test_near_valid_sequences_reach_the_semantic_checks(
    steps: list[dict[str, Any]], tmp_path_factory: Any
) -> None:
    text = yaml.safe_dump({"sequence": "s", "steps": steps})
    document, problems = check_sequence_text(text, "s.yaml", Path(tmp_path_factory.getbasetemp()))
    assert document is not None or problems
    assert _located(problems, "s.yaml")
