"""The sequence language: YAML to frozen, validated models; templates; checks; graphs.

Pure: no Prefect, SQLAlchemy or httpx here (a test keeps it so); the only I/O is reading
the sequence and template files of a workspace.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sequences.document import SequenceDocument
    from sequences.errors import DefinitionError, Problem
    from sequences.loader import load_sequence
    from sequences.model import Sequence
    from sequences.templates import RenderedMessage, choose_variant, render_step, sample_context

_HOMES = {
    "DefinitionError": "sequences.errors",
    "Problem": "sequences.errors",
    "RenderedMessage": "sequences.templates",
    "Sequence": "sequences.model",
    "SequenceDocument": "sequences.document",
    "choose_variant": "sequences.templates",
    "load_sequence": "sequences.loader",
    "render_step": "sequences.templates",
    "sample_context": "sequences.templates",
}


def __getattr__(name: str) -> Any:
    """The public names load on first use, so that importing ``sequences.errors`` alone (the
    command line's error types) does not load pydantic, Jinja2 and YAML: ``nurture --help``
    stays fast."""
    if name not in _HOMES:
        raise AttributeError(f"module 'sequences' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


__all__ = [
    "DefinitionError",
    "Problem",
    "RenderedMessage",
    "Sequence",
    "SequenceDocument",
    "choose_variant",
    "load_sequence",
    "render_step",
    "sample_context",
]
