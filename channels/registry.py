"""Channel classes by name: the built-ins plus the ``nurture.channels`` entry point group.

A third-party package registers ``mychannel = "package.module:MyChannel"`` under
``[project.entry-points."nurture.channels"]``; a name registered twice (or shadowing a
built-in) is a configuration error, never a silent override.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import EntryPoint, entry_points

from channels.errors import ChannelConfigError

GROUP = "nurture.channels"
_BUILTIN = {
    "sendgrid": "channels.sendgrid:SendgridChannel",
    "twilio": "channels.twilio:TwilioChannel",
    "file": "channels.file:FileChannel",
    "memory": "channels.memory:MemoryChannel",
}


def _import(target: str) -> type:
    module, _, attribute = target.partition(":")
    loaded = getattr(import_module(module), attribute)
    if not isinstance(loaded, type):
        raise ChannelConfigError(f"channel {target} is not a class")
    return loaded


def builtin_channels() -> dict[str, type]:
    """The channels nurture ships, by name."""
    return {name: _import(target) for name, target in _BUILTIN.items()}


def _plugins() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=GROUP):
        if entry.name in _BUILTIN or (entry.name in found and found[entry.name] != entry):
            other = _BUILTIN.get(entry.name) or found[entry.name].value
            message = f"channel name {entry.name!r} is registered twice: {other} and {entry.value}"
            raise ChannelConfigError(message)
        found[entry.name] = entry
    return found


def channel_names() -> list[str]:
    """Every channel name available, built-in and installed."""
    return sorted({*_BUILTIN, *_plugins()})


def load_channel_class(name: str) -> type:
    """The class registered as ``name``; ChannelConfigError when unknown or duplicated."""
    plugins = _plugins()
    if name in _BUILTIN:
        return _import(_BUILTIN[name])
    if name not in plugins:
        known = ", ".join(sorted({*_BUILTIN, *plugins}))
        raise ChannelConfigError(f"unknown channel {name!r} (known: {known})")
    try:
        loaded = plugins[name].load()
    except (ImportError, AttributeError) as exc:
        raise ChannelConfigError(
            f"channel {name!r} ({plugins[name].value}) fails to load: {exc}"
        ) from exc
    if not isinstance(loaded, type):
        raise ChannelConfigError(f"channel {name!r} ({plugins[name].value}) is not a class")
    return loaded
