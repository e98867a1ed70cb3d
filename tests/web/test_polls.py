"""The Polls page: the organization's polls with their counts, the form that asks one (CSRF,
the code of conduct's refusals and warnings beside it), and the approvers' and authors'
actions on each card."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock as clocks
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications.models import Notification
from socialdesk.policy import service as policy_service
from socialdesk.polls import service as polls
from socialdesk.polls.models import Poll, PollState
from socialdesk.triage.models import MessageTriage
from socialdesk.web import polls as web_polls
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories import polls as poll_factories
from tests.factories.connectors import (
    PollingConnector,
    WithdrawingPollConnector,
    permanent,
    tally,
)
from tests.factories.conversations import inbound, ingest
from tests.factories.polls import RULES
from tests.web.conftest import HX, Desk, login, new_conversation


@dataclass
class Signed:
    """A member signed in on a browser of their own."""

    client: TestClient
    csrf: str

    def page(self, query: str = "") -> str:
        answer = self.client.get(f"/polls{query}")
        assert answer.status_code == 200, answer.text
        return answer.text

    def post(self, path: str, *, htmx: bool = False, **data: str | list[str]) -> Response:
        return self.client.post(
            path, data={**data, "csrf_token": self.csrf}, headers=HX if htmx else {}
        )

    def ask(
        self,
        account: BrandAccount,
        question: str,
        choices: tuple[str, ...] = ("Early", "Late", "", ""),
        **data: str,
    ) -> Response:
        fields: dict[str, str | list[str]] = {
            "brand_account_id": str(account.id),
            "question": question,
            "options": list(choices),
            "seconds": "86400",
            **data,
        }
        return self.client.post("/polls", data={**fields, "csrf_token": self.csrf})


@pytest.fixture
def network() -> Iterator[PollingConnector]:
    connector = PollingConnector()
    with registry.override(connector):
        yield connector


@pytest.fixture
def mastodon(session: Session, desk: Desk) -> BrandAccount:
    account = channels.brand_account(session, desk.org, kind="mastodon")
    policy_service.save(session, organization_id=desk.org.id, yaml_text=RULES, author=desk.owner)
    session.commit()
    return account


@pytest.fixture
def approver(session: Session, desk: Desk) -> Member:
    member = accounts.member(session, desk.org, role=Role.APPROVER, name="Jonas Berg")
    session.commit()
    return member


SignIn = Callable[[Member], Signed]


@pytest.fixture
def signed_in(app: FastAPI) -> Iterator[SignIn]:
    """``signed_in(member)``: a browser of that member's, logged in through the form."""
    with ExitStack() as browsers:

        def sign_in(member: Member) -> Signed:
            client = browsers.enter_context(TestClient(app, follow_redirects=False))
            return Signed(client, login(client, member))

        yield sign_in


def _stored() -> list[Poll]:
    """The polls as stored now, read in a session of their own (the test's holds no lock)."""
    with get_sessionmaker(write=False)() as reader:
        return list(reader.scalars(select(Poll).order_by(Poll.id)))


def _card(html: str, poll_id: int) -> str:
    """One poll's card on the page."""
    start = html.find(f'<li class="card poll-card" id="poll-{poll_id}"')
    assert start >= 0, f"no card for poll {poll_id}"
    ends = [html.find(end, start + 1) for end in ('<li class="card poll-card"', "</section>")]
    return html[start : min(e for e in ends if e >= 0)]


def _asked_id(answer: Response) -> int:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    match = re.fullmatch(r"/polls\?done=\w+&poll=(\d+)#poll-\1", location)
    assert match, location
    return int(match.group(1))


def test_the_page_lists_polls_with_their_results(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
    jobs: JobRunner,
    clock: FrozenClock,
) -> None:
    agent = signed_in(desk.agent)
    asked = agent.ask(mastodon, "Which opening hours suit you?", multiple="1")
    poll_id = _asked_id(asked)
    assert asked.headers["location"] == f"/polls?done=queued&poll={poll_id}#poll-{poll_id}"
    card = _card(agent.page(f"?done=queued&poll={poll_id}"), poll_id)
    assert "Queued: it passed the code of conduct and will be posted in a moment." in card
    assert "Queued</span>" in card
    jobs.run_pending()
    network.tallies["p1"] = [tally("p1", (4, 9), voters=12)]
    clock.advance(polls.COUNT_EVERY)
    session.commit()
    polls.count_open()
    card = _card(agent.page(), poll_id)
    assert "Which opening hours suit you?" in card
    assert f"asked by {desk.agent.name}" in card
    assert "Open</span>" in card
    assert "Closes in 23h 55m" in card
    assert (
        '<a href="https://mastodon.example/@brand/1" target="_blank" rel="noopener noreferrer">'
        in card
    )
    # Each choice with its bar, number and share; the leading one marked in words.
    assert re.search(r"Early\s*</span>\s*<span class=\"poll-figures\">4 votes · 31%", card)
    assert 'role="img" aria-label="Early: 31% of the votes"><span style="width: 31%">' in card
    assert re.search(r'Late <span class="chip chip-leading">Leading</span>', card)
    assert "9 votes · 69%" in card
    assert "13 votes, 12 voters" in card
    assert "counts as of <time" in card
    assert re.search(r"counts as of <time datetime=\"[^\"]+\" title=\"[^\"]+\">09:05</time>", card)
    assert "voters may choose several" in card
    # A reading that failed is a quiet note; the figures stay.
    network.read_failures.append(permanent("503 from the server"))
    clock.advance(polls.COUNT_EVERY)
    polls.count_open()
    card = _card(agent.page(), poll_id)
    assert "The counts could not be read: 503 from the server" in card
    assert "9 votes · 69%" in card
    assert "counts as of" not in card


