"""The test base every connector's tests build on (after Zulip's ``WebhookTestCase``).

A connector test class subclasses :class:`ConnectorContract`, names its connector and its
fixtures folder, and says how a fixture file becomes a :class:`RawEvent`. It then inherits tests
that fail when:

* a fixture's event kind (the part of its name before ``__``) is not declared by the connector;
* a supported event kind has no fixture;
* the connector does not satisfy the :class:`Connector` protocol, or declares a kind as both
  supported and ignored;
* an undeclared kind does not raise :class:`UnsupportedEvent`, or an ignored one gives messages.

Connector tests read fixtures through :meth:`ConnectorContract.parse_fixture`, which refuses an
undeclared kind before parsing, so no test can pass on an event the connector never declared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from socialdesk.connectors.base import (
    Connector,
    InboundMessage,
    RawEvent,
    UnsupportedEvent,
)

RECEIVED_AT = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
FIXTURE_SUFFIXES = (".json", ".eml")


def fixture_paths(folder: Path) -> list[Path]:
    """The event fixtures in a connector's ``fixtures/`` folder (not ``responses/``)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in FIXTURE_SUFFIXES)


def fixture_kind(path: Path) -> str:
    """The event kind a fixture is named for: ``<event>__<variant>.<ext>``."""
    stem = path.name[: -len(path.suffix)]
    if "__" not in stem:
        pytest.fail(f"fixture {path.name} is not named <event kind>__<variant>{path.suffix}")
    return stem.split("__", 1)[0]


def check_declared(connector: Connector, path: Path) -> str:
    kind = fixture_kind(path)
    declared = connector.supported_events | connector.ignored_events
    if kind not in declared:
        pytest.fail(
            f"fixture {path.name} has event kind {kind!r}, which {type(connector).__name__} does "
            f"not declare; declared: {sorted(declared)}. Declare it in parse.py (supported or "
            "ignored) or rename the fixture."
        )
    return kind


class ConnectorContract:
    connector: ClassVar[Connector]
    fixtures: ClassVar[Path]

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        raise NotImplementedError

    def load_fixture(self, name: str) -> RawEvent:
        path = self.fixtures / name
        kind = check_declared(self.connector, path)
        return self.event_from_fixture(path, kind)

    def parse_fixture(self, name: str) -> list[InboundMessage]:
        return self.connector.parse(self.load_fixture(name))

    # The contract.

    def test_satisfies_the_connector_protocol(self) -> None:
        assert isinstance(self.connector, Connector)
        assert self.connector.supported_events, "a connector must support at least one event"
        assert not self.connector.supported_events & self.connector.ignored_events

    def test_every_fixture_kind_is_declared(self) -> None:
        paths = fixture_paths(self.fixtures)
        assert paths, f"no fixtures in {self.fixtures}"
        for path in paths:
            check_declared(self.connector, path)

    def test_every_supported_kind_has_a_fixture(self) -> None:
        covered = {fixture_kind(p) for p in fixture_paths(self.fixtures)}
        missing = self.connector.supported_events - covered
        assert not missing, f"supported event kinds without a recorded fixture: {sorted(missing)}"

    def test_undeclared_kind_is_unsupported(self) -> None:
        event = RawEvent(native_id="1", kind="no.such.event", payload={}, received_at=RECEIVED_AT)
        with pytest.raises(UnsupportedEvent, match=r"no\.such\.event"):
            self.connector.parse(event)

    def test_ignored_kinds_give_no_messages(self) -> None:
        for kind in sorted(self.connector.ignored_events):
            payload: dict[str, Any] = {}
            event = RawEvent(native_id="1", kind=kind, payload=payload, received_at=RECEIVED_AT)
            assert self.connector.parse(event) == [], kind
