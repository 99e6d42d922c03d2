"""A recruiter's workspace: ``nurture.yaml``, ``sequences/*.yaml``, ``campaigns/*.yaml``.

``load_workspace`` reads every file and reports every problem of every file at once,
including those across files (a campaign naming a sequence that does not exist, a sender
without the SMS number its sequence needs, two files with the same id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from campaigns.loader import check_campaign_file
from campaigns.model import Campaign
from sequences.document import SequenceDocument
from sequences.errors import DefinitionError, Problem
from sequences.loader import check_sequence_file
from sequences.model import Duration, DurationField, Sequence, SmsStep, WhatsappStep
from sequences.source import Source, parse_yaml, sorted_problems
from sequences.suggest import did_you_mean
from sequences.validation import corrected, validate
from sequences.zones import check_timezone

SETTINGS_FILE = "nurture.yaml"
Intent = Literal[
    "interested", "not_interested", "out_of_office", "unsubscribe", "question", "other"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Company(_Frozen):
    """The hiring company, available to templates as ``company``."""

    name: str = Field(default="", description="Company name, e.g. 'Acme Robotics'.")
    website: str | None = Field(default=None, description="Careers or company site URL.")


class FrequencyCap(_Frozen):
    """At most ``touches`` messages to one talent per ``per``, across all campaigns."""

    touches: int = Field(default=1, ge=1)
    per: DurationField = Field(default=Duration(2, "days"))


class Replies(_Frozen):
    phrases: dict[Intent, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Extra phrases per intent for reply classification, in your languages.",
    )
    review_below: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="A reply whose intent is less sure than this takes no branch: the "
        "recruiter gets a task to check it (0: never). Opt-outs always act at once.",
    )


class WorkspaceSettings(_Frozen):
    """``nurture.yaml``: settings of the whole workspace; every key is optional."""

    company: Company = Company()
    frequency_cap: FrequencyCap = FrequencyCap()
    sms_segment_limit: int = Field(
        default=3, ge=1, description="Warn when an SMS takes more segments than this."
    )
    replies: Replies = Replies()
    email_domain: str | None = Field(
        default=None, description="Domain of the Message-IDs of sent emails (e.g. acme.example)."
    )
    default_timezone: str = Field(
        default="UTC", description="Zone of talents whose zone is unknown, for reports."
    )

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


@dataclass(frozen=True)
class Workspace:
    """Everything a workspace defines, validated; ``warnings`` did not stop it loading."""

    root: Path
    settings: WorkspaceSettings
    sequences: Mapping[str, SequenceDocument]
    campaigns: Mapping[str, Campaign]
    warnings: tuple[Problem, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)  # "sequence:<id>"/"campaign:<id>"


def load_workspace(root: Path) -> Workspace:
    """The workspace at ``root``; DefinitionError with every problem of every file otherwise."""
    workspace, problems = check_workspace(root)
    if workspace is None:
        raise DefinitionError(sorted_problems(problems))
    return workspace


def check_workspace(root: Path) -> tuple[Workspace | None, list[Problem]]:
    """The workspace (None when any error) and every problem, warnings included."""
    if not root.is_dir():
        return None, [Problem(str(root), 1, 1, "workspace folder not found")]
    settings, problems = check_workspace_settings(root)
    sequences, files, broken, found = _sequences(root, settings)
    problems += found
    campaigns, found = _campaigns(root, sequences, files, broken)
    problems += found
    if any(problem.severity == "error" for problem in problems):
        return None, sorted_problems(problems)
    warnings = tuple(sorted_problems(problems))
    return Workspace(root, settings, sequences, campaigns, warnings, files), list(warnings)


def check_workspace_settings(root: Path) -> tuple[WorkspaceSettings, list[Problem]]:
    """``nurture.yaml`` of ``root`` (defaults when absent) and its problems."""
    path = root / SETTINGS_FILE
    if not path.is_file():
        return WorkspaceSettings(), []
    source, problems = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    if source is None or source.data is None:
        return WorkspaceSettings(), problems
    settings, structural = validate(WorkspaceSettings, source)
    return settings or WorkspaceSettings(), problems + structural


def sequence_ids(root: Path) -> list[str]:
    """The ids the sequence files of ``root`` declare, read without validating them (a
    misspelt ``sequnce:`` key read as meant)."""
    return [found for path in _definition_files(root, "sequences") for found in _declared_id(path)]


def _definition_files(root: Path, folder: str) -> list[Path]:
    """The YAML files of ``root/folder``, sorted."""
    return sorted(p for p in (root / folder).glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _sequences(
    root: Path, settings: WorkspaceSettings
) -> tuple[dict[str, SequenceDocument], dict[str, str], set[str], list[Problem]]:
    """The documents by id, their files, the ids of the files too broken to load (the
    declared id, else the file's name) and every problem."""
    documents: dict[str, SequenceDocument] = {}
    files: dict[str, str] = {}
    broken: set[str] = set()
    problems: list[Problem] = []
    limit = settings.sms_segment_limit
    for path in _definition_files(root, "sequences"):
        document, found = check_sequence_file(path, root, sms_segment_limit=limit)
        problems += found
        if document is None:
            broken |= {path.stem, *_declared_id(path)}
            continue
        sequence_id = document.sequence.sequence
        if sequence_id in documents:
            message = (
                f"sequence id {sequence_id!r} is already used by {files['sequence:' + sequence_id]}"
            )
            problems.append(Problem(str(path), *_id_position(path), message))
            continue
        documents[sequence_id] = document
        files[f"sequence:{sequence_id}"] = str(path)
    return documents, files, broken, problems


def _id_position(path: Path) -> tuple[int, int]:
    source, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    return source.at(("sequence",)) if source else (1, 1)


def _declared_id(path: Path) -> list[str]:
    try:
        source, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return []
    data = corrected(Sequence, source.data) if source else None
    value = data.get("sequence") if isinstance(data, dict) else None
    return [value] if isinstance(value, str) else []


def _campaigns(
    root: Path,
    sequences: Mapping[str, SequenceDocument],
    files: dict[str, str],
    broken: set[str],
) -> tuple[dict[str, Campaign], list[Problem]]:
    campaigns: dict[str, Campaign] = {}
    problems: list[Problem] = []
    for path in _definition_files(root, "campaigns"):
        campaign, source, found = check_campaign_file(path)
        problems += found
        if campaign is None or source is None:
            continue
        if campaign.campaign in campaigns:
            other = files[f"campaign:{campaign.campaign}"]
            message = f"campaign id {campaign.campaign!r} is already used by {other}"
            problems.append(source.problem(("campaign",), message))
            continue
        if campaign.sequence not in broken:  # a broken sequence reports its own errors
            problems += _references(campaign, source, sequences)
        campaigns[campaign.campaign] = campaign
        files[f"campaign:{campaign.campaign}"] = str(path)
    return campaigns, problems


def _references(
    campaign: Campaign, source: Source, sequences: Mapping[str, SequenceDocument]
) -> list[Problem]:
    """The campaign's sequence exists, its sender can send on every channel it uses, and an
    inbound one has no audience."""
    document = sequences.get(campaign.sequence)
    if document is None:
        hint = did_you_mean(campaign.sequence, sequences)
        message = f"unknown sequence {campaign.sequence!r}{hint}"
        return [source.problem(("sequence",), message)]
    steps = document.sequence.steps
    sender = campaign.sender
    problems = _inbound_audience(campaign, source, document)
    if any(isinstance(s, SmsStep) for s in steps) and not (
        sender.sms_from or sender.messaging_service_sid
    ):
        message = f"sequence {campaign.sequence!r} sends SMS: the sender needs 'sms_from'"
        problems.append(source.problem(("sender",), message, key=True))
    if any(isinstance(s, WhatsappStep) for s in steps) and not sender.whatsapp_from:
        message = f"sequence {campaign.sequence!r} sends WhatsApp: the sender needs 'whatsapp_from'"
        problems.append(source.problem(("sender",), message, key=True))
    return problems


def _inbound_audience(
    campaign: Campaign, source: Source, document: SequenceDocument
) -> list[Problem]:
    """An inbound sequence enrolls through its trigger: an audience would never be used."""
    sequence = document.sequence
    if sequence.kind != "inbound" or "audience" not in campaign.model_fields_set:
        return []
    event = sequence.trigger.event if sequence.trigger else "its trigger event"
    message = (
        f"sequence {sequence.sequence!r} is inbound: people enter through {event!r} "
        "(POST /api/events), never from an audience; remove 'audience'"
    )
    return [source.problem(("audience",), message, key=True)]
