"""The sequence language: YAML to frozen, validated models; templates; checks; graphs.

Pure: no Prefect, SQLAlchemy or httpx here (a test keeps it so); the only I/O is reading
the sequence and template files of a workspace.
"""

from __future__ import annotations

from sequences.document import SequenceDocument
from sequences.errors import DefinitionError, Problem
from sequences.loader import load_sequence
from sequences.model import Sequence
from sequences.templates import RenderedMessage, choose_variant, render_step, sample_context

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
