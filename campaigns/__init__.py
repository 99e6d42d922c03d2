"""Campaigns and the recruiter's workspace: ``load_workspace`` reads every file and reports
every problem at once; an audience says whom a campaign enrolls (engine.enrollments.audience
turns it into a query); ``preview`` is what a step is rendered with.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "loader",
    "model",
    "preview",
    "schema",
    "workspace",
]
