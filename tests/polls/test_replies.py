"""What people wrote back to a poll: inbound replies to its post on its own account and in its
own organization are counted and listed, newest first; the brand's own answers, replies on
another account or in another organization to a post of the same id, and polls not posted
yet have none. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.common import clock
from socialdesk.polls import replies
from socialdesk.triage.models import MessageTriage
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.factories.polls import held, posted


def test_replies_to_the_post_are_counted_and_the_newest_listed(session: Session) -> None:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    poll = posted(session, mastodon, agent, post_id="1001")
    now = clock.now()
    first = ingest(
        session,
        mastodon,
        inbound(
            reply_to="1001", author="ana", text="Late, I work days", at=now - timedelta(hours=3)
        ),
    )
    second = ingest(
        session,
        mastodon,
        inbound(reply_to="1001", author="ben", text="Early please", at=now - timedelta(hours=2)),
    )
    third = ingest(
        session,
        mastodon,
        inbound(reply_to="1001", author="ana", text="Or both?", at=now - timedelta(hours=1)),
    )
    # The brand's own answer in the thread, and a reply to a reply, are not replies to the poll.
    ingest(session, mastodon, inbound(reply_to="1001", from_brand=True, text="Thanks!"))
    ingest(session, mastodon, inbound(reply_to=first.message.native_id, author="cy"))
    session.commit()

    found = replies.of(session, poll=poll)
    assert found.count == 3
    assert [r.message_id for r in found.newest] == [
        third.message.id,
        second.message.id,
        first.message.id,
    ]
    newest = found.newest[0]
    assert (newest.conversation_id, newest.text) == (third.conversation.id, "Or both?")
    assert (newest.author_name, newest.author_handle) == ("Ana", "@ana")
    assert newest.created_at == now - timedelta(hours=1)
    assert newest.created_at.tzinfo is not None

    two = replies.of(session, poll=poll, limit=2)
    assert two.count == 3
    assert [r.message_id for r in two.newest] == [third.message.id, second.message.id]
    assert replies.counts(session, polls=[poll]) == {poll.id: 3}


def test_another_account_or_organization_answering_the_same_post_id_does_not_count(
    session: Session,
) -> None:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    second_account = channels.brand_account(session, org, kind="mastodon")
    elsewhere = accounts.organization(session, name="Elsewhere")
    their_account = channels.brand_account(session, elsewhere, kind="mastodon")
    poll = posted(session, mastodon, agent, post_id="1001")
    quiet = posted(session, mastodon, agent, post_id="1002")
    ours = ingest(session, mastodon, inbound(reply_to="1001", author="ana"))
    # Post ids are the network's, one instance's each: the same id on another account (another
    # instance) or in another organization is another post.
    ingest(session, second_account, inbound(reply_to="1001", author="ben"))
    ingest(session, their_account, inbound(reply_to="1001", author="cy"))
    session.commit()

    found = replies.of(session, poll=poll)
    assert found.count == 1
    assert [r.message_id for r in found.newest] == [ours.message.id]
    assert replies.of(session, poll=quiet).count == 0
    assert replies.counts(session, polls=[poll, quiet]) == {poll.id: 1}
    # Their own poll on the same post id sees only their reply.
    their_agent = accounts.member(session, elsewhere, role=Role.AGENT)
    theirs = posted(session, their_account, their_agent, post_id="1001")
    session.commit()
    assert [r.author_name for r in replies.of(session, poll=theirs).newest] == ["Cy"]
    assert replies.counts(session, polls=[poll, theirs]) == {poll.id: 1, theirs.id: 1}


def test_a_poll_not_posted_yet_has_no_replies(session: Session) -> None:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    waiting = held(session, mastodon, agent)
    # Messages with no reply-to id never match a poll without a post id.
    ingest(session, mastodon, inbound(author="ana"))
    session.commit()

    assert replies.of(session, poll=waiting) == replies.Replies(count=0, newest=[])
    assert replies.counts(session, polls=[waiting]) == {}
    assert replies.counts(session, polls=[]) == {}


def _labelled(
    session: Session, message_id: int, org_id: int, sentiment: str, intent: str, complaint: bool
) -> None:
    # Ingest has labelled it already; these labels replace triage's own.
    session.merge(
        MessageTriage(
            message_id=message_id,
            organization_id=org_id,
            sentiment=sentiment,
            complaint=complaint,
            intent=intent,
            priority="normal",
            language="en",
            scores={},
            reasons=[],
            tier="fast",
            created_at=clock.now(),
        )
    )


def test_the_replies_mood_counts_triages_labels_of_this_polls_replies_only(
    session: Session,
) -> None:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    poll = posted(session, mastodon, agent, post_id="1001")
    labels = [
        ("negative", "complaint", True),
        ("negative", "idea", True),
        ("positive", "praise", False),
        ("neutral", "question", False),
    ]
    made = [
        ingest(session, mastodon, inbound(reply_to="1001", author=f"a{n}"))
        for n in range(len(labels) + 1)  # the last one is not labelled yet
    ]
    for reply, (sentiment, intent, complaint) in zip(made, labels, strict=False):
        _labelled(session, reply.message.id, org.id, sentiment, intent, complaint)
    session.execute(delete(MessageTriage).where(MessageTriage.message_id == made[-1].message.id))
    # Another organization's labelled reply to a post of the same id is not this poll's.
    elsewhere = accounts.organization(session, name="Elsewhere")
    theirs = ingest(
        session,
        channels.brand_account(session, elsewhere, kind="mastodon"),
        inbound(reply_to="1001", author="cy"),
    )
    _labelled(session, theirs.message.id, elsewhere.id, "positive", "praise", False)
    session.commit()

    mood = replies.mood(session, poll=poll)
    assert mood.triaged == 4
    assert mood.sentiments == {"negative": 2, "neutral": 1, "positive": 1}
    assert mood.intents == {
        "complaint": 1,
        "question": 1,
        "praise": 1,
        "feedback": 0,
        "idea": 1,
        "other": 0,
    }
    assert mood.complaints == 2
    assert mood.share(2) == 50
    newest = replies.of(session, poll=poll).newest
    assert newest[0].sentiment is None  # the unlabelled one, newest
    by_id = {r.message_id: r for r in newest}
    first = by_id[made[0].message.id]
    assert (first.sentiment, first.intent, first.complaint) == ("negative", "complaint", True)


def test_replies_are_paged_newest_first(session: Session) -> None:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    poll = posted(session, mastodon, agent, post_id="1001")
    now = clock.now()
    made = [
        ingest(
            session,
            mastodon,
            inbound(reply_to="1001", author=f"a{n}", at=now - timedelta(minutes=10 - n)),
        ).message.id
        for n in range(5)
    ]
    session.commit()
    first = replies.page(session, poll=poll, cursor=None, limit=2)
    assert [r.message_id for r in first.items] == [made[4], made[3]]
    assert first.next_cursor is not None
    second = replies.page(session, poll=poll, cursor=first.next_cursor, limit=2)
    third = replies.page(session, poll=poll, cursor=second.next_cursor, limit=2)
    assert [r.message_id for r in second.items + third.items] == [made[2], made[1], made[0]]
    assert third.next_cursor is None


def test_each_person_replying_to_a_poll_has_a_conversation_of_their_own(
    session: Session,
) -> None:
    """Strangers answering the brand's poll are not one thread: replies to the same unseen post
    are joined only when it is not the account's own poll post (a customer's post the desk has
    not seen yet, whose replies belong together)."""
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    poll = posted(session, mastodon, agent, post_id="1001")
    ana = ingest(session, mastodon, inbound(reply_to="1001", author="ana", text="Late"))
    ben = ingest(session, mastodon, inbound(reply_to="1001", author="ben", text="Early"))
    again = ingest(session, mastodon, inbound(reply_to="1001", author="ana", text="Or both"))
    # The brand answers Ana, and she answers back: her conversation, as any reply chain.
    answer = ingest(session, mastodon, inbound(reply_to=ana.message.native_id, from_brand=True))
    back = ingest(session, mastodon, inbound(reply_to=answer.message.native_id, author="ana"))
    # Replies to a post that is no poll of this account still join (its parent may come).
    unseen_a = ingest(session, mastodon, inbound(reply_to="2002", author="cy"))
    unseen_b = ingest(session, mastodon, inbound(reply_to="2002", author="dee"))
    session.commit()

    assert ana.conversation.id != ben.conversation.id
    assert ana.conversation.contact_id == ana.message.author_contact_id
    assert ben.conversation.contact_id == ben.message.author_contact_id
    assert {again.conversation.id, answer.conversation.id, back.conversation.id} == {
        ana.conversation.id
    }
    assert unseen_a.conversation.id == unseen_b.conversation.id
    assert replies.of(session, poll=poll).count == 3


def test_a_message_answering_a_poll_is_named_only_in_the_polls_organization(
    session: Session,
) -> None:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    poll = posted(session, mastodon, agent, post_id="1001")
    ours = ingest(session, mastodon, inbound(reply_to="1001", author="ana"))
    elsewhere = accounts.organization(session, name="Elsewhere")
    theirs = ingest(
        session,
        channels.brand_account(session, elsewhere, kind="mastodon"),
        inbound(reply_to="1001", author="cy"),
    )
    session.commit()
    assert replies.answered_in(
        session, conversation_id=ours.conversation.id, organization_id=org.id
    ) == {ours.message.id: replies.Answered(poll.id, poll.question)}
    assert (
        replies.answered_in(
            session, conversation_id=theirs.conversation.id, organization_id=elsewhere.id
        )
        == {}
    )
