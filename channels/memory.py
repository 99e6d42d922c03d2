"""An in-memory channel for tests and the demo: it keeps what it is asked to send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from channels.base import ChannelConfig, ChannelName, ChannelSettings, OutboundMessage, Receipt
from channels.errors import ChannelConfigError, DeliveryError


class MemoryChannel:
    """Records messages in ``sent``; addresses told to ``fail`` get that error instead.

    ``attempts`` holds every message offered, failed or not, in order; ``batches`` the size
    of each ``send`` call.
    """

    name: ClassVar[str] = "memory"
    title: ClassVar[str] = "the memory channel"
    serves: ClassVar[frozenset[ChannelName]] = frozenset({"email", "sms", "whatsapp"})
    settings_model: ClassVar[type[ChannelSettings]] = ChannelSettings  # it has none
    setup_url: ClassVar[str] = "docs/architecture.md"
    needs_public_url: ClassVar[bool] = False

    def __init__(
        self, failures: Mapping[str, DeliveryError | ChannelConfigError] | None = None
    ) -> None:
        self.sent: list[OutboundMessage] = []
        self.attempts: list[OutboundMessage] = []
        self.batches: list[int] = []
        self.failures: dict[str, DeliveryError | ChannelConfigError] = dict(failures or {})
        self.closed = False

    @classmethod
    def from_config(cls, config: ChannelConfig) -> MemoryChannel:
        return cls()

    def fail(self, address: str, error: DeliveryError | ChannelConfigError) -> None:
        """Every later message to ``address`` fails with ``error``."""
        self.failures[address] = error

    def recover(self, address: str) -> None:
        self.failures.pop(address, None)

    def sent_to(self, address: str) -> list[OutboundMessage]:
        return [message for message in self.sent if message.to == address]

    def clear(self) -> None:
        self.sent.clear()
        self.attempts.clear()
        self.batches.clear()

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        self.batches.append(len(messages))
        receipts = []
        for message in messages:
            self.attempts.append(message)
            error = self.failures.get(message.to)
            if error is not None:
                receipts.append(Receipt(message.message_id, error=error))
                continue
            self.sent.append(message)
            receipts.append(Receipt(message.message_id, f"memory-{message.message_id}"))
        return receipts

    async def aclose(self) -> None:
        self.closed = True
