"""The inbox: filters, the counts beside them, paging and the fragment live updates fetch."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.common import clock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Status
from tests.factories import channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login, new_conversation

ROW = re.compile(r'class="conv-row[^"]*" data-conversation-id="(\d+)"')


def row_ids(html: str) -> set[int]:
    return {int(i) for i in ROW.findall(html)}


def count(html: str, name: str) -> int:
    match = re.search(rf'id="count-{name}"[^>]*>(\d+)<', html)
    assert match, f"no count {name} on the page"
    return int(match.group(1))


@dataclass
class Inbox:
    mine_open: int
    unassigned_open: int
    other_open_billing: int
    pending: int
    resolved_mastodon: int
    team_open: int


@pytest.fixture
def inbox(desk: Desk, session: Session) -> Inbox:
    mastodon = channels.brand_account(session, desk.org, kind="mastodon")
    team = accounts_service.create_team(session, organization_id=desk.org.id, name="Billing")

    def conversation(text: str, author: str, account=desk.web):  # type: ignore[no-untyped-def]
        return ingest(
            session, account, inbound(text=text, author=author, thread_key=f"visitor:{author}")
        ).conversation

    mine_open = conversation("My parcel never arrived", "a")
    conversations_service.assign(
        session, conversation=mine_open, assignee_id=desk.owner.id, actor=desk.owner
    )
    unassigned_open = conversation("The app crashes on start", "b")
    other = conversation("I was charged twice for one order", "c")
    conversations_service.assign(
        session, conversation=other, assignee_id=desk.agent.id, actor=desk.owner
    )
    conversations_service.add_tag(session, conversation=other, name="Billing", actor=desk.owner)
    pending = conversation("Waiting for my receipt", "d")
    conversations_service.set_status(
        session, conversation=pending, status=Status.PENDING, actor=desk.owner
    )
    resolved = conversation("Thanks, all sorted", "e", account=mastodon)
    conversations_service.set_status(
        session, conversation=resolved, status=Status.RESOLVED, actor=desk.owner
    )
    team_open = conversation("Invoice address is wrong", "f")
    conversations_service.set_team(
        session, conversation=team_open, team_id=team.id, actor=desk.owner
    )
    session.commit()
    return Inbox(
        mine_open=mine_open.id,
        unassigned_open=unassigned_open.id,
        other_open_billing=other.id,
        pending=pending.id,
        resolved_mastodon=resolved.id,
        team_open=team_open.id,
    )


def test_default_inbox_shows_open_conversations_with_counts(
    client: TestClient, desk: Desk, inbox: Inbox
) -> None:
    login(client, desk.owner)
    page = client.get("/")
    assert page.status_code == 200
    assert row_ids(page.text) == {
        inbox.mine_open,
        inbox.unassigned_open,
        inbox.other_open_billing,
        inbox.team_open,
    }
    assert count(page.text, "status-open") == 4
    assert count(page.text, "status-pending") == 1
    assert count(page.text, "status-resolved") == 1
    assert count(page.text, "status-snoozed") == 0
    assert count(page.text, "status-all") == 6
    assert count(page.text, "mine") == 1
    assert count(page.text, "unassigned") == 2
    # Each row names the contact, the channel, a preview, the tags and who owns it.
    assert "I was charged twice for one order" in page.text
    assert "#billing" in page.text
    assert desk.agent.name in page.text
    assert "Website" in page.text


FILTER_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({"status": "pending"}, ["pending"]),
    ({"status": "resolved"}, ["resolved_mastodon"]),
    ({"status": "all", "channel": "kind:mastodon"}, ["resolved_mastodon"]),
    ({"assignee": "me"}, ["mine_open"]),
    ({"assignee": "unassigned"}, ["unassigned_open", "team_open"]),
    ({"tag": "#billing"}, ["other_open_billing"]),
    ({"q": "crashes"}, ["unassigned_open"]),
    ({"status": "all", "q": "receipt"}, ["pending"]),
]


def test_filters_narrow_the_list(client: TestClient, desk: Desk, inbox: Inbox) -> None:
    login(client, desk.owner)
    for params, expected in FILTER_CASES:
        page = client.get("/", params=params)
        assert page.status_code == 200, params
        assert row_ids(page.text) == {getattr(inbox, name) for name in expected}, params


def test_account_and_team_filters(
    client: TestClient, desk: Desk, inbox: Inbox, session: Session
) -> None:
    team = accounts_service.list_teams(session, organization_id=desk.org.id)[0]
    session.commit()  # end the read: the app needs the write lock
    login(client, desk.owner)
    by_account = client.get("/", params={"channel": f"account:{desk.web.id}"})
    assert row_ids(by_account.text) == {
        inbox.mine_open,
        inbox.unassigned_open,
        inbox.other_open_billing,
        inbox.team_open,
    }
    by_team = client.get("/", params={"team": str(team.id)})
    assert row_ids(by_team.text) == {inbox.team_open}
    assert "selected>Billing</option>" in by_team.text


def test_counts_follow_the_other_filters(client: TestClient, desk: Desk, inbox: Inbox) -> None:
    login(client, desk.owner)
    page = client.get("/", params={"assignee": "unassigned", "status": "all"})
    # Status counts with "unassigned" applied; assignee counts with "all statuses" applied.
    assert count(page.text, "status-open") == 2
    assert count(page.text, "status-pending") == 1
    assert count(page.text, "status-resolved") == 1
    assert count(page.text, "unassigned") == 4
    assert count(page.text, "mine") == 1


def test_list_fragment_updates_counts_out_of_band_and_the_address(
    client: TestClient, desk: Desk, inbox: Inbox
) -> None:
    login(client, desk.owner)
    fragment = client.get(
        "/inbox/list",
        params={"status": "pending"},
        headers={"HX-Request": "true", "HX-Trigger": "filters"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert row_ids(fragment.text) == {inbox.pending}
    assert 'id="count-status-open" hx-swap-oob="true">4<' in fragment.text
    assert fragment.headers["hx-push-url"] == "/?status=pending"
    # A live refresh (not the filter form) leaves the address bar alone.
    live = client.get("/inbox/list", params={"status": "pending"}, headers={"HX-Request": "true"})
    assert "hx-push-url" not in live.headers


def test_bad_filter_values_are_named(client: TestClient, desk: Desk, inbox: Inbox) -> None:
    login(client, desk.owner)
    page = client.get("/", params={"status": "closed"})
    assert page.status_code == 422
    assert "status must be one of open, pending, snoozed, resolved, all" in page.text
    page = client.get("/", params={"team": "billing"})
    assert page.status_code == 422
    assert "team must be a number" in page.text
    # Past 64 bits an id names nothing: refused by field, not a failure in the database.
    for params, says in (
        ({"team": "99999999999999999999"}, "team &#39;99999999999999999999&#39; names nothing"),
        ({"channel": "account:99999999999999999999"}, "channel &#39;99999999999999999999&#39;"),
    ):
        page = client.get("/", params=params)
        assert page.status_code == 422, params
        assert says in page.text, params


def test_load_more_pages_through_with_a_cursor(
    client: TestClient, desk: Desk, session: Session
) -> None:
    for n in range(53):
        ingest(session, desk.web, inbound(author=f"p{n}", thread_key=f"visitor:p{n}"))
    session.commit()
    login(client, desk.owner)
    first = client.get("/")
    first_ids = row_ids(first.text)
    assert len(first_ids) == 50
    cursor = re.search(r'hx-get="/inbox/more\?cursor=([^"&]+)"', first.text)
    assert cursor, "no load-more button"
    more = client.get("/inbox/more", params={"cursor": cursor.group(1)})
    more_ids = row_ids(more.text)
    assert len(more_ids) == 3
    assert not first_ids & more_ids
    assert "Load more" not in more.text
    # Without JavaScript the button is a link to the next page.
    plain = client.get("/", params={"cursor": cursor.group(1)})
    assert row_ids(plain.text) == more_ids


def test_viewer_can_read_the_inbox(client: TestClient, desk: Desk, inbox: Inbox) -> None:
    login(client, desk.viewer)
    page = client.get("/")
    assert page.status_code == 200
    assert len(row_ids(page.text)) == 4


def test_other_organizations_conversations_never_show(
    client: TestClient, desk: Desk, inbox: Inbox, session: Session
) -> None:
    from tests.factories import accounts

    other_org = accounts.organization(session)
    other_account = channels.brand_account(session, other_org)
    stranger = ingest(
        session, other_account, inbound(text="secret elsewhere", author="z")
    ).conversation
    session.commit()
    login(client, desk.owner)
    page = client.get("/", params={"status": "all"})
    assert stranger.id not in row_ids(page.text)
    assert "secret elsewhere" not in page.text
    assert client.get(f"/conversations/{stranger.id}").status_code == 404


def test_a_preview_that_is_the_brands_reply_says_so(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation_id = new_conversation(session, desk, text="Is the shop open on Sunday?")
    csrf = login(client, desk.owner)

    def row() -> str:
        html = client.get("/", params={"status": "all"}).text
        return html.split(f'data-conversation-id="{conversation_id}"')[1].split("</li>")[0]

    assert "Replied:" not in row()
    sent = client.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "Yes, from 10 to 4.", "csrf_token": csrf},
    )
    assert sent.status_code in (200, 303), sent.text
    assert '<span class="preview-from">Replied:</span> Yes, from 10 to 4.' in row()
    # A note is never the preview; the customer's answer takes it back.
    client.post(
        f"/conversations/{conversation_id}/notes",
        data={"text": "Checked the hours with the shop.", "csrf_token": csrf},
    )
    assert "Replied:</span> Yes, from 10 to 4." in row()
    answer = inbound(text="Great, thanks", author="ana", thread_key="visitor:ana", at=clock.now())
    ingest(session, desk.web, answer)
    session.commit()
    assert "Replied:" not in row()
    assert "Great, thanks" in row()


def test_waiting_for_a_reply_or_for_the_customer(
    client: TestClient, desk: Desk, session: Session
) -> None:
    answered = new_conversation(session, desk, text="Do you ship to Norway?")
    other = channels.brand_account(session, session.merge(desk.org), kind="web")
    waiting = ingest(session, other, inbound(text="Still nothing?")).conversation.id
    session.commit()
    csrf = login(client, desk.owner)
    client.post(
        f"/conversations/{answered}/reply", data={"text": "We do, in 3 days.", "csrf_token": csrf}
    )

    def listed(awaiting: str) -> set[int]:
        return row_ids(client.get("/", params={"awaiting": awaiting}).text)

    replies, customers = listed("reply"), listed("customer")
    assert waiting in replies
    assert answered not in replies
    assert answered in customers
    assert waiting not in customers
    assert {answered, waiting} <= listed("")
    page = client.get("/", params={"awaiting": "customer"}).text
    assert '<option id="awaiting-customer" value="customer" selected>' in page
    # Each choice says how many it holds, with the other filters applied; a filter change
    # brings the numbers in step (swapped out of band with the list).
    assert f"A reply from us ({len(replies)})</option>" in page
    assert f"The customer&#39;s answer ({len(customers)})</option>" in page
    swapped = client.get("/inbox/list", params={"q": "Norway"}, headers={"HX-Request": "true"})
    assert (
        '<option id="awaiting-customer" value="customer" hx-swap-oob="true">'
        "The customer&#39;s answer (1)</option>"
    ) in swapped.text
    assert "A reply from us (0)</option>" in swapped.text
    assert '<a href="/" class="link">Reset filters</a>' in page
    bad = client.get("/", params={"awaiting": "us"})
    assert bad.status_code == 422
    assert "awaiting must be one of reply, customer, not &#39;us&#39;" in bad.text


def test_one_colleagues_conversations(
    client: TestClient, desk: Desk, inbox: Inbox, session: Session
) -> None:
    login(client, desk.owner)
    page = client.get("/", params={"assignee": str(desk.agent.id)})
    assert page.status_code == 200
    assert row_ids(page.text) == {inbox.other_open_billing}
    # Chosen in the colleague select, not with a pill; the title and the counts follow.
    assert f'<option value="{desk.agent.id}" selected>Alex Agent</option>' in page.text
    assert 'value="anyone" checked' not in page.text
    assert "Open conversations, assigned to Alex Agent</h1>" in page.text
    assert count(page.text, "status-open") == 1
    assert count(page.text, "status-all") == 1
    # The select offers the organization's active members, and the address keeps the choice.
    assert f'<option value="{desk.owner.id}">Olivia Owner</option>' in page.text
    fragment = client.get(
        "/inbox/list",
        params={"assignee": str(desk.agent.id)},
        headers={"HX-Request": "true", "HX-Trigger": "filters"},
    )
    assert fragment.headers["hx-push-url"] == f"/?assignee={desk.agent.id}"
    assert "assigned to Alex Agent</h1>" in fragment.text
    # The filters send a pill's choice and the colleague: a colleague picked wins, and the
    # select left empty leaves the pill's choice.
    both = client.get(f"/?assignee=anyone&assignee={desk.agent.id}")
    assert row_ids(both.text) == {inbox.other_open_billing}
    pill = client.get("/?assignee=me&assignee=")
    assert row_ids(pill.text) == {inbox.mine_open}
    assert 'value="me" checked' in pill.text
    # A deactivated colleague's conversations stay theirs and can still be shown.
    agent = session.merge(desk.agent)
    agent.is_active = False
    session.commit()
    gone = client.get("/", params={"assignee": str(desk.agent.id), "status": "all"})
    assert row_ids(gone.text) == {inbox.other_open_billing}
    assert f'<option value="{desk.agent.id}" selected>Alex Agent (deactivated)</option>' in (
        gone.text
    )


def test_a_colleague_of_another_organization_or_of_none_is_refused(
    client: TestClient, desk: Desk, inbox: Inbox, session: Session
) -> None:
    from tests.factories import accounts

    stranger = accounts.member(session, accounts.organization(session))
    session.commit()
    login(client, desk.owner)
    for member_id in (stranger.id, 987654321):
        page = client.get("/", params={"assignee": str(member_id)})
        assert page.status_code == 422, member_id
        assert f"assignee {member_id} is not a member of this organization" in page.text
        assert not row_ids(page.text)
    page = client.get("/", params={"assignee": "someone"})
    assert page.status_code == 422
    assert (
        "assignee must be one of anyone, me, unassigned or a member&#39;s id, not &#39;someone&#39;"
    ) in page.text


def test_the_search_finds_a_customer_by_name_handle_or_address(
    client: TestClient, desk: Desk, inbox: Inbox, session: Session
) -> None:
    from dataclasses import replace

    from socialdesk.connectors.base import Identity

    visitor = Identity("v-elif", handle="elif.demir@example.com", display_name="Elif Demir")
    message = replace(inbound(text="Hello?", thread_key="visitor:v-elif"), author=visitor)
    elif_ = ingest(session, desk.web, message).conversation.id
    session.commit()
    login(client, desk.owner)
    page = client.get("/")
    assert 'placeholder="Words, or a customer\'s name, handle or email"' in page.text
    for typed in ("Elif Demir", "elif", "ELIF.DEMIR@example.com", "@elif.dem"):
        assert row_ids(client.get("/", params={"q": typed}).text) == {elif_}, typed
    # Combined with the other filters, counted alike.
    page = client.get("/", params={"q": "elif", "assignee": "unassigned", "status": "all"})
    assert row_ids(page.text) == {elif_}
    assert count(page.text, "status-open") == 1
    assert count(page.text, "mine") == 0
    assert row_ids(client.get("/", params={"q": "elif", "assignee": "me"}).text) == set()
