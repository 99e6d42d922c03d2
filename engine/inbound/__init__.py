"""Provider events and replies: applying them (one or a batch), matching a reply to our
message, its intent, replies held for review.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "batches",
    "events",
    "intent",
    "intent_rules",
    "matching",
    "review",
]
