"""The connector registry. Built-ins register through the ``socialdesk.connectors`` entry-point
group exactly as a third-party plugin would (see pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib.metadata import entry_points

from socialdesk.common.errors import NotFound
from socialdesk.connectors.base import ChannelKind, Connector

ENTRY_POINT_GROUP = "socialdesk.connectors"

_extra: dict[str, Connector] = {}


@lru_cache(maxsize=1)
def _discovered() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        connector = cls()
        if not isinstance(connector, Connector):
            raise TypeError(f"entry point {ep.name!r} does not provide a Connector: {cls!r}")
        found[str(connector.kind)] = connector
    return found


def register(connector: Connector) -> None:
    """Register a connector at run time (tests, or a plugin loaded without entry points)."""
    _extra[str(connector.kind)] = connector


@contextmanager
def override(*connectors: Connector) -> Iterator[None]:
    """Use these connectors for their channels within the block, then restore exactly what
    was registered before (tests, and the demo's scripted network)."""
    previous = {str(c.kind): _extra.get(str(c.kind)) for c in connectors}
    for connector in connectors:
        register(connector)
    try:
        yield
    finally:
        for key, before in previous.items():
            if before is None:
                _extra.pop(key, None)
            else:
                _extra[key] = before


def get(kind: ChannelKind | str) -> Connector:
    key = str(kind)
    connector = _extra.get(key) or _discovered().get(key)
    if connector is None:
        raise NotFound(
            f"no connector is installed for channel {key!r}; installed: {sorted(kinds())}"
        )
    return connector


def kinds() -> set[str]:
    return set(_discovered()) | set(_extra)