def _live(html: str) -> dict[str, str]:
    """The attributes of the polls list that keeps it live (empty when it is not)."""
    section = re.search(r'<section [^>]*id="polls-live"[^>]*>', html)
    assert section is not None, "no live list on the page"
    return dict(re.findall(r'(hx-[\w-]+)="([^"]*)"', section.group(0)))


def test_the_list_reads_itself_again_when_a_poll_changes(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    jobs: JobRunner,
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "Which opening hours suit you?"))
    page = agent.page()
    # The page listens to the organization's live stream, and its list to poll.changed
    # (desk.js's sdIdle keeps a card being typed in as it is).
    assert 'hx-ext="sse" sse-connect="/events/stream"' in page
    live = _live(page)
    assert live["hx-trigger"] == "sse:poll.changed[sdIdle(this)] delay:250ms"
    assert (live["hx-get"], live["hx-select"], live["hx-swap"]) == (
        "/polls",
        "#polls-live",
        "outerHTML",
    )
    desk_js = agent.client.get("/static/desk.js").text
    assert "window.sdIdle = function" in desk_js
    # The header's "N polls wait for an approver" comes along with the list.
    assert live["hx-select-oob"] == "#polls-held-wrap"
    # What the refresh reads: the list as it is now, the poll posted since.
    jobs.run_pending()
    fresh = agent.client.get(live["hx-get"], headers=HX).text
    assert "Open</span>" in _card(fresh, poll_id)
    assert '<div id="polls-held-wrap">' in fresh
    assert _live(fresh)["hx-get"] == "/polls"
    # A poll's own page reads itself (an older page of the list, that page: below).
    assert _live(agent.page(f"/{poll_id}"))["hx-get"] == f"/polls/{poll_id}"


def test_asking_needs_the_forms_token_and_stores_what_was_asked(
    desk: Desk, mastodon: BrandAccount, network: PollingConnector, signed_in: SignIn
) -> None:
    agent = signed_in(desk.agent)
    page = agent.page()
    assert 'action="/polls"' in page
    assert f'<option value="{mastodon.id}"' in page
    assert desk.web.id != mastodon.id
    assert f'<option value="{desk.web.id}"' not in page
    assert '<option value="86400" selected>1 day</option>' in page
    forged = agent.client.post(
        "/polls",
        data={"brand_account_id": str(mastodon.id), "question": "Hi?", "options": ["a", "b"]},
    )
    assert forged.status_code == 403
    assert _stored() == []
    poll_id = _asked_id(agent.ask(mastodon, "  Tea or coffee?  ", ("Tea", "", "Coffee", "")))
    (poll,) = _stored()
    assert poll.id == poll_id
    assert (poll.question, poll.options, poll.seconds, poll.multiple) == (
        "Tea or coffee?",
        ["Tea", "Coffee"],
        86400,
        False,
    )
    assert poll.state == PollState.QUEUED.value


def test_what_the_network_would_refuse_is_named_beside_its_field(
    desk: Desk, mastodon: BrandAccount, network: PollingConnector, signed_in: SignIn
) -> None:
    agent = signed_in(desk.agent)
    answer = agent.ask(mastodon, "Only one way?", ("Yes", "", "", ""))
    assert answer.status_code == 422
    assert 'id="error-poll-options">a poll needs at least two choices</p>' in answer.text
    assert ">Only one way?</textarea>" in answer.text
    assert 'value="Yes"' in answer.text
    too_short = agent.ask(mastodon, "Quick one?", seconds="60")
    assert too_short.status_code == 422
    assert 'id="error-poll-seconds">a poll on this account' in too_short.text
    not_ours = agent.ask(desk.web, "Hi?")
    assert not_ours.status_code == 422
    assert 'id="error-poll-brand_account_id">Website accounts cannot post polls' in not_ours.text
    assert _stored() == []


