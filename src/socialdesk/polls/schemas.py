"""API shapes of public polls."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import CheckReason, Number, PageOut, RowId, UTCTimestamp
from socialdesk.conversations.schemas import MAX_TEXT, WithdrawalRead
from socialdesk.outbound.withdrawing import MAX_REASON


class PollWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_account_id: RowId = Field(
        description="The account that asks: one whose network takes polls (Mastodon, X)"
    )
    question: str = Field(max_length=5000, examples=["Which opening hours suit you best?"])
    options: list[str] = Field(
        min_length=2,
        max_length=10,
        description="The choices, in order; the account's network sets how many and how long "
        "(Mastodon: 4 of 50 characters, unless the instance says otherwise; X: 4 of 25)",
        examples=[["Early, from 7", "Late, until 22"]],
    )
    seconds: Number = Field(
        default=86400,
        description="How long it stays open (Mastodon: 300 to 2,629,746 unless the instance "
        "says otherwise; X: 300 to 604,800 in whole minutes)",
    )
    multiple: bool = Field(
        default=False, description="Voters may choose several (Mastodon; X takes one answer)"
    )
    confirm: bool = Field(
        default=False,
        description="Post though the code of conduct warns (a 409 lists the warnings first)",
    )


class DecisionWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=1000, description="Why; required to reject a poll")


class WithdrawWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        # The service names the limit of a reason (once trimmed) when it is over.
        max_length=MAX_TEXT,
        description=f"Why the poll is withdrawn (1 to {MAX_REASON} characters once trimmed); "
        "the poll keeps it",
        examples=["Asked from the wrong account"],
    )


class ChoiceRead(BaseModel):
    title: str
    votes: int | None = Field(description="Votes so far; null while the network hides them")
    share: float | None = Field(description="Of all votes, 0 to 1; null with no votes yet")
    leading: bool


class PollRead(BaseModel):
    id: int
    brand_account_id: int
    question: str
    choices: list[ChoiceRead]
    seconds: int
    multiple: bool
    state: str = Field(
        description="held (waits for an approver), queued, sending, open, closed, failed, "
        "rejected or withdrawn (posted, then taken back off the network: no longer counted)"
    )
    error: str | None = Field(
        description="Why it failed or was rejected; on an open poll, why the latest counts "
        "could not be read"
    )
    reasons: list[CheckReason] = Field(description="The rules that held it for approval")
    created_by_id: int | None
    created_at: UTCTimestamp
    decided_by_id: int | None
    decided_at: UTCTimestamp | None
    decision_comment: str | None
    url: str | None = Field(description="The post on its network, once posted")
    post_id: str | None
    posted_at: UTCTimestamp | None
    closes_at: UTCTimestamp | None
    votes_count: int | None
    voters_count: int | None = Field(
        description="People who voted (once each, even when they chose several)"
    )
    counted_at: UTCTimestamp | None = Field(description="When the counts were last read")
    replies_count: int = Field(
        description="Replies to the poll's post that reached the inbox (inbound messages on its "
        "account answering it); 0 until it is posted"
    )
    withdrawal: WithdrawalRead | None = Field(
        description="Taking the posted poll back off its network (POST "
        "/api/polls/{id}/withdraw); null when nobody asked"
    )


PollPage = PageOut[PollRead]


class PollReplyRead(BaseModel):
    message_id: int
    conversation_id: int = Field(description="Where it is answered: GET /api/conversations/{id}")
    author_name: str | None
    author_handle: str | None = Field(description="The author's handle on the poll's network")
    text: str
    created_at: UTCTimestamp
    sentiment: str | None = Field(description="Triage's label; null until triage has run")
    intent: str | None = Field(description="Triage's label; null until triage has run")
    complaint: bool


class PollRepliesRead(PageOut[PollReplyRead]):
    count: int = Field(description="All replies to the poll's post that reached the inbox")
    triaged: int = Field(description="How many of them triage has labelled")
    sentiments: dict[str, int] = Field(
        description="Labelled replies per sentiment (negative, neutral, positive)"
    )
    intents: dict[str, int] = Field(
        description="Labelled replies per intent (complaint, question, praise, feedback, idea, "
        "other)"
    )
    complaints: int = Field(description="Labelled replies that complain, whatever their intent")


class PollsReportLineRead(BaseModel):
    poll_id: int = Field(description="The poll: GET /api/polls/{id}")
    question: str
    brand_account_id: int
    account_handle: str
    channel: str = Field(description="The account's network (mastodon, x)")
    state: str = Field(description="open or closed")
    posted_at: UTCTimestamp
    closes_at: UTCTimestamp | None = Field(description="When it closes, or closed")
    counted_at: UTCTimestamp | None = Field(description="When the counts were last read")
    votes_count: int | None
    voters_count: int | None
    leading: list[str] = Field(
        description="The leading choice; several on a tie; none before the first vote or "
        "while the network hides the counts"
    )
    leading_share: float | None = Field(description="Each leading choice's share, 0 to 1")
    tie: bool
    replies: int = Field(description="Replies to the poll's post that reached the inbox")
    replies_triaged: int = Field(description="How many of them triage has labelled")
    replies_negative: int = Field(description="Labelled replies that sound negative")
    negative_share: float | None = Field(
        description="replies_negative of replies_triaged, 0 to 1; null with none labelled"
    )
    complaints: int = Field(description="Labelled replies that complain")
    url: str | None


class PollsReportTotalsRead(BaseModel):
    posted: int
    open: int
    closed: int
    votes: int
    replies: int
    replies_triaged: int
    replies_negative: int
    negative_share: float | None
    complaints: int
    withdrawn: int = Field(
        description="Polls posted in the range and withdrawn since: not in the list, and in "
        "none of the other figures"
    )


class PollsNotPostedRead(BaseModel):
    held: int = Field(description="Waiting for an approver")
    queued: int = Field(description="Queued or being posted")
    failed: int
    rejected: int


class PollsReportRead(BaseModel):
    start: date
    end: date = Field(description="Inclusive")
    timezone: str = Field(description="The organization's, in which the days are counted")
    since: UTCTimestamp = Field(description="The first instant counted")
    until: UTCTimestamp = Field(description="The first instant no longer counted")
    totals: PollsReportTotalsRead
    polls: list[PollsReportLineRead] = Field(description="Posted in the range, newest first")
    not_posted: PollsNotPostedRead = Field(
        description="Polls asked in the range that were never posted, by where they stand"
    )
