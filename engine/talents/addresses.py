"""A person's addresses: normalized emails and E.164 phones, their hashes, the suppression list,
finding a talent by address."""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.dialect import address_hash, address_hash_of, among
from engine.store.models import Suppression, Talent
from sequences.errors import InputError


def normalize_email(raw: str) -> str:
    """Lower-cased, validated address; InputError names what is wrong."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InputError(f"email {raw.strip()!r} is not valid: {exc}") from exc


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 form of ``raw``, read in ``region`` when it has no +country prefix."""
    return _e164(_phone_number(raw, region))


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_number(raw: str, region: str | None) -> phonenumbers.PhoneNumber:
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InputError(f"phone {raw.strip()!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        where = f" in region {region}" if region else ""
        raise InputError(f"phone {raw.strip()!r} is not a valid number{where}")
    return number


def is_suppressed(session: Session, *addresses: str | None) -> bool:
    return bool(suppressed(session, [a for a in addresses if a]))


def suppressed(session: Session, addresses: Iterable[str]) -> set[str]:
    """Those of ``addresses`` on the suppression list (one query)."""
    hashes = {address_hash(address): address for address in addresses}
    if not hashes:
        return set()
    found = session.scalars(
        select(Suppression.address_hash).where(among(session, Suppression.address_hash, hashes))
    )
    return {hashes[value] for value in found}


def talents_by_id(session: Session, ids: Iterable[int]) -> dict[int, Talent]:
    return {
        t.id: t for t in session.scalars(select(Talent).where(among(session, Talent.id, set(ids))))
    }


def find_talent(session: Session, address: str) -> Talent:
    """The talent with this email or phone; InputError when there is none."""
    address = address.strip()
    key = address.lower() if "@" in address else normalize_phone(address)
    column = Talent.email if "@" in address else Talent.phone
    talent = session.scalar(select(Talent).where(column == key))
    if talent is None:
        raise InputError(f"no talent with {'email' if '@' in address else 'phone'} {address}")
    return talent


__all__ = [
    "address_hash",
    "address_hash_of",
    "find_talent",
    "is_suppressed",
    "normalize_email",
    "normalize_phone",
    "suppressed",
    "talents_by_id",
]
