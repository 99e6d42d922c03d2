"""Campaigns and the recruiter's workspace: ``load_workspace`` reads every file and reports
every problem at once; audiences select the talents a campaign enrolls.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "audience",
    "loader",
    "model",
    "schema",
    "workspace",
]
