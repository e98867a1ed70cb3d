"""The saved replies pages: admins add, change and delete them through a form and see how each
reads and what the code of conduct makes of it; a refusal is shown beside the form with what
was typed; the reply box lists them filled in for its conversation; agents cannot change them,
forged posts and other organizations' replies get nowhere."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from socialdesk.accounts.models import Role
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.db.session import get_sessionmaker
from socialdesk.policy import service as policy_service
from socialdesk.saved_replies import service
from socialdesk.saved_replies.service import Draft
from tests.factories import accounts
from tests.saved_replies.conftest import Desk
from tests.web.conftest import login

PAGE = "/admin/saved-replies"
TEXT = "Hi {name}, replacement buses run every 10 minutes from the stop across the bridge."


@pytest.fixture
def client(desk: Desk, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def _stored(desk: Desk) -> list[tuple[str, str, str]]:
    with get_sessionmaker(write=False)() as reader:
        return [
            (r.shortcut, r.title, r.text)
            for r in service.search(reader, organization_id=desk.org.id)
        ]


def test_an_admin_adds_changes_and_deletes_saved_replies(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.owner)
    empty = client.get(PAGE)
    assert empty.status_code == 200
    assert f'<a href="{PAGE}" aria-current="page">Saved replies</a>' in empty.text
    assert "No saved replies yet." in empty.text
    for name in ("shortcut", "title"):
        assert f'<label for="{name}">' in empty.text
        assert f'<input id="{name}" name="{name}"' in empty.text

    data = {"csrf_token": csrf, "shortcut": "bus", "title": "Replacement buses", "text": TEXT}
    made = client.post(PAGE, data=data)
    assert made.status_code == 303, made.text
    assert made.headers["location"] == PAGE
    assert _stored(desk) == [("bus", "Replacement buses", TEXT)]
    listed = html.unescape(client.get(PAGE).text)
    # It reads with sample values; with no code of conduct there is nothing to judge.
    assert "Hi Ana, replacement buses run every 10 minutes" in listed
    assert 'data-conduct="none"' in listed

    reply_id = int(re.findall(r'href="/admin/saved-replies/(\d+)"', listed)[0])
    form = client.get(f"{PAGE}/{reply_id}")
    assert form.status_code == 200
    assert 'value="bus"' in form.text
    changed = client.post(
        f"{PAGE}/{reply_id}", data={**data, "shortcut": "replacement-bus", "title": "Buses"}
    )
    assert changed.status_code == 303, changed.text
    assert _stored(desk) == [("replacement-bus", "Buses", TEXT)]

    gone = client.post(f"{PAGE}/{reply_id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert _stored(desk) == []


def test_a_refused_saved_reply_is_shown_beside_the_form_as_typed(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    data = {
        "csrf_token": csrf,
        "shortcut": "Bad Shortcut",
        "title": "Buses",
        "text": "Hi {name} {mood}",
    }
    refused = client.post(PAGE, data=data)
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert "the shortcut 'Bad Shortcut' may hold only letters" in page
    shortcut = re.search(r'<input id="shortcut"[^>]*>', page)
    assert shortcut is not None
    assert 'value="Bad Shortcut"' in shortcut.group(0)
    assert 'aria-invalid="true"' in shortcut.group(0)
    assert "Hi {name} {mood}</textarea>" in page
    refused = client.post(PAGE, data={**data, "shortcut": "bus"})
    assert refused.status_code == 422
    assert "unknown placeholder in the text: {mood}" in html.unescape(refused.text)
    assert _stored(desk) == []


def test_the_page_says_which_saved_replies_the_code_of_conduct_would_hold(
    client: TestClient, desk: Desk
) -> None:
    policy_service.save(
        desk.session,
        organization_id=desk.org.id,
        yaml_text=(
            "rules:\n  - id: no-alcohol\n    explain: We do not talk about drinking.\n"
            "    action: block\n    terms: [beer]\n"
        ),
        author=desk.owner,
    )
    for shortcut, text in (("party", "Have a beer on us, {name}!"), ("thanks", "Thank you!")):
        service.create(
            desk.session,
            organization_id=desk.org.id,
            draft=Draft(shortcut, shortcut.title(), text),
            actor=desk.owner,
        )
    desk.session.commit()
    login(client, desk.owner)
    page = html.unescape(client.get(PAGE).text)
    party = page[page.index('data-saved-reply="party"') :]
    assert party.index('data-conduct="block"') < party.index("</tr>")
    assert "held back" in party[: party.index("</tr>")]
    assert "We do not talk about drinking." in party[: party.index("</tr>")]
    thanks = page[page.index('data-saved-reply="thanks"') :]
    assert 'data-conduct="allow"' in thanks[: thanks.index("</tr>")]


def test_the_reply_box_lists_saved_replies_filled_in_for_its_conversation(
    client: TestClient, desk: Desk
) -> None:
    for shortcut, title, text in (
        ("bus", "Replacement buses", TEXT),
        ("refund", "Refunds", "Hi {name}, a refund from {brand}. ^{agent}"),
    ):
        service.create(
            desk.session,
            organization_id=desk.org.id,
            draft=Draft(shortcut, title, text),
            actor=desk.owner,
        )
    desk.session.commit()
    conversation = desk.write("Is tram 4 running?", account=desk.x, author="lucia_r")
    login(client, desk.ana)
    page = client.get(f"/conversations/{conversation.id}")
    assert 'id="saved-box"' in page.text
    assert f'hx-get="/conversations/{conversation.id}/saved-replies"' in page.text

    listed = client.get(f"/conversations/{conversation.id}/saved-replies", params={"q": "ref"})
    assert listed.status_code == 200
    choices = re.findall(r'data-insert="([^"]*)" data-saved-reply="([^"]*)"', listed.text)
    brand = desk.x.display_name or desk.x.handle
    assert [(html.unescape(text), shortcut) for text, shortcut in choices] == [
        (f"Hi Lucia_R, a refund from {brand}. ^{desk.ana.name}", "refund")
    ]
    every = client.get(f"/conversations/{conversation.id}/saved-replies")
    assert re.findall(r'data-saved-reply="([^"]*)"', every.text) == ["bus", "refund"]
    none = client.get(f"/conversations/{conversation.id}/saved-replies", params={"q": "zzz"})
    assert "No saved reply holds “zzz”." in html.unescape(none.text)


def test_a_saved_reply_for_one_team_is_chosen_on_the_form_and_offered_to_that_team(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    page = client.get(PAGE)
    assert '<select id="team_id" name="team_id"' in page.text
    assert '<option value="">Everyone</option>' in page.text
    assert f'<option value="{desk.billing.id}">Billing</option>' in page.text
    data = {"csrf_token": csrf, "title": "Refunds", "text": "Hi {name}, a refund."}
    made = client.post(PAGE, data={**data, "shortcut": "refund", "team_id": str(desk.billing.id)})
    assert made.status_code == 303, made.text
    client.post(PAGE, data={**data, "shortcut": "hello", "team_id": ""})
    listed = client.get(PAGE).text
    assert f'<span class="tag" data-team="{desk.billing.id}">Billing</span>' in listed
    reply_id = int(re.findall(r'href="/admin/saved-replies/(\d+)"', listed)[1])  # "refund"
    edit = client.get(f"{PAGE}/{reply_id}").text
    assert f'<option value="{desk.billing.id}" selected>Billing</option>' in edit

    # A team that is not a number, or not one of the organization's, is refused by name.
    for bad, words in (("billing", "team_id must be a number"), ("999999", "team 999999 does")):
        refused = client.post(PAGE, data={**data, "shortcut": "other", "team_id": bad})
        assert refused.status_code == 422
        assert words in html.unescape(refused.text)
        assert (
            '<select id="team_id" name="team_id" aria-invalid="true" '
            'aria-describedby="error-saved-reply team-help">'
        ) in refused.text
    assert [shortcut for shortcut, _, _ in _stored(desk)] == ["hello", "refund"]

    # Ana (Care) is offered Billing's answer only on a conversation Billing owns.
    conversation = desk.write("Where is my refund?", account=desk.x, route=False)
    client.cookies.clear()
    login(client, desk.ana)
    box = f"/conversations/{conversation.id}/saved-replies"
    assert re.findall(r'data-saved-reply="([^"]*)"', client.get(box).text) == ["hello"]
    conversations_service.set_team(
        desk.session, conversation=conversation, team_id=desk.billing.id, actor=desk.owner
    )
    desk.session.commit()
    assert re.findall(r'data-saved-reply="([^"]*)"', client.get(box).text) == ["hello", "refund"]


def test_agents_forged_posts_and_other_organizations_get_nowhere(
    client: TestClient, desk: Desk
) -> None:
    reply = service.create(
        desk.session,
        organization_id=desk.org.id,
        draft=Draft("bus", "Buses", TEXT),
        actor=desk.owner,
    )
    other = accounts.organization(desk.session, name="Other transit")
    stranger = accounts.member(desk.session, other, role=Role.OWNER)
    desk.session.commit()
    reply_id, conversation_id = reply.id, desk.write("Hello", account=desk.x).id
    desk.session.refresh(stranger)
    desk.session.expunge(stranger)  # read once, here: logging in must not open a transaction
    desk.session.commit()  # end the read: the pages must find no lock held

    csrf = login(client, desk.ana)
    data = {"csrf_token": csrf, "shortcut": "x", "title": "X", "text": "X"}
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data=data).status_code == 403
    assert client.post(f"{PAGE}/{reply_id}", data=data).status_code == 403
    assert client.post(f"{PAGE}/{reply_id}/delete", data={"csrf_token": csrf}).status_code == 403

    client.cookies.clear()
    csrf = login(client, desk.owner)
    forged = client.post(PAGE, data={**data, "csrf_token": "forged"})
    assert forged.status_code == 403

    client.cookies.clear()
    login(client, stranger)
    assert client.get(f"{PAGE}/{reply_id}").status_code == 404
    listed = client.get(f"/conversations/{conversation_id}/saved-replies")
    assert listed.status_code == 404
    assert _stored(desk) == [("bus", "Buses", TEXT)]
