"""The FastAPI app: provider webhooks, the API, unsubscribe links, shared dependencies.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "api",
    "app",
    "deps",
    "unsubscribe",
    "webhooks",
]
