"""Selecting and enrolling an audience, advancing enrollments through the interpreter, planning
messages into the outbox, the recruiter's to-dos.
"""

__all__ = [
    "audience",
    "enroll",
    "planning",
    "progress",
    "todos",
]
