"""Recruiters' accounts and their sign-in sessions.

Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed on sign-in when they
change). A session's cookie carries a random token; the database keeps only its SHA-256, so
a leaked database opens no session. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.store.models import DeskSession, DeskUser
from sequences.errors import InputError

SESSION_LIFETIME = timedelta(days=7)
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class SignedIn:
    """The recruiter behind a request, and the CSRF token their forms carry."""

    user_id: int
    email: str
    csrf: str


def _normal(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise InputError(f"{email!r} is not an email address")
    return email


def add_user(session: Session, email: str, password: str, *, now: datetime) -> DeskUser:
    """A new account; InputError when the email is taken or the password too short."""
    email = _normal(email)
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
    if session.scalar(select(DeskUser.id).where(DeskUser.email == email)) is not None:
        raise InputError(f"{email} already has an account (`nurture users remove {email}`)")
    user = DeskUser(email=email, password_hash=_hasher.hash(password), created_at=now)
    session.add(user)
    session.flush([user])
    return user


def remove_user(session: Session, email: str) -> None:
    """Delete an account and sign out its sessions; InputError when there is none."""
    user = session.scalar(select(DeskUser).where(DeskUser.email == _normal(email)))
    if user is None:
        raise InputError(f"no account {email!r}")
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id))
    session.delete(user)


def sign_in(session: Session, email: str, password: str, *, now: datetime) -> str | None:
    """A new session's cookie token for the right password, else None."""
    try:
        email = _normal(email)
    except InputError:
        return None
    user = session.scalar(select(DeskUser).where(DeskUser.email == email))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    session.add(DeskSession(token_hash=_digest(token), user_id=user.id,
                            csrf=secrets.token_urlsafe(32), created_at=now,
                            expires_at=now + SESSION_LIFETIME))  # fmt: skip
    session.execute(delete(DeskSession).where(DeskSession.expires_at <= now))
    return token


def signed_in(session: Session, token: str, *, now: datetime) -> SignedIn | None:
    """Who holds this cookie token, while the session lasts."""
    query = (
        select(DeskSession, DeskUser.email)
        .join(DeskUser, DeskUser.id == DeskSession.user_id)
        .where(DeskSession.token_hash == _digest(token), DeskSession.expires_at > now)
    )
    found = session.execute(query).first()
    if found is None:
        return None
    row, email = found
    return SignedIn(row.user_id, email, row.csrf)


def sign_out(session: Session, token: str) -> None:
    session.execute(delete(DeskSession).where(DeskSession.token_hash == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
