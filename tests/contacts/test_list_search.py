"""The Customers page's search: the customers whose name, or an identity's handle, display name
or email address, starts with what was typed, in any case and a handle with or without its "@";
never another organization's; read along the folded indexes of ``contacts.search``, not by
reading every customer (on SQLite and PostgreSQL; the plan on SQLite)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.connectors.base import Identity
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact
from socialdesk.contacts.service import ContactOrder
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest


@dataclass
class Desk:
    organization_id: int
    ids: dict[str, int]  # who -> contact id


def _talk(session: Session, account: BrandAccount, who: Identity, name: str | None = None) -> int:
    message = replace(inbound(thread_key=f"visitor:{who.native_id}"), author=who)
    conversation = ingest(session, account, message).conversation
    assert conversation.contact_id is not None
    if name is not None:
        # The name an agent corrected: no identity has it.
        contact = session.get_one(Contact, conversation.contact_id)
        contact.name = name
    return conversation.contact_id


@pytest.fixture
def desk(session: Session) -> Desk:
    org = accounts.organization(session)
    web = channels.brand_account(session, org, kind="web")
    mail = channels.brand_account(session, org, kind="email")
    ids = {
        "elif": _talk(
            session,
            web,
            Identity("v-elif", handle="@elifd", display_name="Visitor"),
            name="Elif Demir",
        ),
        "bora": _talk(
            session,
            mail,
            Identity("bora.kaya@mail.example", handle="Bora.Kaya@Mail.Example", display_name="BK"),
        ),
        "deniz": _talk(session, web, Identity("v-deniz", display_name="Deniz Ak")),
        "al": _talk(session, web, Identity("v-al", handle="al", display_name="A")),
        "alice": _talk(session, web, Identity("v-alice", handle="alice", display_name="A")),
    }
    # Another organization's customers of the same names, handles and address.
    other = accounts.organization(session)
    other_web = channels.brand_account(session, other, kind="web")
    _talk(session, other_web, Identity("v-elif", handle="@elifd"), name="Elif Demir")
    _talk(session, other_web, Identity("v-bora", handle="bora.kaya@mail.example"))
    _talk(session, other_web, Identity("v-deniz", display_name="Deniz Ak"))
    session.flush()
    return Desk(organization_id=org.id, ids=ids)


SEARCHES: list[tuple[str, set[str]]] = [
    # A name, from its start, in any case and spacing.
    ("Elif Demir", {"elif"}),
    ("elif  dem", {"elif"}),
    ("EL", {"elif"}),
    # A handle, with or without its "@", in any case.
    ("@elifd", {"elif"}),
    ("elifd", {"elif"}),
    ("@ELIF", {"elif"}),
    # An email address, whole or its start, in any case.
    ("bora.kaya@mail.example", {"bora"}),
    ("BORA.KAYA@MAIL", {"bora"}),
    ("bora", {"bora"}),
    # A display name.
    ("deniz a", {"deniz"}),
    # Short prefixes find every customer starting so.
    ("al", {"al", "alice"}),
    ("@a", {"al", "alice"}),
    # Inside a name, handle or address: only when nothing starts with it (read the slow way).
    ("demir", {"elif"}),
    ("mail.example", {"bora"}),
    ("lice", {"alice"}),
    ("nobody", set()),
    # The search's words are words, not patterns.
    ("%", set()),
    ("e_if", set()),
]


@pytest.mark.parametrize("order", list(ContactOrder))
@pytest.mark.parametrize("vip_only", [False, True])
@pytest.mark.parametrize("few", [0, contacts_service.FEW_NAMED])
def test_customers_are_found_by_a_name_handle_or_address(
    session: Session,
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
    order: ContactOrder,
    vip_only: bool,
    few: int,
) -> None:
    # 0: every search names "many", and the page walks the customers probing each.
    monkeypatch.setattr(contacts_service, "FEW_NAMED", few)
    if vip_only:
        for contact_id in desk.ids.values():
            session.get_one(Contact, contact_id).is_vip = True
        session.flush()
    by_id = {v: k for k, v in desk.ids.items()}
    for typed, expected in SEARCHES:
        found: list[int] = []
        cursor = None
        while True:
            page = contacts_service.list_page(
                session,
                organization_id=desk.organization_id,
                query=typed,
                vip_only=vip_only,
                order=order,
                cursor=cursor,
                limit=1,
            )
            found += [c.id for c in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        # Another organization's customer would have no name in ``by_id``.
        assert {by_id.get(i, f"stranger {i}") for i in found} == expected, typed
        assert len(found) == len(set(found)), typed


def test_nothing_to_look_for_lists_everyone(session: Session, desk: Desk) -> None:
    for typed in ("", "  ", "@"):
        page = contacts_service.list_page(
            session, organization_id=desk.organization_id, query=typed
        )
        assert {c.id for c in page.items} == set(desk.ids.values()), typed


@pytest.mark.parametrize("order", list(ContactOrder))
def test_the_search_reads_the_folded_indexes_not_every_customer(
    session: Session, desk: Desk, order: ContactOrder
) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plan is SQLite's to show here")
    connection = session.connection()
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        contacts_service.list_page(
            session, organization_id=desk.organization_id, query="@Elif Dem", order=order
        )
    finally:
        event.remove(connection, "before_cursor_execute", record)
    # The page's own statement (the one before it counts the customers named).
    statement, parameters = next(s for s in statements if "lower(" in s[0] and "ORDER BY" in s[0])
    plan = " / ".join(
        row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    )
    for index in (
        "ix_contacts_name_folded",
        "ix_contact_identities_handle_folded",
        "ix_contact_identities_display_name_folded",
    ):
        assert f"USING INDEX {index} (organization_id=? AND <expr>>? AND <expr><?)" in plan, plan
    assert "SCAN contacts" not in plan, plan
    assert "SCAN contact_identities" not in plan, plan
    assert "SCAN conversations" not in plan, plan
    # Started from the customers named: not a walk of every customer probing each.
    assert "SEARCH contacts USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
    assert "(organization_id=?) /" not in plan, plan