def test_what_x_would_refuse_is_named_beside_its_field(
    session: Session, desk: Desk, signed_in: SignIn
) -> None:
    """X's own limits, from the real X connector (no call to X is made to ask)."""
    x = channels.brand_account(session, desk.org, kind="x", user_id="2244994945")
    channels_service.set_credentials(x, {"access_token": "token-x"})
    session.commit()
    agent = signed_in(desk.agent)
    page = agent.page()
    assert f'<option value="{x.id}"' in page
    several = agent.ask(x, "Which ones do you ride?", ("Tram", "Bus", "", ""), multiple="1")
    assert several.status_code == 422
    assert (
        'id="error-poll-multiple">polls on this account&#39;s network take one answer per voter'
        in several.text
    )
    too_long = agent.ask(x, "Which one?", ("The night bus that never comes", "Tram", "", ""))
    assert too_long.status_code == 422
    assert 'id="error-poll-options">choice 1 has 30 characters' in too_long.text
    assert _stored() == []
    fine = agent.ask(x, "Which one do you ride most?", ("Tram", "Bus", "", ""))
    [asked] = _stored()
    assert asked.id == _asked_id(fine)
    assert asked.brand_account_id == x.id


def test_a_blocked_poll_is_refused_with_the_rule_and_nothing_is_stored(
    desk: Desk, mastodon: BrandAccount, network: PollingConnector, signed_in: SignIn
) -> None:
    agent = signed_in(desk.agent)
    answer = agent.ask(mastodon, "What goes with pizza?", ("Wine", "Beer", "", ""))
    assert answer.status_code == 422
    assert "This poll cannot be posted as written:" in answer.text
    # The rule matched twice (wine, beer): one reason to read.
    assert answer.text.count("We do not talk about drinking: many in our community") == 1
    assert "<code>no-alcohol</code>" in answer.text
    assert ">What goes with pizza?</textarea>" in answer.text
    assert 'value="Beer"' in answer.text
    assert 'name="confirmed_wording"' not in answer.text
    assert _stored() == []


def test_a_warning_asks_for_confirmation_then_posts(
    desk: Desk, mastodon: BrandAccount, network: PollingConnector, signed_in: SignIn
) -> None:
    agent = signed_in(desk.agent)
    question = "Are we better than AcmeCorp?"
    first = agent.ask(mastodon, question, ("Yes", "No", "", ""))
    assert first.status_code == 422
    assert "The code of conduct warns about this poll:" in first.text
    assert "Naming a competitor in public needs a second thought." in first.text
    assert 'name="confirmed_wording"' in first.text
    assert "Post anyway" in first.text
    assert _stored() == []
    # With HTMX the form alone comes back, swapped in place.
    htmx = agent.post(
        "/polls",
        htmx=True,
        brand_account_id=str(mastodon.id),
        question=question,
        options=["Yes", "No"],
        seconds="86400",
    )
    assert htmx.status_code == 422
    assert htmx.text.lstrip().startswith('<section class="card poll-form-card" id="new-poll"')
    assert "<html" not in htmx.text
    wording = f"{mastodon.id}\n{question}\nYes\nNo"
    # A choice changed after reading the warning: the poll is checked again, not waved through.
    changed = agent.ask(
        mastodon, question, ("Yes", "No", "AcmeCorp", ""), confirmed_wording=wording
    )
    assert changed.status_code == 422
    assert "Naming a competitor in public needs a second thought." in changed.text
    assert _stored() == []
    posted = agent.ask(mastodon, question, ("Yes", "No", "", ""), confirmed_wording=wording)
    poll_id = _asked_id(posted)
    assert [(p.id, p.state) for p in _stored()] == [(poll_id, "queued")]
    redirected = agent.post(
        "/polls",
        htmx=True,
        brand_account_id=str(mastodon.id),
        question="Morning or evening?",
        options=["Morning", "Evening"],
        seconds="3600",
    )
    assert redirected.status_code == 200
    assert re.fullmatch(
        r"/polls\?done=queued&poll=(\d+)#poll-\1", redirected.headers["hx-redirect"]
    )


