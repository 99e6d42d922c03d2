"""The FastAPI app: provider webhooks, the API, unsubscribe links, shared dependencies,
the recruiter's desk."""

__all__ = [
    "api",
    "app",
    "deps",
    "desk",
    "unsubscribe",
    "webhooks",
]
