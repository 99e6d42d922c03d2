"""Talents in and out: normalizing addresses, importing CSV files, finding a person.

An import is one transaction: every row is validated first, then new talents are inserted
and existing ones (same email or phone) merged, in bulk. ``dry_run`` rolls it all back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezone
from sqlalchemy import String, func, insert, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from engine.db import among
from engine.models import Engagement, Suppression, Talent, TalentLabel
from sequences.errors import InputError
from sequences.model import STAGES

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "timezone",
    "country",
    "city",
    "company",
    "title",
    "source",
)
ALIASES: dict[str, str] = {
    alias: name
    for name, aliases in {
        "first_name": ("first name", "firstname", "given name", "forename", "prenom", "vorname"),
        "last_name": ("last name", "lastname", "surname", "family name", "nom", "nachname"),
        "name": ("name", "full name", "fullname", "display name"),
        "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email"),
        "phone": ("phone", "phone number", "mobile", "mobile phone", "cell", "telephone", "tel"),
        "timezone": ("timezone", "time zone", "tz"),
        "country": ("country", "country code", "pays", "land"),
        "city": ("city", "location", "town", "ville", "stadt"),
        "company": ("company", "employer", "organization", "organisation", "current company"),
        "title": ("title", "job title", "position", "role", "headline"),
        "source": ("source", "lead source", "origin"),
        "tags": ("tags", "tag", "labels"),
        "skills": ("skills", "skill", "technologies", "tech stack"),
        "stage": ("stage", "lifecycle stage"),
        "linkedin": ("linkedin", "linkedin url", "linkedin profile"),
        "github": ("github", "github url"),
        "website": ("website", "url", "homepage", "portfolio"),
    }.items()
    for alias in (*aliases, name)
}
LINK_FIELDS = ("linkedin", "github", "website")
_SPLIT = re.compile(r"\s*[|;,]\s*")


def normalize_email(raw: str) -> str:
    """Lower-cased, validated address; InputError names what is wrong."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InputError(f"email {raw.strip()!r} is not valid: {exc}") from exc


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 form of ``raw``, read in ``region`` when it has no +country prefix."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InputError(f"phone {raw.strip()!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        where = f" in region {region}" if region else ""
        raise InputError(f"phone {raw.strip()!r} is not a valid number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def address_hash(address: str) -> str:
    """The suppression-list key of a normalized email or E.164 phone."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


class address_hash_of(FunctionElement[str]):
    """:func:`address_hash` of a column, in SQL (a registered function on SQLite)."""

    type = String()
    inherit_cache = True


@compiles(address_hash_of, "sqlite")
def _address_hash_sqlite(element: address_hash_of, compiler: Any, **kw: Any) -> str:
    return f"nurture_address_hash({compiler.process(element.clauses, **kw)})"


@compiles(address_hash_of, "postgresql")
def _address_hash_postgresql(element: address_hash_of, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"encode(sha256(convert_to(lower(btrim({column})), 'UTF8')), 'hex')"


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


@dataclass
class Row:
    """One validated CSV row, ready to create or merge."""

    line: int
    email: str | None
    phone: str | None
    profile: dict[str, Any]
    tags: set[str]
    skills: set[str]
    links: dict[str, str]
    attributes: dict[str, str]
    stage: str | None


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # rows folded into an earlier row of the same person in the file
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.duplicates + len(self.rejected)


def read_csv(data: bytes) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Decode (BOM-aware), sniff the delimiter, map headers; yields (line number, row)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", ",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, None)
    if not header:
        raise InputError("the file is empty: expected a header row")
    columns = [_column(name) for name in header]
    if "email" not in columns and "phone" not in columns:
        raise InputError("line 1: the header has no email or phone column")

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for values in reader:
            if any(value.strip() for value in values):
                yield reader.line_num, dict(zip(columns, values, strict=False))

    return columns, rows()


def _column(header: str) -> str:
    key = " ".join(re.sub(r"[_\-.]+", " ", header.strip().lower()).split())
    key = key.replace("é", "e")
    return ALIASES.get(key, ALIASES.get(key.replace(" ", ""), key.replace(" ", "_")))


def parse_row(line: int, raw: Mapping[str, str], region: str | None) -> Row:
    """Validate one row; InputError names the field that is wrong."""
    values = {key: (value or "").strip() for key, value in raw.items() if key}
    country = values.get("country", "").upper() or None
    if country and not (len(country) == 2 and country.isalpha()):
        raise InputError(f"country {values['country']!r} is not an ISO 3166 two-letter code")
    email = normalize_email(values["email"]) if values.get("email") else None
    phone = normalize_phone(values["phone"], country or region) if values.get("phone") else None
    if email is None and phone is None:
        raise InputError("no email and no phone: nothing to reach this person by")
    first, last = values.get("first_name", ""), values.get("last_name", "")
    if not (first or last) and values.get("name"):
        first, _, last = values["name"].partition(" ")
    profile = {
        "first_name": first or None,
        "last_name": last.strip() or None,
        "timezone": _timezone(values.get("timezone", ""), phone),
        "country": country,
        "city": values.get("city") or None,
        "company": values.get("company") or None,
        "title": values.get("title") or None,
        "source": values.get("source") or None,
    }
    stage = values.get("stage", "").lower() or None
    if stage and stage not in STAGES:
        raise InputError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    known = {*ALIASES.values()}
    return Row(
        line=line,
        email=email,
        phone=phone,
        profile=profile,
        tags=_labels(values.get("tags", "")),
        skills=_labels(values.get("skills", "")),
        links={key: values[key] for key in LINK_FIELDS if values.get(key)},
        attributes={k: v for k, v in values.items() if k not in known and v},
        stage=stage,
    )


def _labels(cell: str) -> set[str]:
    return {label.lower() for label in _SPLIT.split(cell) if label}


def _timezone(value: str, phone: str | None) -> str | None:
    if value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InputError(
                f"timezone {value!r} is not an IANA zone such as Europe/Berlin"
            ) from exc
        return value
    if phone:  # a number tied to one zone tells us where the person lives
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(phone))
        if len(zones) == 1 and zones[0] != "Etc/Unknown":
            return str(zones[0])
    return None


Progress = Callable[[int], None]
_CHUNK = 500


def import_talents(
    session: Session,
    rows: Iterator[tuple[int, dict[str, str]]],
    *,
    now: datetime,
    region: str | None = None,
    source_name: str = "csv",
    progress: Progress | None = None,
) -> ImportReport:
    """Validate every row, then create or merge talents in bulk inside ``session``'s transaction."""
    report = ImportReport()
    valid: list[Row] = []
    for line, raw in rows:
        try:
            valid.append(parse_row(line, raw, region))
        except InputError as exc:
            report.rejected.append((line, str(exc)))
        if progress:
            progress(1)
    unique = _merge_duplicates(valid, report)
    unique = _drop_suppressed(session, unique, report)
    existing = _load_existing(session, unique)
    creates, updates = _match(unique, existing, report)
    _create(session, creates, now, source_name)
    report.created = len(creates)
    changed = _update(session, updates, now, source_name)
    report.updated, report.unchanged = changed, len(updates) - changed
    report.rejected.sort()
    return report


def _merge_duplicates(rows: list[Row], report: ImportReport) -> list[Row]:
    """Fold rows of the same person (same email or phone) into the first one."""
    by_key: dict[str, Row] = {}
    kept: list[Row] = []
    for row in rows:
        keys = [key for key in (row.email, row.phone) if key]
        owners = {id(by_key[key]): by_key[key] for key in keys if key in by_key}
        if len(owners) > 1:
            lines = sorted(owner.line for owner in owners.values())
            report.rejected.append(
                (row.line, f"email and phone belong to different earlier rows {lines}")
            )
            continue
        if owners:
            first = next(iter(owners.values()))
            if row.email and first.email and row.email != first.email:
                report.rejected.append(
                    (row.line, f"phone {row.phone} is already on line {first.line} "
                     f"with another email ({first.email})")
                )  # fmt: skip
                continue
            _fold(first, row)
            report.duplicates += 1
        else:
            first = row
            kept.append(row)
        for key in (first.email, first.phone):
            if key:
                by_key[key] = first
    return kept


def _fold(into: Row, row: Row) -> None:
    """The first row of a person wins; later duplicates only fill its gaps and add labels."""
    into.email = into.email or row.email
    into.phone = into.phone or row.phone
    into.profile = {k: into.profile.get(k) or v for k, v in row.profile.items()}
    into.tags |= row.tags
    into.skills |= row.skills
    into.links = {**row.links, **into.links}
    into.attributes = {**row.attributes, **into.attributes}
    into.stage = into.stage or row.stage


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _drop_suppressed(session: Session, rows: list[Row], report: ImportReport) -> list[Row]:
    hashes = {address_hash(a) for row in rows for a in (row.email, row.phone) if a}
    found: set[str] = set()
    for chunk in _chunks(sorted(hashes)):
        query = select(Suppression.address_hash).where(Suppression.address_hash.in_(chunk))
        found.update(session.scalars(query))
    if not found:
        return rows
    kept = []
    for row in rows:
        if any(a and address_hash(a) in found for a in (row.email, row.phone)):
            report.rejected.append((row.line, "this address is suppressed (erased or opted out)"))
        else:
            kept.append(row)
    return kept


def _load_existing(session: Session, rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Existing talents keyed by email and by phone, as plain dicts with their labels."""
    columns = [Talent.id, Talent.email, Talent.phone, Talent.links, Talent.attributes]
    columns += [getattr(Talent, name) for name in PROFILE_FIELDS]
    found: dict[int, dict[str, Any]] = {}
    for column, values in ((Talent.email, [r.email for r in rows if r.email]),
                           (Talent.phone, [r.phone for r in rows if r.phone])):  # fmt: skip
        for chunk in _chunks(values):
            for found_row in session.execute(select(*columns).where(column.in_(chunk))).mappings():
                found[found_row["id"]] = {**found_row, "tag": set(), "skill": set()}
    for chunk in _chunks(list(found)):  # type: ignore[arg-type]
        query = select(TalentLabel.talent_id, TalentLabel.kind, TalentLabel.value)
        for talent_id, kind, value in session.execute(
            query.where(TalentLabel.talent_id.in_(chunk))
        ):
            found[talent_id][kind].add(value)
    by_key: dict[str, dict[str, Any]] = {}
    for record in found.values():
        for key in (record["email"], record["phone"]):
            if key:
                by_key[key] = record
    return by_key


def _match(
    rows: list[Row], existing: dict[str, dict[str, Any]], report: ImportReport
) -> tuple[list[Row], list[tuple[Row, dict[str, Any]]]]:
    creates: list[Row] = []
    updates: list[tuple[Row, dict[str, Any]]] = []
    for row in rows:
        by_email = existing.get(row.email) if row.email else None
        by_phone = existing.get(row.phone) if row.phone else None
        if by_email and by_phone and by_email["id"] != by_phone["id"]:
            report.rejected.append(
                (
                    row.line,
                    f"email matches talent #{by_email['id']} but phone matches "
                    f"talent #{by_phone['id']}: merge them by hand",
                )
            )
        elif by_phone and row.email and by_phone["email"] and row.email != by_phone["email"]:
            report.rejected.append(
                (row.line, f"phone {row.phone} belongs to talent #{by_phone['id']} "
                 f"who has another email ({by_phone['email']})")
            )  # fmt: skip
        elif match := by_email or by_phone:
            updates.append((row, match))
        else:
            creates.append(row)
    return creates, updates


def _create(session: Session, rows: list[Row], now: datetime, source_name: str) -> None:
    if not rows:
        return
    values = [
        {
            "email": row.email,
            "phone": row.phone,
            **row.profile,
            "links": row.links,
            "attributes": row.attributes,
            "stage": row.stage or "person",
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
    ]
    session.execute(insert(Talent), values)  # plain executemany: RETURNING is slow on SQLite
    ids = _ids_of(session, rows)
    _insert_labels(session, zip(ids, rows, strict=True))
    session.execute(
        insert(Engagement),
        [
            {"talent_id": talent_id, "kind": "imported", "occurred_at": now, "data": {},
             "detail": f"imported from {source_name} line {row.line}"}
            for talent_id, row in zip(ids, rows, strict=True)
        ],
    )  # fmt: skip


def _ids_of(session: Session, rows: list[Row]) -> list[int]:
    """The ids of freshly inserted rows, looked up by their email (or phone)."""
    ids: dict[str, int] = {}
    for column, values in ((Talent.email, [r.email for r in rows if r.email]),
                           (Talent.phone, [r.phone for r in rows if not r.email])):  # fmt: skip
        for chunk in _chunks(values):  # type: ignore[arg-type]
            query = select(column, Talent.id).where(column.in_(chunk))
            ids.update((key, talent_id) for key, talent_id in session.execute(query))
    return [ids[row.email or row.phone] for row in rows]  # type: ignore[index]


def _insert_labels(
    session: Session, pairs: Iterator[tuple[int, Row]], known: Mapping[int, Any] | None = None
) -> None:
    labels = [
        {"talent_id": talent_id, "kind": kind, "value": value}
        for talent_id, row in pairs
        for kind, values in (("tag", row.tags), ("skill", row.skills))
        for value in sorted(values - (known[talent_id][kind] if known else set()))
    ]
    if labels:
        session.execute(insert(TalentLabel), labels)


def _update(
    session: Session, updates: list[tuple[Row, dict[str, Any]]], now: datetime, source_name: str
) -> int:
    """Merge rows into their talents: given values win, empty cells keep what is there."""
    changes: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    label_pairs: list[tuple[int, Row]] = []
    known: dict[int, Any] = {}
    for row, current in updates:
        diff = _diff(row, current)
        new_labels = (row.tags - current["tag"]) or (row.skills - current["skill"])
        if not diff and not new_labels:
            continue
        changes.append({"id": current["id"], **diff, "updated_at": now})
        fields = sorted([*diff, *(["tags/skills"] if new_labels else [])])
        timeline.append({"talent_id": current["id"], "kind": "updated", "occurred_at": now,
                         "detail": f"updated from {source_name} line {row.line}",
                         "data": {"fields": fields}})  # fmt: skip
        label_pairs.append((current["id"], row))
        known[current["id"]] = current
    if changes:
        session.execute(update(Talent), changes)
        session.execute(insert(Engagement), timeline)
        _insert_labels(session, iter(label_pairs), known)
    return len(changes)


def _diff(row: Row, current: Mapping[str, Any]) -> dict[str, Any]:
    diff = {k: v for k, v in row.profile.items() if v and v != current[k]}
    if row.email and row.email != current["email"]:
        diff["email"] = row.email
    if row.phone and row.phone != current["phone"]:
        diff["phone"] = row.phone
    for name, given in (("links", row.links), ("attributes", row.attributes)):
        merged = {**(current[name] or {}), **given}
        if merged != (current[name] or {}):
            diff[name] = merged
    return diff


def count_talents(session: Session) -> int:
    return session.scalar(select(func.count(Talent.id))) or 0