def test_a_held_poll_is_decided_by_an_approver_who_is_not_its_author(
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
    jobs: JobRunner,
    session: Session,
) -> None:
    agent = signed_in(desk.agent)
    asked = agent.ask(mastodon, "Which price plan should we add?", ("Family", "Student", "", ""))
    poll_id = _asked_id(asked)
    assert asked.headers["location"] == f"/polls?done=held&poll={poll_id}#poll-{poll_id}"
    approve_form = f'action="/polls/{poll_id}/approve"'
    reject_form = f'action="/polls/{poll_id}/reject"'
    mine = _card(agent.page(), poll_id)
    assert "Held for approval</span>" in mine
    assert "Someone other than you must approve it." in mine
    assert "Anything about prices needs a supervisor&#39;s approval." in mine
    assert approve_form not in mine
    assert reject_form not in mine
    colleague = accounts.member(session, desk.org, role=Role.AGENT, name="Cleo Colleague")
    session.commit()
    other_agent = _card(signed_in(colleague).page(), poll_id)
    assert approve_form not in other_agent
    assert reject_form not in other_agent
    jobs.run_pending()
    assert network.polls == []
    boss = signed_in(approver)
    page = boss.page()
    assert re.search(r'id="polls-held"><strong>1</strong> poll waits for an approver', page)
    theirs = _card(page, poll_id)
    assert approve_form in theirs
    assert reject_form in theirs
    # The author cannot approve their own poll, even by posting the form.
    own = agent.post(f"/polls/{poll_id}/approve", comment="")
    assert own.status_code == 403
    approved = boss.post(f"/polls/{poll_id}/approve", comment="Fine by me")
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/polls?done=approved&poll={poll_id}#poll-{poll_id}"
    jobs.run_pending()
    (poll,) = _stored()
    assert (poll.state, poll.decided_by_id, poll.decision_comment) == (
        "open",
        approver.id,
        "Fine by me",
    )
    assert len(network.polls) == 1
    card = _card(agent.page(), poll_id)
    assert "approved by Jonas Berg: “Fine by me”" in card
    again = boss.post(f"/polls/{poll_id}/approve", comment="")
    assert again.status_code == 422
    assert "this poll is not waiting for approval (it is open)" in _card(again.text, poll_id)


def test_rejecting_needs_a_comment_for_the_author(
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
    jobs: JobRunner,
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "A price question", ("a", "b", "", "")))
    boss = signed_in(approver)
    silent = boss.post(f"/polls/{poll_id}/reject", comment="  ")
    assert silent.status_code == 422
    card = _card(silent.text, poll_id)
    assert f'id="error-poll-{poll_id}">say why, so the author can ask it better</p>' in card
    assert 'aria-invalid="true"' in card
    assert _live(silent.text) == {}  # no live refresh wipes the refusal before it is read
    assert [p.state for p in _stored()] == ["held"]
    rejected = boss.post(f"/polls/{poll_id}/reject", comment="Not this month")
    assert rejected.status_code == 303
    jobs.run_pending()
    assert network.polls == []
    card = _card(agent.page(), poll_id)
    assert "Rejected</span>" in card
    assert "By Jonas Berg: “Not this month”" in card


def test_a_failed_poll_can_be_tried_again(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    jobs: JobRunner,
) -> None:
    network.failures.append(permanent("422: the poll options are invalid"))
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "Tea or coffee?", ("Tea", "Coffee", "", "")))
    jobs.run_pending()
    retry_form = f'action="/polls/{poll_id}/retry"'
    card = _card(agent.page(), poll_id)
    assert "Not posted:</strong> 422: the poll options are invalid" in card
    assert retry_form in card
    assert retry_form not in _card(signed_in(desk.viewer).page(), poll_id)
    retried = agent.post(f"/polls/{poll_id}/retry")
    assert retried.status_code == 303
    assert retried.headers["location"] == f"/polls?done=retried&poll={poll_id}#poll-{poll_id}"
    jobs.run_pending()
    assert [p.state for p in _stored()] == ["open"]
    assert len(network.polls) == 1
    again = agent.post(f"/polls/{poll_id}/retry")
    assert again.status_code == 422
    assert "only a poll that failed can be tried again" in _card(again.text, poll_id)


def test_a_viewer_reads_the_polls_but_cannot_ask(
    desk: Desk, mastodon: BrandAccount, network: PollingConnector, signed_in: SignIn
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "Tea or coffee?", ("Tea", "Coffee", "", "")))
    viewer = signed_in(desk.viewer)
    page = viewer.page()
    assert '<a href="/polls" aria-current="page">Polls</a>' in page
    assert "Tea or coffee?" in _card(page, poll_id)
    assert 'action="/polls"' not in page
    refused = viewer.ask(mastodon, "Me too?", ("Yes", "No", "", ""))
    assert refused.status_code == 403
    assert len(_stored()) == 1


def test_without_a_mastodon_account_the_form_says_where_to_connect_one(
    desk: Desk, network: PollingConnector, signed_in: SignIn
) -> None:
    page = signed_in(desk.agent).page()
    assert 'id="no-poll-accounts"' in page
    assert 'href="/admin/accounts"' in page
    assert 'id="polls-empty"' in page


