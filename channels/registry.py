"""Channel classes by name: the built-ins plus the ``nurture.channels`` entry point group,
loaded, checked and built the same way.

A third-party package registers ``mychannel = "package.module:MyChannel"`` under
``[project.entry-points."nurture.channels"]``; a name registered twice (or shadowing a
built-in) is a configuration error, never a silent override. Every class describes itself
with the class attributes of :class:`~channels.base.ChannelClass` and is built by
``cls.from_config(config)``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import cast

from channels.base import ChannelClass
from channels.errors import ChannelConfigError

GROUP = "nurture.channels"
_BUILTIN = {
    entry.name: entry
    for entry in (
        EntryPoint("sendgrid", "channels.sendgrid:SendgridChannel", GROUP),
        EntryPoint("twilio", "channels.twilio:TwilioChannel", GROUP),
        EntryPoint("file", "channels.file:FileChannel", GROUP),
        EntryPoint("memory", "channels.memory:MemoryChannel", GROUP),
    )
}
_DESCRIPTION = ("title", "serves", "settings_model", "setup_url", "needs_public_url", "from_config")


def _registered() -> dict[str, EntryPoint]:
    found = dict(_BUILTIN)
    for entry in entry_points(group=GROUP):
        if entry.name in found and found[entry.name] != entry:
            other = found[entry.name].value
            message = f"channel name {entry.name!r} is registered twice: {other} and {entry.value}"
            raise ChannelConfigError(message)
        found[entry.name] = entry
    return found


def channel_names() -> list[str]:
    """Every channel name available, built-in and installed."""
    return sorted(_registered())


def _load(entry: EntryPoint) -> ChannelClass:
    where = f"channel {entry.name!r} ({entry.value})"
    try:
        loaded = entry.load()
    except (ImportError, AttributeError) as exc:
        raise ChannelConfigError(f"{where} fails to load: {exc}") from exc
    if not isinstance(loaded, type):
        raise ChannelConfigError(f"{where} is not a class")
    missing = [name for name in _DESCRIPTION if not hasattr(loaded, name)]
    if missing:
        raise ChannelConfigError(f"{where} does not describe itself: no {', '.join(missing)}")
    return cast(ChannelClass, loaded)


def load_channel_class(name: str) -> ChannelClass:
    """The class registered as ``name``; ChannelConfigError when unknown, duplicated, broken
    or not describing itself."""
    registered = _registered()
    if name not in registered:
        known = ", ".join(sorted(registered))
        raise ChannelConfigError(f"unknown channel {name!r} (known: {known})")
    return _load(registered[name])


def builtin_channels() -> dict[str, ChannelClass]:
    """The channels nurture ships, by name."""
    return {name: _load(entry) for name, entry in _BUILTIN.items()}
