"""The code of conduct in the desk: the policy editor, the back-test, the approval queue and the
reply box's live feedback."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Role
from socialdesk.conversations.models import Activity, DeliveryState, Message
from socialdesk.db.session import get_sessionmaker
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import ORG_SCOPE, Approval, PolicyDecision
from tests.conftest import JobRunner
from tests.factories import accounts
from tests.web.conftest import HX, Desk, Page, csrf_from, login, new_conversation

POLICY = """\
rules:
  - id: no-alcohol
    explain: "We do not talk about drinking: many in our community abstain."
    action: block
    terms: [beer, wine, vodka, booze, drunk, cocktail]
  - id: refunds-need-approval
    explain: "Refund promises need a supervisor's approval."
    action: approve
    terms: [refund]
  - id: careful-fault
    explain: "Do not admit fault in public."
    action: warn
    terms: [fault]
"""

BROKEN = POLICY.replace("    action: warn\n", "    action: shout\n")


def _save(session: Session, desk: Desk, text: str = POLICY, comment: str = "first") -> None:
    policy_service.save(
        session, organization_id=desk.org.id, yaml_text=text, author=desk.owner, comment=comment
    )
    session.commit()


def _versions(desk: Desk) -> list[tuple[int, str]]:
    with get_sessionmaker(write=False)() as reader:
        found = policy_service.versions(reader, organization_id=desk.org.id, scope=ORG_SCOPE)
        return [(v.version, v.comment) for v in found]


def test_the_editor_saves_versions_and_names_the_line_of_an_error(
    client: TestClient, desk: Desk, session: Session
) -> None:
    csrf = login(client, desk.owner)
    page = client.get("/conduct")
    assert page.status_code == 200
    assert "No policy yet" in page.text
    saved = client.post(
        "/conduct", data={"yaml": POLICY, "comment": "the ministry rules", "csrf_token": csrf}
    )
    assert saved.status_code == 303
    broken = client.post("/conduct", data={"yaml": BROKEN, "comment": "oops", "csrf_token": csrf})
    assert broken.status_code == 422
    error = re.search(r'<p class="form-error"[^>]*>(.*?)</p>', broken.text, re.S)
    assert error is not None
    assert "Line 12" in error.group(1)
    assert "careful-fault" in error.group(1)
    assert "shout" in broken.text  # the draft is kept in the box to fix it
    assert _versions(desk) == [(1, "the ministry rules")]
    # Without the CSRF token nothing is saved.
    forged = client.post("/conduct", data={"yaml": POLICY, "comment": "forged"})
    assert forged.status_code == 403
    assert _versions(desk) == [(1, "the ministry rules")]


def test_versions_are_listed_viewable_and_exported(
    client: TestClient, desk: Desk, session: Session
) -> None:
    _save(session, desk, comment="first")
    _save(session, desk, text=POLICY.replace("[refund]", "[refund, voucher]"), comment="vouchers")
    login(client, desk.agent)
    page = client.get("/conduct")
    assert page.status_code == 200
    assert "vouchers" in page.text
    assert "first" in page.text
    assert desk.owner.name in page.text
    assert "Only admins change the code of conduct" in page.text  # an agent reads, never edits
    first_id = int(re.findall(r'href="/conduct\?version=(\d+)"', page.text)[-1])
    old = client.get(f"/conduct?version={first_id}")
    assert "Version 1" in old.text
    assert "voucher" not in old.text.split('id="version-yaml"')[1].split("</pre>")[0]
    exported = client.get("/conduct/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert "-v2.yaml" in exported.headers["content-disposition"]
    assert "voucher" in exported.text
    assert client.get(f"/conduct/export?version={first_id}").text == POLICY
    # An agent cannot save.
    denied = client.post("/conduct", data={"yaml": POLICY, "csrf_token": csrf_from(page.text)})
    assert denied.status_code == 403


def test_adopting_a_starter_and_refining_a_brand_account(
    client: TestClient, desk: Desk, session: Session
) -> None:
    csrf = login(client, desk.owner)
    adopted = client.post("/conduct/starters/faith/adopt", data={"csrf_token": csrf})
    assert adopted.status_code == 303
    assert _versions(desk)[0][1] == "adopted the faith starter policy"
    refinement = (
        "rules:\n  - id: no-coffee\n    explain: x\n    action: warn\n    terms: [coffee]\n"
    )
    saved = client.post(
        "/conduct",
        data={"yaml": refinement, "account": str(desk.web.id), "csrf_token": csrf},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/conduct?account={desk.web.id}"
    page = client.get(f"/conduct?account={desk.web.id}")
    assert "refinement" in page.text
    assert "no-coffee" in page.text
    assert client.get("/conduct?account=999999").status_code == 404


def _switch(client: TestClient, member: Member) -> str:
    """Log out, then in as someone else."""
    client.cookies.clear()
    return login(client, member)


def _send(client: TestClient, csrf: str, conversation_id: int, text: str) -> None:
    response = client.post(
        f"/conversations/{conversation_id}/reply", data={"text": text, "csrf_token": csrf}
    )
    assert response.status_code == 303, response.text


def test_backtest_highlights_what_would_be_flagged(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    conversation_id = new_conversation(session, desk)
    csrf = login(client, desk.owner)
    _send(client, csrf, conversation_id, "Sorry, that was our fault")
    _send(client, csrf, conversation_id, "Your parcel left today")
    empty = client.get("/conduct/backtest")
    assert "There is no policy yet" in empty.text
    result = client.post("/conduct/backtest", data={"yaml": POLICY, "csrf_token": csrf})
    assert result.status_code == 200
    assert "<strong>1</strong> of 2 past outgoing messages" in result.text
    assert re.search(
        r'<mark class="violation violation-warn" data-rule="careful-fault"[^>]*>fault</mark>',
        result.text,
    )
    bad = client.post("/conduct/backtest", data={"yaml": BROKEN, "csrf_token": csrf})
    assert bad.status_code == 422
    assert "Line 12" in bad.text
    _switch(client, desk.agent)
    assert client.get("/conduct/backtest").status_code == 403


def test_live_feedback_in_the_reply_box(client: TestClient, desk: Desk, session: Session) -> None:
    _save(session, desk)
    conversation_id = new_conversation(session, desk)
    page = Page(client, login(client, desk.agent), conversation_id)
    html = page.html()
    assert f'hx-post="/conversations/{conversation_id}/reply/check"' in html
    assert 'id="reply-feedback"' in html

    def feedback(text: str) -> str:
        response = page.post("reply/check", htmx=True, text=text)
        assert response.status_code == 200, response.text
        return response.text

    blocked = feedback("Beer and burgers on the weekend yum yum")
    assert 'data-decision="block"' in blocked
    assert "It cannot be sent as written" in blocked
    assert re.search(
        r'<mark class="violation violation-block" data-rule="no-alcohol"[^>]*>Beer</mark>', blocked
    )
    assert "many in our community abstain" in blocked
    held = feedback("We will refund you")
    assert "will be sent to an approver" in held
    warned = feedback("It was our fault")
    assert "asked to confirm" in warned
    fine = feedback("Thanks for your patience")
    assert 'data-decision="allow"' in fine
    assert "data-decision" not in feedback("   ")
    # A check is a POST like any other: without the token it is refused.
    forged = client.post(
        f"/conversations/{conversation_id}/reply/check", data={"text": "x"}, headers=HX
    )
    assert forged.status_code == 403


def test_live_feedback_counts_the_remaining_length_with_the_signature(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from tests.factories import channels

    account = channels.brand_account(session, desk.org, kind="x")
    account.settings = {**account.settings, "sign_replies": True}
    from tests.factories.conversations import inbound, ingest

    conversation = ingest(session, account, inbound(native_id="x-1", text="hello")).conversation
    session.commit()
    page = Page(client, login(client, desk.owner), conversation.id)
    response = page.post("reply/check", htmx=True, text="a" * 270)
    signature_len = len(" ^" + (desk.owner.initials or ""))
    remaining = 280 - 270 - signature_len
    assert f"{remaining} characters left" in response.text
    assert "signature included" in response.text
    assert response.text.count("characters left") == 1  # said once, under the box

    over = page.post("reply/check", htmx=True, text="a" * 290)
    overshoot = 290 + signature_len - 280
    assert 'class="remaining over" id="reply-remaining"' in over.text
    assert f"{overshoot} characters over the limit" in over.text
    assert "characters left" not in over.text


def test_the_approval_queue(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    _save(session, desk)
    approver = accounts.member(session, desk.org, role=Role.APPROVER, name="Pat Approver")
    session.commit()
    conversation_id = new_conversation(session, desk)
    agent = Page(client, login(client, desk.agent), conversation_id)
    sent = agent.post("reply", text="We will refund you today")
    assert sent.status_code == 303
    html = agent.html()
    assert "Held for approval" in html
    assert "wrote a reply that waits for approval" in html  # in the trail
    assert client.get("/approvals").status_code == 403  # agents do not approve
    assert client.get("/approvals/badge").status_code == 403
    assert 'id="approvals-badge"' not in html  # nor see the menu's link

    csrf = _switch(client, approver)
    queue = client.get("/approvals")
    assert queue.status_code == 200
    # The menu's link loads the count of drafts waiting.
    assert 'id="approvals-badge"' in queue.text
    assert 'hx-get="/approvals/badge"' in queue.text
    badge = client.get("/approvals/badge")
    assert badge.headers["cache-control"] == "no-store"
    assert '<span class="notif-count" aria-label="1 waiting">1</span>' in badge.text
    assert desk.agent.name in queue.text
    assert f'href="/conversations/{conversation_id}"' in queue.text
    assert re.search(
        r'<mark class="violation violation-approve" data-rule="refunds-need-approval"'
        r"[^>]*>refund</mark>",
        queue.text,
    )
    approval_id = int(re.search(r'id="approval-(\d+)"', queue.text).group(1))  # type: ignore[union-attr]
    # Without the CSRF token nothing happens.
    forged = client.post(f"/approvals/{approval_id}/approve", data={"text": "x"})
    assert forged.status_code == 403
    # An edit that breaks a blocking rule is refused beside the draft, and it stays held.
    blocked = client.post(
        f"/approvals/{approval_id}/approve",
        data={"text": "Refund and a beer on us", "comment": "", "csrf_token": csrf},
    )
    assert blocked.status_code == 422
    assert f'id="error-approval-{approval_id}"' in blocked.text
    assert "Refund and a beer on us" in blocked.text
    approved = client.post(
        f"/approvals/{approval_id}/approve",
        data={"text": "We will refund you within 5 days", "comment": "kinder", "csrf_token": csrf},
    )
    assert approved.status_code == 303
    assert "Nothing is waiting for approval" in client.get("/approvals").text
    assert "notif-count" not in client.get("/approvals/badge").text
    jobs.run_pending()
    with get_sessionmaker(write=False)() as reader:
        approval = reader.get_one(Approval, approval_id)
        message = reader.get_one(Message, approval.message_id)
        assert message.text == "We will refund you within 5 days"
        assert message.delivery_state == DeliveryState.SENT.value
    trail = agent.html()
    assert "approved the held reply with edits: kinder" in trail


def test_an_edit_that_brings_a_warning_is_shown_and_confirmed(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    _save(session, desk)
    approver = accounts.member(session, desk.org, role=Role.APPROVER, name="Pat Approver")
    session.commit()
    conversation_id = new_conversation(session, desk)
    Page(client, login(client, desk.agent), conversation_id).post(
        "reply", text="We will refund you today"
    )
    csrf = _switch(client, approver)
    queue = client.get("/approvals").text
    assert 'name="confirmed_text"' not in queue
    approval_id = int(re.search(r'id="approval-(\d+)"', queue).group(1))  # type: ignore[union-attr]
    with get_sessionmaker(write=False)() as reader:
        message_id = reader.get_one(Approval, approval_id).message_id
    edit = "We will refund you today & it was our fault"

    def approve(text: str, **extra: str) -> Response:
        data = {"text": text, "comment": "", "csrf_token": csrf, **extra}
        return client.post(f"/approvals/{approval_id}/approve", data=data)

    def unchanged() -> None:
        with get_sessionmaker(write=False)() as reader:
            message = reader.get_one(Message, message_id)
            approval = reader.get_one(Approval, approval_id)
            assert (message.text, message.delivery_state) == (
                "We will refund you today",
                DeliveryState.HELD.value,
            )
            assert (approval.status, approval.approved_text) == ("pending", None)

    asked = approve(edit)
    assert asked.status_code == 422
    warning = re.search(rf'id="error-approval-{approval_id}">(.*?)</div>', asked.text, re.S)
    assert warning is not None
    assert "Do not admit fault in public." in warning.group(1)
    assert "careful-fault" in warning.group(1)
    assert "refunds-need-approval" not in warning.group(1)  # what it was held for
    assert "Approve anyway" in asked.text
    confirmed_text = re.search(r'name="confirmed_text" value="([^"]*)"', asked.text)
    assert confirmed_text is not None
    assert unescape(confirmed_text.group(1)) == edit
    unchanged()
    # Changed again after reading the clauses: the new text is checked afresh.
    again = approve(edit + ", sorry", confirmed_text=edit)
    assert again.status_code == 422
    assert "Approve anyway" in again.text
    unchanged()

    approved = approve(edit, confirmed_text=unescape(confirmed_text.group(1)))
    assert approved.status_code == 303
    jobs.run_pending()
    with get_sessionmaker(write=False)() as reader:
        message = reader.get_one(Message, message_id)
        assert (message.text, message.delivery_state) == (edit, DeliveryState.SENT.value)
        decision = reader.scalars(
            select(PolicyDecision).where(
                PolicyDecision.stage == "approval", PolicyDecision.message_id == message_id
            )
        ).one()
        assert decision.member_id == approver.id
        assert "careful-fault" in {r["rule"] for r in decision.reasons}


def test_a_multi_line_draft_sent_back_with_crlf_is_not_an_edit(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    _save(session, desk)
    approver = accounts.member(session, desk.org, role=Role.APPROVER, name="Pat Approver")
    session.commit()
    conversation_id = new_conversation(session, desk)
    draft = "We will refund you today.\nKind regards, the team"
    edit = "We will refund you within 5 days.\nKind regards, the team"
    agent = Page(client, login(client, desk.agent), conversation_id)
    agent.post("reply", text=draft)
    agent.post("reply", text=draft)
    csrf = _switch(client, approver)
    queue = client.get("/approvals").text
    assert draft in unescape(queue)  # the textarea shows the draft as it is
    unchanged_id, edited_id = sorted(int(i) for i in re.findall(r'id="approval-(\d+)"', queue))

    def approve(approval_id: int, text: str) -> None:
        # A browser sends a textarea's lines with CRLF, and may end them with one.
        data = {"text": text.replace("\n", "\r\n") + "\r\n", "comment": "", "csrf_token": csrf}
        response = client.post(f"/approvals/{approval_id}/approve", data=data)
        assert response.status_code == 303

    approve(unchanged_id, draft)
    approve(edited_id, edit)
    jobs.run_pending()
    with get_sessionmaker(write=False)() as reader:
        edits = {
            a.data["approval_id"]: a.data["edited"]
            for a in reader.scalars(
                select(Activity).where(
                    Activity.conversation_id == conversation_id,
                    Activity.kind == "approval_approved",
                )
            )
        }
        texts = {}
        for approval_id in (unchanged_id, edited_id):
            approval = reader.get_one(Approval, approval_id)
            message = reader.get_one(Message, approval.message_id)
            assert message.delivery_state == DeliveryState.SENT.value
            assert approval.approved_text == message.text
            texts[approval_id] = message.text
    # Unchanged, line endings aside: approved as written, not recorded as an edit.
    assert (texts[unchanged_id], edits[unchanged_id]) == (draft, False)
    # Edited: kept with the desk's line endings.
    assert (texts[edited_id], edits[edited_id]) == (edit, True)
    trail = Page(client, csrf, conversation_id).html()
    assert trail.count("approved the held reply with edits") == 1


def test_rejecting_needs_a_comment_and_the_author_sees_it(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    _save(session, desk)
    conversation_id = new_conversation(session, desk)
    agent = Page(client, login(client, desk.agent), conversation_id)
    agent.post("reply", text="Full refund, no questions asked")
    csrf = _switch(client, desk.owner)
    queue = client.get("/approvals").text
    approval_id = int(re.search(r'id="approval-(\d+)"', queue).group(1))  # type: ignore[union-attr]
    no_comment = client.post(
        f"/approvals/{approval_id}/reject", data={"comment": "", "csrf_token": csrf}
    )
    assert no_comment.status_code == 422
    assert "say why" in no_comment.text
    rejected = client.post(
        f"/approvals/{approval_id}/reject",
        data={"comment": "ask for the order number first", "csrf_token": csrf},
    )
    assert rejected.status_code == 303
    _switch(client, desk.agent)
    html = agent.html()
    assert "Not sent:" in html
    assert "ask for the order number first" in html


def test_approvals_of_another_organization_are_not_found(
    client: TestClient, desk: Desk, session: Session
) -> None:
    _save(session, desk)
    conversation_id = new_conversation(session, desk)
    Page(client, login(client, desk.agent), conversation_id).post("reply", text="A refund")
    with get_sessionmaker(write=False)() as reader:
        approval_id = reader.query(Approval.id).scalar()
    other = accounts.organization(session, name="Elsewhere")
    outsider = accounts.member(session, other, role=Role.OWNER)
    session.commit()
    csrf = _switch(client, outsider)
    assert "Nothing is waiting" in client.get("/approvals").text
    response = client.post(
        f"/approvals/{approval_id}/approve", data={"text": "", "csrf_token": csrf}
    )
    assert response.status_code == 404


def test_an_approver_cannot_decide_their_own_draft(
    client: TestClient, desk: Desk, session: Session
) -> None:
    _save(session, desk)
    conversation_id = new_conversation(session, desk)
    owner = Page(client, login(client, desk.owner), conversation_id)
    owner.post("reply", text="A refund for you")
    queue = client.get("/approvals").text
    assert "This is your own draft" in queue
    assert "Approve and send" not in queue
    approval_id = int(re.search(r'id="approval-(\d+)"', queue).group(1))  # type: ignore[union-attr]
    response = client.post(
        f"/approvals/{approval_id}/approve", data={"text": "", "csrf_token": owner.csrf}
    )
    assert response.status_code == 422
    assert "someone other than the author" in response.text
