"""The one error tree of nurture.

    NurtureError                     root: the CLI prints it and exits 1, no traceback
    ├── DefinitionError              sequence/campaign/workspace YAML or template is wrong
    │                                (carries every Problem found, each with file:line:column)
    │   └── RenderError              a template failed for one talent's data at send time
    │                                (the engine puts that enrollment alone in ``error``)
    ├── InputError                   other user input is wrong (CSV, unknown talent, bad option)
    ├── ChannelError                 channels.errors: talking to a provider went wrong
    │   ├── ChannelConfigError       bad settings or credentials: pause, keep the queue
    │   └── DeliveryError            one message could not be delivered
    │       ├── TransientError       429 / 5xx / no connection: retried with backoff
    │       ├── InDoubtError         sent but unanswered (read timeout): in doubt, never retried
    │       └── PermanentError       invalid address, recipient unsubscribed: never retried
    └── WebhookError                 channels.errors: an inbound webhook is not acceptable
        ├── SignatureError           forged, stale or unsigned: 403, nothing written
        └── PayloadError             malformed body: 400 with the reason, nothing written

Expected outcomes (opted out, outside the send window, guard false) are values,
not exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass


class NurtureError(Exception):
    """Root of every error nurture raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One located finding in a definition file."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.column}: {prefix}{self.message}"


class DefinitionError(NurtureError):
    """A definition (YAML, template) is invalid; ``problems`` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RenderError(DefinitionError):
    """A template failed for one talent's data (a missing attribute, a filter that raised,
    a sandbox limit): ``problems`` holds the one located failure."""


class InputError(NurtureError):
    """A user's input other than a definition is wrong (a CSV row, an option, an unknown id)."""
