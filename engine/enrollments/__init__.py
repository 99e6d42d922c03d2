"""Enrolling an audience, advancing enrollments through the interpreter, planning
messages into the outbox, the recruiter's to-dos.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "enroll",
    "planning",
    "progress",
    "todos",
]
