"""A validated sequence with the text of every template it names: what an enrollment pins.

``snapshot()`` is the stored form (plain JSON); ``content_hash`` keys it, so an edit of the
YAML or of any template it uses gives a new version, and ``from_snapshot`` rebuilds exactly.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from sequences.model import Sequence

_TEMPLATE_PATH = re.compile(r"^[^\s]+\.(md|txt|html)(\.j2)?$")


def is_template_path(text: str) -> bool:
    """A body names a workspace file when it has no whitespace and ends .md/.txt/.html[.j2]."""
    return bool(_TEMPLATE_PATH.match(text))


@dataclass(frozen=True)
class SequenceDocument:
    """A sequence plus its templates (workspace-relative path -> source text)."""

    sequence: Sequence
    templates: Mapping[str, str] = field(default_factory=dict)
    path: str = "<snapshot>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "templates", MappingProxyType(dict(self.templates)))

    def snapshot(self) -> dict[str, Any]:
        """JSON-able form: the sequence as written (aliases, no empty keys) and its templates."""
        return {
            "sequence": self.sequence.model_dump(mode="json", by_alias=True, exclude_none=True),
            "templates": dict(sorted(self.templates.items())),
        }

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of ``snapshot()``."""
        canonical = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> SequenceDocument:
        """The document ``snapshot()`` was taken from."""
        return cls(Sequence.model_validate(data["sequence"]), dict(data.get("templates", {})))

    def source(self, text: str) -> str:
        """The template source of a body/subject: the file's text, or ``text`` when inline."""
        return self.templates.get(text, text) if is_template_path(text) else text
