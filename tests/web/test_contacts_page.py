"""The customers page: everyone who wrote to the desk, found by name or by a handle on any
channel, with how many conversations they had and a link to the latest; the data page's link
only for those who may export and erase. Another organization's customers never show."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.contacts.models import Contact, ContactIdentity, ContactMerge
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker
from socialdesk.events.models import EventRecord
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest, visitor_event
from tests.web.conftest import Desk, login


def _row(html: str, contact_id: int) -> str:
    start = html.index(f'<tr data-contact-id="{contact_id}">')
    return html[start : html.index("</tr>", start)]


def test_customers_are_found_by_name_or_handle(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    first = ingest(
        session,
        desk.web,
        inbound(author="amara", thread_key="visitor:a1", at=clock.now() - timedelta(days=2)),
    )
    latest = ingest(
        session,
        desk.web,
        inbound(author="amara", thread_key="visitor:a2", at=clock.now() - timedelta(hours=1)),
    )
    ingest(session, desk.web, inbound(author="bodil", thread_key="visitor:b1"))
    other_org = accounts.organization(session)
    ingest(session, channels.brand_account(session, other_org), inbound(author="amara-too"))
    session.commit()
    amara = first.conversation.contact_id
    assert amara is not None
    assert latest.conversation.contact_id == amara
    latest_id = latest.conversation.id
    session.commit()

    login(client, desk.agent)
    page = client.get("/contacts")
    assert page.status_code == 200
    assert '<a href="/contacts" aria-current="page">Customers</a>' in page.text
    row = _row(page.text, amara)
    assert "Amara" in row
    assert "@amara" in row
    assert f'<a href="/conversations/{latest_id}">2 conversations</a>' in row
    assert "/privacy" not in page.text  # agents may not export or erase
    assert "Amara-Too" not in page.text

    found = client.get("/contacts", params={"q": "@amar"})
    assert f'data-contact-id="{amara}"' in found.text
    assert "Bodil" not in found.text
    none = client.get("/contacts", params={"q": "nobody-like-this"})
    assert "Nobody has a name, handle or address that starts with “nobody-like-this”." in none.text

    assert client.get("/contacts", params={"cursor": "garbage"}).status_code == 422


def test_admins_reach_the_data_page_from_the_list(
    client: TestClient, desk: Desk, session: Session
) -> None:
    contact_id = ingest(session, desk.web, inbound(author="cato")).conversation.contact_id
    session.commit()
    login(client, desk.owner)
    page = client.get("/contacts")
    assert f'<a href="/contacts/{contact_id}/privacy" class="nowrap">Their data</a>' in page.text


def test_an_agent_merges_two_customers_who_are_one_person(
    client: TestClient, desk: Desk, session: Session
) -> None:
    on_web = ingest(session, desk.web, inbound(author="noor", thread_key="visitor:noor"))
    mail = channels.brand_account(session, desk.org, kind="email")
    by_mail = ingest(session, mail, inbound(author="noor@mail.example", text="Re: my refund"))
    other_org = accounts.organization(session)
    elsewhere = ingest(session, channels.brand_account(session, other_org), inbound(author="x"))
    session.commit()
    web_contact, mail_contact = on_web.conversation.contact_id, by_mail.conversation.contact_id
    conversation_id = on_web.conversation.id
    foreign = elsewhere.conversation.contact_id
    assert web_contact is not None
    assert mail_contact is not None
    session.commit()

    csrf = login(client, desk.agent)
    side = client.get(f"/conversations/{conversation_id}").text
    assert f'href="/contacts/{web_contact}/merge?conversation={conversation_id}"' in side
    page = client.get(
        f"/contacts/{web_contact}/merge", params={"conversation": conversation_id, "q": "noor"}
    )
    assert page.status_code == 200
    assert f'<input type="hidden" name="into_id" value="{mail_contact}">' in page.text
    assert f'name="into_id" value="{web_contact}"' not in page.text  # not itself

    action = f"/contacts/{web_contact}/merge?conversation={conversation_id}"
    for data, said in (
        ({}, "choose the customer this one is the same as"),
        ({"into_id": str(web_contact)}, "cannot merge a contact into itself"),
        ({"into_id": str(foreign)}, f"contact {foreign} does not exist"),
    ):
        refused = client.post(action, data={"csrf_token": csrf, **data})
        assert refused.status_code == 422, data
        assert said in refused.text

    merged = client.post(action, data={"csrf_token": csrf, "into_id": str(mail_contact)})
    assert merged.status_code == 303
    assert merged.headers["location"] == f"/conversations/{conversation_id}"
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Contact, web_contact).merged_into_id == mail_contact
        assert reader.get_one(Conversation, conversation_id).contact_id == mail_contact
    # The conversation now shows the other channel's history, and its trail says why.
    side = client.get(f"/conversations/{conversation_id}").text
    assert "Re: my refund" in side
    assert (
        f"found the customer to be the same person as customer #{mail_contact} (was #{web_contact})"
    ) in side
    with get_sessionmaker(write=False)() as reader:
        changed = reader.scalars(
            select(EventRecord.payload).where(EventRecord.kind == "conversation.changed")
        ).all()
    assert {"conversation_id": conversation_id, "fields": ["contact"]}.items() <= {
        **changed[-1]
    }.items()


def test_merging_from_the_list_says_who_holds_both(
    client: TestClient, desk: Desk, session: Session
) -> None:
    first = ingest(session, desk.web, inbound(author="ole", thread_key="visitor:o1"))
    second = ingest(session, desk.web, inbound(author="ole-again", thread_key="visitor:o2"))
    session.commit()
    source, target = first.conversation.contact_id, second.conversation.contact_id
    session.commit()
    csrf = login(client, desk.agent)
    listed = client.get("/contacts").text
    assert f'<a href="/contacts/{source}/merge" class="nowrap">Same person as…</a>' in listed
    done = client.post(
        f"/contacts/{source}/merge", data={"csrf_token": csrf, "into_id": str(target)}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/contacts?merged={target}"
    shown = client.get(done.headers["location"]).text
    assert "Merged: Ole-Again now holds both histories." in shown

    client.cookies.clear()
    csrf = login(client, desk.viewer)
    assert "Same person as" not in client.get("/contacts").text
    assert client.get(f"/contacts/{target}/merge").status_code == 403


def test_an_agent_corrects_the_name_and_marks_a_vip(
    client: TestClient, desk: Desk, session: Session
) -> None:
    result = ingest(session, desk.web, inbound(author="visitor-77", thread_key="visitor:77"))
    session.commit()
    conversation_id, contact_id = result.conversation.id, result.conversation.contact_id
    session.commit()
    csrf = login(client, desk.agent)
    side = client.get(f"/conversations/{conversation_id}").text
    assert f'action="/conversations/{conversation_id}/contact"' in side

    refused = client.post(
        f"/conversations/{conversation_id}/contact",
        data={"csrf_token": csrf, "name": "   ", "vip": "1"},
    )
    assert refused.status_code == 422
    assert "a customer&#39;s name must not be empty" in refused.text
    assert '<details class="contact-edit" open>' in refused.text

    saved = client.post(
        f"/conversations/{conversation_id}/contact",
        data={"csrf_token": csrf, "name": "  Greta   Lind ", "vip": "1"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200
    assert 'Greta Lind</a> <span class="prio prio-high">VIP</span>' in saved.text
    with get_sessionmaker(write=False)() as reader:
        contact = reader.get_one(Contact, contact_id)
        assert (contact.name, contact.is_vip) == ("Greta Lind", True)

    # Unticking the box takes the mark away.
    client.post(
        f"/conversations/{conversation_id}/contact",
        data={"csrf_token": csrf, "name": "Greta Lind"},
    )
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Contact, contact_id).is_vip is False


def test_an_agent_undoes_a_merge_of_two_people(
    client: TestClient, desk: Desk, session: Session
) -> None:
    ana = ingest(session, desk.web, inbound(author="ana", thread_key="visitor:ana"))
    mail = channels.brand_account(session, desk.org, kind="email")
    bea = ingest(session, mail, inbound(author="bea@mail.example", text="Where is my parcel?"))
    session.commit()
    ana_id, bea_id = ana.conversation.contact_id, bea.conversation.contact_id
    bea_conversation = bea.conversation.id
    session.commit()
    csrf = login(client, desk.agent)
    merged = client.post(
        f"/contacts/{bea_id}/merge", data={"csrf_token": csrf, "into_id": str(ana_id)}
    )
    assert merged.status_code == 303

    page = client.get(f"/contacts/{ana_id}/merge", params={"conversation": bea_conversation})
    assert page.status_code == 200
    history = page.text[page.text.index('id="merge-history"') :]
    assert (
        f'Bea@Mail.Example</strong> <span class="muted">(#{bea_id})</span> was merged into '
        f'<strong>Ana</strong> <span class="muted">(#{ana_id})</span>'
    ) in history
    assert f"by {desk.agent.name}" in history
    assert "1 identity, 1 conversation" in history
    with get_sessionmaker(write=False)() as reader:
        merge_id = reader.scalars(select(ContactMerge.id)).one()
    action = f"/contacts/{ana_id}/merges/{merge_id}/undo?conversation={bea_conversation}"
    assert f'action="{action}"' in history

    assert client.post(action, data={}).status_code == 403  # no CSRF token
    assert (
        client.post(
            f"/contacts/{ana_id}/merges/{merge_id + 1}/undo", data={"csrf_token": csrf}
        ).status_code
        == 404
    )
    undone = client.post(action, data={"csrf_token": csrf})
    assert undone.status_code == 303
    location = undone.headers["location"]
    assert location == (
        f"/contacts/{bea_id}/merge?undone={merge_id}&back=1&kept=0&conversation={bea_conversation}"
    )
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Contact, bea_id).merged_into_id is None
        assert reader.get_one(Conversation, bea_conversation).contact_id == bea_id
    shown = client.get(location).text
    assert (
        "Undone: Bea@Mail.Example is a customer of their own again. "
        "1 conversation went back to them."
    ) in shown
    assert "Not the same person: undo" not in shown
    assert "Undone " in shown
    side = client.get(f"/conversations/{bea_conversation}").text
    assert (
        f"found customer #{bea_id} not to be the same person as customer #{ana_id}: "
        "the merge was undone"
    ) in side
    again = client.post(action, data={"csrf_token": csrf})
    assert again.status_code == 422
    assert f"merge {merge_id} was undone already" in again.text

    client.cookies.clear()
    csrf = login(client, desk.viewer)
    assert client.post(action, data={"csrf_token": csrf}).status_code == 403


def test_the_list_orders_by_activity_or_newest_and_filters_vips(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    early = ingest(session, desk.web, inbound(author="early", thread_key="visitor:e"))
    clock.advance(timedelta(hours=1))
    late = ingest(session, desk.web, inbound(author="late", thread_key="visitor:l"))
    clock.advance(timedelta(hours=1))
    # The early customer writes again: the most recently active.
    ingest(session, desk.web, inbound(author="early", thread_key="visitor:e2"))
    session.commit()
    early_id, late_id = early.conversation.contact_id, late.conversation.contact_id
    session.get_one(Contact, late_id).is_vip = True
    session.commit()

    def rows(**params: str) -> list[int]:
        html = client.get("/contacts", params=params).text
        return [int(x) for x in re.findall(r'<tr data-contact-id="(\d+)">', html)]

    login(client, desk.agent)
    assert rows() == [early_id, late_id]
    assert rows(order="newest") == [late_id, early_id]
    assert rows(order="unknown") == [early_id, late_id]
    assert rows(vip="1") == [late_id]
    assert rows(order="newest", vip="1") == [late_id]
    page = client.get("/contacts", params={"order": "newest", "vip": "1"}).text
    assert '<option value="newest" selected>Newest customers</option>' in page
    assert 'name="vip" value="1" checked' in page
    assert rows(q="early", vip="1") == []
    assert (
        "Nobody among the VIPs has a name, handle or address that starts with “early”."
        in client.get("/contacts", params={"q": "early", "vip": "1"}).text
    )


def test_the_merge_page_suggests_the_likely_same_person(
    client: TestClient, desk: Desk, session: Session
) -> None:
    x = channels.brand_account(session, desk.org, kind="x")
    mail = channels.brand_account(session, desk.org, kind="email")
    on_x = ingest(session, x, inbound(author="mira holm")).conversation.contact_id
    by_mail = ingest(session, mail, inbound(author="mira holm", text="Hi")).conversation.contact_id
    ingest(session, mail, inbound(author="someone else"))
    session.commit()
    login(client, desk.agent)
    page = client.get(f"/contacts/{on_x}/merge").text
    likely = page[page.index('id="merge-likely"') :]
    assert "Maybe the same person" in likely
    assert "Likely: the same name" in likely
    assert f'<input type="hidden" name="into_id" value="{by_mail}">' in likely
    assert "Someone Else" not in likely
    searching = client.get(f"/contacts/{on_x}/merge", params={"q": "someone"}).text
    assert 'id="merge-likely"' not in searching  # a search shows what it found instead


def test_a_conversation_says_who_gave_the_same_address(
    client: TestClient, desk: Desk, session: Session
) -> None:
    """A visitor who typed their address in the website chat, then wrote from it by email:
    the email conversation's Contact panel says they are likely the same person."""
    visitor_event(session, desk.web, visitor="v-nora", text="Hi", native_id="v-nora:1")
    session.commit()
    visitor = session.scalars(select(Contact).where(Contact.name == "Website visitor")).one()
    visitor.name = "Nora Berg"
    session.scalars(
        select(ContactIdentity).where(ContactIdentity.contact_id == visitor.id)
    ).one().handle = "nora.berg@mail.example"
    mail = channels.brand_account(session, desk.org, kind="email")
    by_mail = ingest(session, mail, inbound(author="nora.berg@mail.example", text="Re: chat"))
    session.commit()
    conversation_id, merge_from = by_mail.conversation.id, by_mail.conversation.contact_id
    session.commit()

    login(client, desk.agent)
    side = client.get(f"/conversations/{conversation_id}").text
    hint = side[side.index('id="likely-same"') :]
    hint = hint[: hint.index("</p>")]
    assert "Maybe the same person as" in hint
    assert "Nora Berg</a> (both use nora.berg@mail.example)" in hint
    assert f'href="/contacts/{merge_from}/merge?conversation={conversation_id}"' in hint
    client.cookies.clear()
    login(client, desk.viewer)
    assert 'id="likely-same"' not in client.get(f"/conversations/{conversation_id}").text
