"""Channel errors; the whole tree is drawn in ``sequences.errors``.

ChannelError
├── ChannelConfigError   settings or credentials wrong: pause the campaign, keep the queue
└── DeliveryError        this message failed
    ├── TransientError   429 / 5xx / no connection: retry later (``retry_after`` if known)
    ├── InDoubtError     sent, but no answer came back: never retry, the row is in doubt
    └── PermanentError   invalid address, recipient unsubscribed: never retry
WebhookError
├── SignatureError       forged, stale or unsigned request: 403
└── PayloadError         malformed body: 400 with the reason
"""

from __future__ import annotations

from sequences.errors import NurtureError


class ChannelError(NurtureError):
    """Talking to a provider went wrong."""


class ChannelConfigError(ChannelError):
    """Missing or rejected settings/credentials; the campaign must pause."""


class DeliveryError(ChannelError):
    """One message could not be delivered."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(DeliveryError):
    """Worth retrying later: rate limited, provider down, timeout."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class InDoubtError(DeliveryError):
    """The request may have reached the provider but no answer came back (a read timeout,
    a connection lost before the response). Sending again could send twice, so the
    message is ``in_doubt`` until a provider event carrying its id says what happened."""


class PermanentError(DeliveryError):
    """Never worth retrying; ``opt_out`` when the provider says the recipient unsubscribed."""

    def __init__(self, message: str, *, code: str | None = None, opt_out: bool = False) -> None:
        super().__init__(message, code=code)
        self.opt_out = opt_out


class WebhookError(NurtureError):
    """An inbound webhook request is not acceptable."""


class SignatureError(WebhookError):
    """The request is not signed by the provider (forged, altered, stale, unsigned)."""


class PayloadError(WebhookError):
    """The request is signed but its body cannot be understood."""
