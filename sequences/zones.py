"""Checks of the calendar words recruiters write: IANA time zones and holiday countries."""

from __future__ import annotations

import zoneinfo
from functools import cache

from sequences.suggest import did_you_mean


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> str:
    """``value`` when it is an IANA zone such as ``Europe/Paris``; ValueError otherwise."""
    if value not in _zones():
        raise ValueError(f"unknown time zone {value!r}{did_you_mean(value, _zones())}")
    return value


@cache
def _countries() -> dict[str, tuple[str, ...]]:
    import holidays  # imported late: it is large and only validation needs the list

    return {code: tuple(subdivs) for code, subdivs in holidays.list_supported_countries().items()}


def check_holiday_country(value: str) -> str:
    """``value`` when it names a country (``FR``) or a subdivision (``DE-BE``) with holidays."""
    country, _, subdivision = value.partition("-")
    countries = _countries()
    if country not in countries:
        hint = did_you_mean(country.upper(), countries)
        raise ValueError(f"unknown holiday country {country!r}{hint}: use an ISO code like 'FR'")
    if subdivision and subdivision not in countries[country]:
        known = countries[country]
        hint = did_you_mean(subdivision.upper(), known)
        raise ValueError(f"unknown subdivision {subdivision!r} of {country}{hint}")
    return value
