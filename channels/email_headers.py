"""Header values every email channel writes the same way."""

from __future__ import annotations


def reply_to_address(token: str, inbound_domain: str) -> str:
    """The Reply-To that routes a reply back through Inbound Parse with its token."""
    return f"reply+{token}@{inbound_domain}"


def list_unsubscribe_headers(
    url: str | None, token: str | None = None, inbound_domain: str | None = None
) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe (URL, plus our mailto: when possible) and RFC 8058 one-click."""
    if url is None:
        return {}
    targets = [f"<{url}>"]
    if token and inbound_domain:
        targets.append(f"<mailto:unsubscribe+{token}@{inbound_domain}>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
