"""The shared connector test base must itself fail when it should, and the built-in connectors
must register the way a plugin would."""

from __future__ import annotations

import re
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import ClassVar

import pytest

from socialdesk.connectors import registry
from socialdesk.connectors.base import Connector, RawEvent
from socialdesk.connectors.email import EmailConnector
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.x import XConnector
from tests.connectors.contract import RECEIVED_AT, ConnectorContract


class _Case(ConnectorContract):
    connector: ClassVar[Connector] = MastodonConnector()

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        return RawEvent(native_id="1", kind=kind, payload={}, received_at=RECEIVED_AT)


def _case(folder: Path) -> _Case:
    case = _Case()
    _Case.fixtures = folder
    return case


def test_an_undeclared_fixture_kind_fails_the_suite(tmp_path: Path) -> None:
    (tmp_path / "status__ok.json").write_text("{}")
    (tmp_path / "notification.reaction__new.json").write_text("{}")
    with pytest.raises(pytest.fail.Exception, match=r"'notification\.reaction'.*not declare"):
        _case(tmp_path).test_every_fixture_kind_is_declared()


def test_parsing_an_undeclared_fixture_fails_before_parsing(tmp_path: Path) -> None:
    (tmp_path / "favourite__x.json").write_text("{}")
    with pytest.raises(pytest.fail.Exception, match="does not declare"):
        _case(tmp_path).parse_fixture("favourite__x.json")


def test_a_supported_kind_without_fixture_fails(tmp_path: Path) -> None:
    (tmp_path / "status__ok.json").write_text("{}")
    with pytest.raises(AssertionError, match="conversation"):
        _case(tmp_path).test_every_supported_kind_has_a_fixture()


def test_a_badly_named_fixture_fails(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text("{}")
    with pytest.raises(pytest.fail.Exception, match="<event kind>__<variant>"):
        _case(tmp_path).test_every_fixture_kind_is_declared()


@pytest.mark.parametrize("connector", [MastodonConnector(), XConnector(), EmailConnector()])
def test_connectors_register_like_plugins(
    connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_extra", {})  # leave the process-wide registry as it was
    registry.register(connector)
    assert registry.get(connector.kind) is connector
    assert str(connector.kind) in registry.kinds()


# The lines proposed for pyproject's [project.entry-points."socialdesk.connectors"].
ENTRY_POINTS = {
    "mastodon": "socialdesk.connectors.mastodon.connector:MastodonConnector",
    "x": "socialdesk.connectors.x.connector:XConnector",
    "email": "socialdesk.connectors.email.connector:EmailConnector",
}


@pytest.mark.parametrize(("name", "value"), sorted(ENTRY_POINTS.items()))
def test_entry_points_load_a_connector_of_their_name(name: str, value: str) -> None:
    entry = EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)
    connector = entry.load()()  # the registry instantiates without arguments
    assert isinstance(connector, Connector)
    assert str(connector.kind) == name


SETTING_READ = re.compile(r"""(?:settings|credentials)\.get\(\s*(?:f?)["']([a-z_{}]+)["']""")


@pytest.mark.parametrize("network", ["mastodon", "x", "email"])
def test_every_setting_and_credential_a_connector_reads_is_documented(network: str) -> None:
    folder = Path(registry.__file__).parent / network
    code = "\n".join(p.read_text(encoding="utf-8") for p in folder.glob("*.py"))
    readme = (folder / "README.md").read_text(encoding="utf-8")
    keys = set(SETTING_READ.findall(code))
    keys = {k.replace("{prefix}", p) for k in keys for p in ("imap", "smtp")}
    assert keys, f"no settings found in {folder}"
    missing = sorted(k for k in keys if f"`{k}`" not in readme)
    assert not missing, f"{network}/README.md does not document settings {missing}"
