"""Sign-in attempts slowed down: after too many failures for one account, or from one client
address, within a window, the sign-in form answers 429 until the oldest failure leaves it.

The failures are kept in this process's memory: enough for one ``nurture serve``; several
processes behind a load balancer would each allow their own count (docs/desk.md says so).
A blocked attempt is refused before its password is checked, so it teaches nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

PER_ACCOUNT = 5  # failures for one email in the window
PER_ADDRESS = 20  # from one client address (an office behind one NAT shares it)
WINDOW = timedelta(minutes=15)
_MOST_KEYS = 10_000  # beyond this, keys without a recent failure are forgotten


@dataclass
class SignInThrottle:
    """Failed sign-ins per key (``account:EMAIL``, ``address:IP``) within :data:`WINDOW`."""

    per_account: int = PER_ACCOUNT
    per_address: int = PER_ADDRESS
    window: timedelta = WINDOW
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def wait(self, account: str, address: str, now: datetime) -> timedelta | None:
        """How long until one more attempt is allowed, or None when it is allowed now."""
        waits = [
            self._wait(f"account:{account}", self.per_account, now),
            self._wait(f"address:{address}", self.per_address, now),
        ]
        return max((w for w in waits if w is not None), default=None)

    def failed(self, account: str, address: str, now: datetime) -> None:
        if len(self._failures) > _MOST_KEYS:
            for key in list(self._failures):
                self._recent(key, now)
        for key in (f"account:{account}", f"address:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        """The right password: the account's failures are forgotten (its address's are not)."""
        self._failures.pop(f"account:{account}", None)

    def _wait(self, key: str, limit: int, now: datetime) -> timedelta | None:
        times = self._recent(key, now)
        if len(times) < limit:
            return None
        return times[-limit] + self.window - now

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times