def test_another_organizations_poll_is_not_found(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    elsewhere = accounts.organization(session, name="Elsewhere")
    their_account = channels.brand_account(session, elsewhere, kind="mastodon")
    their_agent = accounts.member(session, elsewhere, role=Role.AGENT)
    theirs = polls.create(
        session,
        author=their_agent,
        draft=polls.Draft(
            brand_account_id=their_account.id,
            question="Ours?",
            options=("Yes", "No"),
            seconds=86400,
        ),
    )
    theirs.state = PollState.FAILED.value  # as if posting had failed
    session.commit()
    owner = signed_in(desk.owner)
    assert f'id="poll-{theirs.id}"' not in owner.page()
    for action in ("approve", "reject", "retry"):
        answer = owner.post(f"/polls/{theirs.id}/{action}", comment="no")
        assert answer.status_code == 404, action
        assert "does not exist" in answer.text
    assert [p.state for p in _stored()] == ["failed"]
    assert owner.client.get(f"/polls/{theirs.id}").status_code == 404


def test_a_notification_opens_the_poll_on_a_page_of_its_own(
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "A price question?", ("Yes", "No", "", "")))
    for n in range(web_polls.PAGE_SIZE):  # newer polls push it off the list's first page
        agent.ask(mastodon, f"Newer question {n}?")
    boss = signed_in(approver)
    assert f'id="poll-{poll_id}"' not in boss.page()
    session.expire_all()
    told = session.scalars(
        select(Notification).where(
            Notification.member_id == approver.id, Notification.kind == "approval.poll"
        )
    ).one()
    assert told.link == f"/polls/{poll_id}"
    page = boss.client.get(told.link)
    assert page.status_code == 200, page.text
    card = _card(page.text, poll_id)
    assert f'action="/polls/{poll_id}/approve"' in card
    assert page.text.count('class="card poll-card"') == 1
    assert 'action="/polls"' not in page.text  # no new-poll form on a poll's own page


def test_older_polls_are_a_page_away(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
    clock: FrozenClock,
) -> None:
    from socialdesk.web.polls import PAGE_SIZE

    for number in range(PAGE_SIZE + 1):
        polls.create(
            session,
            author=desk.agent,
            draft=polls.Draft(
                brand_account_id=mastodon.id,
                question=f"Question {number}?",
                options=("Yes", "No"),
                seconds=86400,
            ),
        )
        clock.advance(polls.COUNT_EVERY)
    session.commit()
    agent = signed_in(desk.agent)
    first = agent.page()
    assert "Question 20?" in first
    assert "Question 0?" not in first
    older = re.search(r'href="(/polls\?cursor=[^"]+)" id="polls-older">Older polls', first)
    assert older
    second = agent.client.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "Question 0?" in second.text
    assert "Question 1?" not in second.text
    assert _live(second.text)["hx-get"] == older.group(1)  # live, on its own page


def test_a_post_address_that_is_not_a_web_address_is_no_link(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
    jobs: JobRunner,
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "Tea or coffee?", ("Tea", "Coffee", "", "")))
    jobs.run_pending()
    session.get_one(Poll, poll_id).url = "javascript:alert(document.cookie)"
    session.commit()
    card = _card(agent.page(), poll_id)
    assert "Open</span>" in card
    assert "javascript:" not in card
    assert "See the post" not in card


def test_the_approvals_queue_points_to_held_polls(
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
) -> None:
    boss = signed_in(approver)
    assert 'id="held-polls"' not in boss.client.get("/approvals").text
    signed_in(desk.agent).ask(mastodon, "A price question?")
    queue = boss.client.get("/approvals").text
    assert re.search(r'id="held-polls"><strong>1</strong> poll waits for approval too', queue)
    assert '<a href="/polls">see Polls</a>' in queue


# -- where an action leads ----------------------------------------------------------------------


