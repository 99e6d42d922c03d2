"""Campaign files to validated models, or every problem located at ``file:line:column``."""

from __future__ import annotations

from pathlib import Path

from campaigns.model import Campaign
from sequences.errors import DefinitionError, Problem
from sequences.source import Source, parse_yaml, sorted_problems
from sequences.validation import validate


def load_campaign(path: Path) -> Campaign:
    """The campaign of one file; DefinitionError listing every error otherwise.

    The sequence it names is checked by ``campaigns.workspace.load_workspace``.
    """
    campaign, _, problems = check_campaign_file(path)
    if campaign is None or any(problem.severity == "error" for problem in problems):
        raise DefinitionError(sorted_problems(problems))
    return campaign


def check_campaign_file(path: Path) -> tuple[Campaign | None, Source | None, list[Problem]]:
    """The campaign (None when invalid), its parsed source, and every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, [Problem(str(path), 1, 1, f"cannot read the file: {exc}")]
    return check_campaign_text(text, str(path))


def check_campaign_text(
    text: str, file: str
) -> tuple[Campaign | None, Source | None, list[Problem]]:
    """Like ``check_campaign_file`` for text already read."""
    source, problems = parse_yaml(text, file)
    if source is None:
        return None, None, problems
    if not isinstance(source.data, dict):
        message = "a campaign file is a mapping with at least 'campaign', 'sequence' and 'sender'"
        return None, source, [*problems, source.problem((), message)]
    campaign, structural = validate(Campaign, source)
    problems += structural
    if campaign is not None:
        problems += _pace(campaign, source)
    return campaign, source, sorted_problems(problems)


def _pace(campaign: Campaign, source: Source) -> list[Problem]:
    limits = campaign.limits
    if limits.per_hour > limits.per_day:
        message = f"per_hour ({limits.per_hour}) is above per_day ({limits.per_day}): per_day wins"
        return [source.problem(("limits", "per_hour"), message, severity="warning")]
    return []
