"""The FastAPI app: provider webhooks, the API, unsubscribe links, shared dependencies."""

__all__ = [
    "api",
    "app",
    "deps",
    "unsubscribe",
    "webhooks",
]
