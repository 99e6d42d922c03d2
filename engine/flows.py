"""Where deployments made before the move into rooms find the tick flow.

Their entry point is ``engine.flows:campaign_tick``; the flow lives in :mod:`engine.runs.flows`.
"""

from engine.runs.flows import campaign_tick

__all__ = ["campaign_tick"]