def test_an_action_on_the_polls_own_page_comes_back_to_it(
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    poll = held_poll(session, mastodon, desk.agent)
    boss = signed_in(approver)
    page = boss.client.get(f"/polls/{poll.id}").text
    # The own page's forms say where they come from; the list's carry no such field.
    assert f'<input type="hidden" name="back" value="/polls/{poll.id}">' in _card(page, poll.id)
    assert 'name="back"' not in boss.page()
    approved = boss.post(f"/polls/{poll.id}/approve", comment="Fine", back=f"/polls/{poll.id}")
    assert approved.status_code == 303
    location = approved.headers["location"]
    assert location == f"/polls/{poll.id}?done=approved&poll={poll.id}#poll-{poll.id}"
    landed = boss.client.get(location.split("#")[0])
    assert landed.status_code == 200
    card = _card(landed.text, poll.id)
    assert "Approved: it will be posted in a moment." in card
    assert 'id="polls-all"' in landed.text  # the poll's own page, not the list
    assert landed.text.count('class="card poll-card"') == 1
    # A refusal on the own page is shown there too, beside the card.
    again = boss.post(f"/polls/{poll.id}/approve", comment="", back=f"/polls/{poll.id}")
    assert again.status_code == 422
    assert 'id="polls-all"' in again.text
    assert "this poll is not waiting for approval (it is queued)" in _card(again.text, poll.id)


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/",
        "//evil",
        "/\\evil.example",
        "/polls/{other}",
        "/polls/{id}/../../evil",
        "/polls/{id}?next=https://evil.example/",
        "/polls",
        "",
    ],
)
def test_a_forged_return_address_leads_to_the_list(
    back: str,
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    poll = held_poll(session, mastodon, desk.agent)
    other = held_poll(session, mastodon, desk.agent)
    boss = signed_in(approver)
    answer = boss.post(
        f"/polls/{poll.id}/reject",
        comment="Not now",
        back=back.format(id=poll.id, other=other.id),
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/polls?done=rejected&poll={poll.id}#poll-{poll.id}"


def held_poll(session: Session, account: BrandAccount, author: Member) -> Poll:
    poll = poll_factories.held(session, account, author)
    session.commit()
    return poll


# -- the menu's Approvals badge -----------------------------------------------------------------


def test_the_approvals_badge_counts_held_polls_for_those_who_may_decide_them(
    desk: Desk,
    mastodon: BrandAccount,
    approver: Member,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    boss = signed_in(approver)
    owner = signed_in(desk.owner)
    assert "notif-count" not in boss.client.get("/approvals/badge").text
    # The approver's own poll waits for someone else: the owner's badge counts it, not theirs.
    held_poll(session, mastodon, approver)
    assert "notif-count" not in boss.client.get("/approvals/badge").text
    assert '<span class="notif-count" aria-label="1 waiting">1</span>' in (
        owner.client.get("/approvals/badge").text
    )
    # A held reply draft and a held poll add up.
    held_poll(session, mastodon, desk.agent)
    conversation_id = new_conversation(session, desk)
    agent = signed_in(desk.agent)
    replied = agent.post(f"/conversations/{conversation_id}/reply", text="Our new price is 5 euros")
    assert replied.status_code == 303, replied.text
    assert '<span class="notif-count" aria-label="2 waiting">2</span>' in (
        boss.client.get("/approvals/badge").text
    )
    assert '<span class="notif-count" aria-label="3 waiting">3</span>' in (
        owner.client.get("/approvals/badge").text
    )


# -- a poll's replies ---------------------------------------------------------------------------


def _replies(html: str) -> str:
    start = html.find('<section class="card poll-replies" id="poll-replies"')
    assert start >= 0, "no Replies section"
    return html[start : html.index("</section>", start)]


def test_a_posted_polls_page_lists_its_replies(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    poll = poll_factories.posted(session, mastodon, desk.agent, post_id="1001")
    quiet = poll_factories.posted(session, mastodon, desk.agent, post_id="1002")
    now = clocks.now()
    first = ingest(
        session,
        mastodon,
        inbound(
            reply_to="1001", author="ana", text="Late, I work days", at=now - timedelta(hours=2)
        ),
    )
    long_text = "Early please. " + "Really early, before work. " * 20
    second = ingest(
        session,
        mastodon,
        inbound(reply_to="1001", author="ben", text=long_text, at=now - timedelta(hours=1)),
    )
    # The same post id answered on another account, or in another organization, is not ours.
    other_account = channels.brand_account(session, desk.org, kind="mastodon")
    ingest(session, other_account, inbound(reply_to="1001", author="cy", text="Other account"))
    elsewhere = accounts.organization(session, name="Elsewhere")
    their_account = channels.brand_account(session, elsewhere, kind="mastodon")
    ingest(session, their_account, inbound(reply_to="1001", author="dee", text="Elsewhere"))
    session.commit()

    agent = signed_in(desk.agent)
    page = agent.client.get(f"/polls/{poll.id}").text
    section = _replies(page)
    assert 'poll-replies-count">(2)</span>' in section
    assert section.index("Ben") < section.index("Ana")  # newest first
    assert "@ana" in section
    assert "Late, I work days" in section
    assert f'href="/conversations/{first.conversation.id}"' in section
    assert f'href="/conversations/{second.conversation.id}"' in section
    assert long_text.strip() not in section  # a long reply is cut short
    assert "Early please. Really early" in section
    assert "…" in section
    for stranger in ("Other account", "Elsewhere", "Cy", "Dee"):
        assert stranger not in section
    # How the replies sound and what they are, as ingest's triage labelled them, summed up
    # above them and shown on each.
    labels = {m: session.get_one(MessageTriage, m) for m in (first.message.id, second.message.id)}
    mood = section[section.index('id="poll-mood"') : section.index("</div>")]
    for sentiment in {t.sentiment for t in labels.values()}:
        number = sum(t.sentiment == sentiment for t in labels.values())
        assert f'chip-sentiment-{sentiment}">{number} {sentiment}' in mood
    for intent in {t.intent for t in labels.values()}:
        number = sum(t.intent == intent for t in labels.values())
        plural = number != 1 and intent in ("complaint", "question", "idea")
        assert f"{number} {intent}{'s' if plural else ''}</span>" in mood
    assert (
        f'<span class="visually-hidden">Sentiment: </span>{labels[first.message.id].sentiment}'
        in section
    )
    # The conversation link leads to the reply.
    assert "Late, I work days" in agent.client.get(f"/conversations/{first.conversation.id}").text
    # A posted poll nobody answered yet says so.
    empty = _replies(agent.client.get(f"/polls/{quiet.id}").text)
    assert 'poll-replies-count">(0)</span>' in empty
    assert 'id="poll-replies-empty">No replies yet.' in empty
    # On the list, a card with replies links their number to the poll's page.
    listing = agent.page()
    assert f'<a href="/polls/{poll.id}#poll-replies" class="poll-replies-link">2 replies</a>' in (
        _card(listing, poll.id)
    )
    assert "poll-replies-link" not in _card(listing, quiet.id)
    assert 'id="poll-replies"' not in listing


def test_a_counted_polls_results_download_as_a_spreadsheet(
    desk: Desk, mastodon: BrandAccount, signed_in: SignIn, session: Session
) -> None:
    counted = poll_factories.posted(session, mastodon, desk.agent, post_id="1001")
    counted.votes, counted.counted_at = [4, 9], clocks.now()
    waiting = poll_factories.held(session, mastodon, desk.agent)
    reader = accounts.member(session, desk.org, role=Role.VIEWER)
    session.commit()
    viewer = signed_in(reader)
    listing = viewer.page()
    link = f'<a href="/polls/{counted.id}/results.csv" download>Download the results (CSV)</a>'
    assert link in _card(listing, counted.id)
    assert "results.csv" not in _card(listing, waiting.id)
    answer = viewer.client.get(f"/polls/{counted.id}/results.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text.splitlines()[1:] != []
    assert "Late,9,0.6923,yes" in answer.text
    elsewhere = accounts.organization(session, name="Elsewhere")
    theirs = poll_factories.posted(
        session,
        channels.brand_account(session, elsewhere, kind="mastodon"),
        accounts.member(session, elsewhere),
        post_id="2002",
    )
    session.commit()
    assert viewer.client.get(f"/polls/{theirs.id}/results.csv").status_code == 404


def test_a_conversation_says_which_poll_its_message_answers(
    desk: Desk, mastodon: BrandAccount, signed_in: SignIn, session: Session
) -> None:
    poll = poll_factories.posted(session, mastodon, desk.agent, post_id="1001")
    answer = ingest(session, mastodon, inbound(reply_to="1001", author="ana", text="Late"))
    other = ingest(session, mastodon, inbound(reply_to="9999", author="ben", text="Hello"))
    # Another organization's account answering a post of the same id answers no poll of ours.
    elsewhere = accounts.organization(session, name="Elsewhere")
    theirs = ingest(
        session,
        channels.brand_account(session, elsewhere, kind="mastodon"),
        inbound(reply_to="1001", author="cy"),
    )
    session.commit()
    agent = signed_in(desk.agent)
    page = agent.client.get(f"/conversations/{answer.conversation.id}").text
    assert (
        f'<p class="msg-context">Answers the poll <a href="/polls/{poll.id}">'
        f"“{poll.question}”</a></p>"
    ) in page
    assert "msg-context" not in agent.client.get(f"/conversations/{other.conversation.id}").text
    assert theirs.conversation.organization_id != desk.org.id


def test_a_poll_not_posted_has_no_replies_section(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    poll = held_poll(session, mastodon, desk.agent)
    page = signed_in(desk.agent).client.get(f"/polls/{poll.id}")
    assert page.status_code == 200
    assert 'id="poll-replies"' not in page.text
    assert "No replies yet" not in page.text


def test_the_list_counts_replies_in_one_query_for_the_page(
    desk: Desk,
    mastodon: BrandAccount,
    network: PollingConnector,
    signed_in: SignIn,
    session: Session,
) -> None:
    agent = signed_in(desk.agent)

    def queries_on_messages() -> int:
        seen: list[str] = []

        def record(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(Engine, "before_cursor_execute", record)
        try:
            assert agent.client.get("/polls").status_code == 200
        finally:
            event.remove(Engine, "before_cursor_execute", record)
        return sum(1 for statement in seen if "messages" in statement)

    def poll_with_reply(post_id: str) -> None:
        poll_factories.posted(session, mastodon, desk.agent, post_id=post_id)
        ingest(session, mastodon, inbound(reply_to=post_id, author=f"fan-{post_id}"))
        session.commit()

    poll_with_reply("2001")
    one = queries_on_messages()
    assert one >= 1
    for post_id in ("2002", "2003", "2004"):
        poll_with_reply(post_id)
    assert queries_on_messages() == one
    assert agent.page().count('class="poll-replies-link">1 reply</a>') == 4


@pytest.fixture
def deleting() -> Iterator[WithdrawingPollConnector]:
    """A Mastodon that posts polls and takes posts back."""
    connector = WithdrawingPollConnector()
    with registry.override(connector):
        yield connector


def test_a_posted_poll_is_withdrawn_from_its_card_with_a_reason(
    desk: Desk,
    mastodon: BrandAccount,
    deleting: WithdrawingPollConnector,
    signed_in: SignIn,
    session: Session,
    jobs: JobRunner,
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "Tea or coffee?", ("Tea", "Coffee", "", "")))
    form = f'action="/polls/{poll_id}/withdraw"'
    assert form not in _card(agent.page(), poll_id)  # queued: nothing to take back yet
    jobs.run_pending()
    card = _card(agent.page(), poll_id)
    assert form in card
    assert f'<label for="withdraw-reason-poll-{poll_id}">Why take it back?</label>' in card
    assert "Withdraw from Mastodon</button>" in card
    # Its author and the owners and admins are offered it; a colleague and a viewer are not.
    colleague = accounts.member(session, desk.org, role=Role.AGENT, name="Sam Other")
    session.commit()
    assert form in _card(signed_in(desk.owner).page(), poll_id)
    assert form not in _card(signed_in(colleague).page(), poll_id)
    assert form not in _card(signed_in(desk.viewer).page(), poll_id)

    refused = agent.post(f"/polls/{poll_id}/withdraw", reason="  ")
    assert refused.status_code == 422
    card = _card(refused.text, poll_id)
    assert "say why the poll is withdrawn" in card
    assert '<details class="withdraw" open>' in card
    assert [p.withdrawal_state for p in _stored()] == [None]

    asked = agent.post(f"/polls/{poll_id}/withdraw", reason="Asked from the wrong account")
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/polls?done=withdrawing&poll={poll_id}#poll-{poll_id}"
    card = _card(agent.page(f"?done=withdrawing&poll={poll_id}"), poll_id)
    assert "Being withdrawn: its post is deleted from the network in a moment." in card
    assert "<strong>Being withdrawn</strong> from Mastodon (asked by Alex Agent" in card
    assert form not in card
    jobs.run_pending()
    card = _card(agent.page(), poll_id)
    assert "Withdrawn</span>" in card
    assert "<strong>Withdrawn</strong> from Mastodon by Alex Agent" in card
    assert ": Asked from the wrong account" in card
    assert form not in card
    (stored,) = _stored()
    assert (stored.state, stored.withdrawal_state) == ("withdrawn", "withdrawn")
    assert deleting.withdrawn == [stored.post_id]


def test_a_failed_withdrawal_shows_the_reason_and_try_again(
    desk: Desk,
    mastodon: BrandAccount,
    deleting: WithdrawingPollConnector,
    signed_in: SignIn,
    jobs: JobRunner,
) -> None:
    agent = signed_in(desk.agent)
    poll_id = _asked_id(agent.ask(mastodon, "Tea or coffee?", ("Tea", "Coffee", "", "")))
    jobs.run_pending()
    deleting.withdraw_failures = [permanent("the instance refused the request (403): forbidden")]
    own = f"/polls/{poll_id}"
    asked = agent.post(f"/polls/{poll_id}/withdraw", reason="Wrong question", back=own)
    assert asked.headers["location"] == f"{own}?done=withdrawing&poll={poll_id}#poll-{poll_id}"
    jobs.run_pending()
    card = _card(agent.client.get(own).text, poll_id)
    assert "Could not be withdrawn:</strong> the instance refused the request (403)" in card
    assert "Open</span>" in card  # still up, and counted
    assert '<input type="hidden" name="reason" value="Wrong question">' in card
    again = agent.post(f"/polls/{poll_id}/withdraw", reason="Wrong question", back=own)
    assert again.status_code == 303
    jobs.run_pending()
    assert [p.state for p in _stored()] == ["withdrawn"]
