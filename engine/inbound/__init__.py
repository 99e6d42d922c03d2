"""Provider events and replies: applying them (one or a batch), matching a reply to our
message, its intent, replies held for review.
"""

__all__ = [
    "batches",
    "events",
    "intent",
    "intent_rules",
    "matching",
    "review",
]
