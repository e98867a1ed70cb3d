"""The desk's Polls page: the organization's public polls with their counts, the form that
asks a new one, and the approvers' and authors' actions on each (approve, reject, try again,
withdraw a posted one).

Thin, like the other pages: the form is read into a ``polls.service.Draft`` and the service
checks, holds or queues it. A refusal comes back beside the form with what was typed and
status 422: the code of conduct's rules listed (a warning offers "Post anyway", as the reply
box does), a field the network would refuse named beside that field. Every form carries the
session's CSRF token and works without JavaScript (POST, then a redirect to the poll's card,
on the poll's own page or the list, whichever the form came from);
with HTMX the new-poll form swaps itself on a refusal instead of reloading the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk.accounts import permissions
from socialdesk.accounts.permissions import Permission
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.deps import DB, Actor, Reader, Replier, require
from socialdesk.common.errors import ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID, Page
from socialdesk.outbound import service as outbound
from socialdesk.outbound.checks import Reason
from socialdesk.polls import api as polls_api
from socialdesk.polls import replies, service, withdrawal
from socialdesk.polls.models import Poll, PollState
from socialdesk.polls.results import Choice, choices
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, duration_words, is_htmx, render

router = APIRouter(include_in_schema=False)

Approver = Annotated[Actor, Depends(require(Permission.APPROVE))]

LIST = "/polls"
FORM_NAME = "poll"
PAGE_SIZE = 20
# The form offers four choices: the limit of Mastodon (by default) and of X.
CHOICE_BOXES = 4
DEFAULT_SECONDS = 86400
# What the page says after a redirect (``?done=...&poll=ID``), on that poll's card, where the
# redirect scrolls: a fixed set, never text from the address.
DONE = {
    "queued": "Queued: it passed the code of conduct and will be posted in a moment.",
    "held": "Held: a rule of the code of conduct asks an approver to let it out first.",
    "approved": "Approved: it will be posted in a moment.",
    "rejected": "Rejected: its author is told why.",
    "retried": "Queued again: it is checked once more, then posted.",
    "withdrawing": "Being withdrawn: its post is deleted from the network in a moment.",
}
STATE_WORDS = {
    PollState.HELD.value: "Held for approval",
    PollState.QUEUED.value: "Queued",
    PollState.SENDING.value: "Posting",
    PollState.OPEN.value: "Open",
    PollState.CLOSED.value: "Closed",
    PollState.FAILED.value: "Not posted",
    PollState.REJECTED.value: "Rejected",
    PollState.WITHDRAWN.value: "Withdrawn",
}


# -- the new-poll form ------------------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    """The new-poll form as typed, to show again beside a refusal (strings, not yet checked)."""

    brand_account_id: str = ""
    question: str = ""
    options: tuple[str, ...] = ("",) * CHOICE_BOXES
    seconds: str = str(DEFAULT_SECONDS)
    multiple: bool = False

    @classmethod
    def of(cls, form: FormData) -> Typed:
        typed = [value.strip() for value in form.getlist("options") if isinstance(value, str)]
        # Padded to the form's boxes for showing again; more than it has (not from this form)
        # go to the service, which names the network's limit.
        options = (typed + [""] * CHOICE_BOXES)[: max(CHOICE_BOXES, len(typed))]
        return cls(
            brand_account_id=forms.text(form, "brand_account_id"),
            question=forms.text(form, "question"),
            options=tuple(options),
            seconds=forms.text(form, "seconds"),
            multiple=forms.text(form, "multiple") == "1",
        )

    @property
    def wording(self) -> str:
        """Everything the code of conduct reads of the poll, in one text: a warning confirmed
        for it (the form sends it back) confirms exactly this poll, and a poll changed after
        its warnings were read is checked again."""
        return "\n".join([self.brand_account_id, self.question, *(o for o in self.options if o)])

    def draft(self) -> service.Draft:
        """What the service takes; an account or duration that is not a number is refused
        here, beside its field."""
        account_id = forms.optional_id(
            {"brand_account_id": self.brand_account_id}, "brand_account_id"
        )
        if account_id is None:
            raise ValidationFailed("choose the account that asks", field="brand_account_id")
        try:
            seconds = int(self.seconds)
        except ValueError:
            raise ValidationFailed("choose how long the poll stays open", field="seconds") from None
        return service.Draft(
            brand_account_id=account_id,
            question=self.question,
            options=self.options,
            seconds=seconds,
            multiple=self.multiple,
        )


@dataclass(frozen=True)
class Refusal:
    """Why the code of conduct refused the poll: the rules, and whether it may be posted
    anyway (warnings) or not at all (a block)."""

    reasons: list[Reason]
    may_confirm: bool

    @classmethod
    def of(cls, exc: outbound.Blocked | outbound.NeedsConfirmation) -> Refusal:
        return cls(
            reasons=exc.outcome.per_rule(),
            may_confirm=isinstance(exc, outbound.NeedsConfirmation),
        )


# -- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollCard:
    """One poll as its card shows it, with what the reader may do to it."""

    poll: Poll
    account_name: str
    channel: str
    author: str
    decided_by: str | None
    choices: list[Choice]
    state_words: str
    closes_in: str | None  # while open: "23h 55m"
    may_decide: bool
    may_retry: bool
    own: bool
    replies_count: int = 0
    # Whether the reader may take the posted poll back off its network (or try again).
    may_withdraw: bool = False
    # Who asked to withdraw it, once someone did.
    withdrawal_asker: str | None = None

    @property
    def has_counts(self) -> bool:
        return self.poll.counted_at is not None

    @property
    def hidden_counts(self) -> bool:
        """The network hides the counts until the poll closes (Mastodon may)."""
        return self.has_counts and all(c.votes is None for c in self.choices)

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """The rules that held it, each once (as the service stored them)."""
        return self.poll.reasons

    @property
    def tied(self) -> bool:
        return sum(1 for c in self.choices if c.leading) > 1

    @property
    def post_url(self) -> str | None:
        """The post's address as its network gave it, only when it is a web address: a link
        on the desk must never run script (a ``javascript:`` URL from a hostile instance)."""
        url = self.poll.url
        return url if url and url.lower().startswith(("https://", "http://")) else None


def _acting_for(db: Session, actor: Actor, polls: Iterable[Poll]) -> set[int]:
    """The accounts, among those of ``polls``, that the reader may act for: one question per
    account on the page, not one per poll."""
    accounts = {p.brand_account_id for p in polls}
    return {
        account_id
        for account_id in accounts
        if (account := db.get(BrandAccount, account_id)) is not None
        and channels_service.may_act_for(db, account=account, member_id=actor.member.id)
    }


def cards(
    db: Session, actor: Actor, polls: list[Poll], *, directory: vm.Directory
) -> list[PollCard]:
    scopes = list(actor.scopes) or None
    may_approve = permissions.has(actor.member, Permission.APPROVE, scopes)
    may_reply = permissions.has(actor.member, Permission.REPLY, scopes)
    withdrawable = {
        p.id
        for p in polls
        if may_reply
        and (account := directory.accounts.get(p.brand_account_id)) is not None
        and withdrawal.offered(actor.member, p, account)
    }
    actionable = [
        p
        for p in polls
        if (p.state == PollState.HELD.value and may_approve)
        or (p.state == PollState.FAILED.value and may_reply)
        or p.id in withdrawable
    ]
    acting_for = _acting_for(db, actor, actionable)
    replied = replies.counts(db, polls=polls)
    now = clock.now()
    found = []
    for poll in polls:
        account = directory.accounts.get(poll.brand_account_id)
        own = poll.created_by_id == actor.member.id
        closes_at = poll.closes_at if poll.state == PollState.OPEN.value else None
        found.append(
            PollCard(
                poll=poll,
                account_name=(account.display_name or account.handle) if account else "",
                channel=account.kind if account else "",
                author=directory.member_name(poll.created_by_id)
                if poll.created_by_id is not None
                else "a former colleague",
                decided_by=directory.member_name(poll.decided_by_id)
                if poll.decided_by_id is not None
                else None,
                choices=choices(poll),
                state_words=STATE_WORDS.get(poll.state, poll.state),
                closes_in=duration_words((closes_at - now).total_seconds())
                if closes_at is not None and closes_at > now
                else None,
                may_decide=poll.state == PollState.HELD.value
                and may_approve
                and not own
                and poll.brand_account_id in acting_for,
                may_retry=poll.state == PollState.FAILED.value
                and may_reply
                and poll.brand_account_id in acting_for,
                own=own,
                replies_count=replied.get(poll.id, 0),
                may_withdraw=poll.id in withdrawable and poll.brand_account_id in acting_for,
                withdrawal_asker=directory.member_name(poll.withdrawal_requested_by_id)
                if poll.withdrawal_requested_by_id is not None
                else None,
            )
        )
    return found


@dataclass(frozen=True)
class Problem:
    """A refusal of one card's action (approve, reject, retry, withdraw), shown on that card
    with the comment (a withdrawal's reason) as typed."""

    error: FormError
    poll_id: int
    action: str
    comment: str = ""


@dataclass(frozen=True)
class PageState:
    """What the page shows beside the list: the new-poll form as typed and its refusal, or a
    card's refused action."""

    typed: Typed = field(default_factory=Typed)
    error: FormError | None = None
    refusal: Refusal | None = None
    problem: Problem | None = None


def _context(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    cursor: str | None,
    state: PageState,
    only: Poll | None = None,
) -> dict[str, Any]:
    scopes = list(actor.scopes) or None
    may_reply = permissions.has(actor.member, Permission.REPLY, scopes)
    may_approve = permissions.has(actor.member, Permission.APPROVE, scopes)
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    found = (
        Page(items=[only], next_cursor=None)
        if only is not None
        else service.page(db, organization_id=actor.organization_id, cursor=cursor, limit=PAGE_SIZE)
    )
    # One poll's own page (where notifications lead) has no form: the list has it.
    may_reply = may_reply and only is None
    asking = service.accounts_for(db, member=actor.member) if may_reply else []
    posted = only if only is not None and only.post_id is not None else None
    return {
        **vm.layout_context(db, actor),
        "cards": cards(db, actor, found.items, directory=directory),
        "cursor": cursor,
        "next_cursor": found.next_cursor,
        "may_reply": may_reply,
        "accounts": asking,
        # Said before anyone writes: an account that cannot post now (no token yet) would
        # refuse the poll only once it is submitted.
        "send_problems": {a.id: channels_service.send_problem(a) for a in asking},
        "held_count": service.held_count(db, approver=actor.member) if may_approve else 0,
        "durations": service.DURATIONS,
        "duration_label": service.span,
        "max_question": service.MAX_QUESTION,
        "done": DONE.get(request.query_params.get("done", "")),
        "done_poll_id": _done_poll_id(request),
        "typed": state.typed,
        "error": state.error,
        "refusal": state.refusal,
        "problem": state.problem,
        # The form opens by itself where there is nothing to read yet, or something to mend.
        "form_open": state.error is not None or not found.items,
        "single": only is not None,
        # What people wrote back, on a poll's own page once it is posted (none before), and
        # how they sound and what they are, as triage labelled them.
        "replies": replies.of(db, poll=posted) if posted is not None else None,
        "mood": replies.mood(db, poll=posted) if posted is not None else None,
    }


def _page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    cursor: str | None = None,
    state: PageState | None = None,
) -> Response:
    state = state or PageState()
    failed = state.error is not None or state.problem is not None
    return render(
        request,
        "polls/page.html",
        _context(request, db, actor, cursor=cursor, state=state),
        status_code=UNPROCESSABLE if failed else 200,
    )


def _own_page(poll_id: int) -> str:
    return f"{LIST}/{poll_id}"


def _from_own_page(form: FormData, poll_id: int) -> bool:
    """Whether a card's form was sent from its poll's own page, as its ``back`` field says.
    The field only chooses between the two addresses made here: anything but exactly this
    poll's page (another poll's, another site's) means the list, so it can never send the
    browser somewhere of the sender's choosing."""
    return forms.text(form, "back") == _own_page(poll_id)


def _back(poll_id: int, *, done: str, cursor: str | None, own_page: bool = False) -> str:
    """The page the form came from (the poll's own, or the list where its card is), with a
    word of what happened and the card in view."""
    query = {"cursor": cursor} if cursor and not own_page else {}
    query.update(done=done, poll=str(poll_id))
    return f"{_own_page(poll_id) if own_page else LIST}?{urlencode(query)}#poll-{poll_id}"


def _done_poll_id(request: Request) -> int | None:
    """The poll a redirect's word is about; anything but a row id is none."""
    raw = request.query_params.get("poll", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ROW_ID else None


@router.get("/polls")
def polls_page(request: Request, actor: Reader, db: DB) -> Response:
    return _page(request, db, actor, cursor=request.query_params.get("cursor") or None)


@router.get("/polls/{poll_id}")
def poll_page(request: Request, poll_id: PathId, actor: Reader, db: DB) -> Response:
    """One poll on a page of its own: where its notifications lead, wherever it is in the
    list."""
    poll = service.get(db, member=actor.member, poll_id=poll_id)
    return _single(request, db, actor, poll)


@router.get("/polls/{poll_id}/results.csv")
def poll_results_csv(poll_id: PathId, actor: Reader, db: DB) -> Response:
    """The poll's results as a spreadsheet, one row per choice (as the API gives them)."""
    return polls_api.results_csv(service.get(db, member=actor.member, poll_id=poll_id))


def _single(
    request: Request, db: Session, actor: Actor, poll: Poll, *, state: PageState | None = None
) -> Response:
    state = state or PageState()
    return render(
        request,
        "polls/page.html",
        _context(request, db, actor, cursor=None, state=state, only=poll),
        status_code=UNPROCESSABLE if state.problem is not None else 200,
    )


@router.post("/polls")
def ask(request: Request, actor: Replier, form: forms.PostedForm, db: DB) -> Response:
    """Ask a poll: queued for posting, or held for an approver when a rule says so."""
    typed = Typed.of(form)
    asked: list[Poll] = []
    refused: list[Refusal] = []

    def act() -> None:
        try:
            asked.append(
                service.create(
                    db,
                    author=actor.member,
                    draft=typed.draft(),
                    confirmed=forms.same_text(forms.text(form, "confirmed_wording"), typed.wording),
                )
            )
        except (outbound.Blocked, outbound.NeedsConfirmation) as exc:
            refused.append(Refusal.of(exc))
            raise

    error = attempt(db, FORM_NAME, act)
    if error is None:
        poll = asked[0]
        done = "held" if poll.state == PollState.HELD.value else "queued"
        target = _back(poll.id, done=done, cursor=None)
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    state = PageState(typed=typed, error=error, refusal=refused[0] if refused else None)
    if is_htmx(request):
        context = _context(request, db, actor, cursor=None, state=state)
        return render(request, "polls/_form.html", context, status_code=UNPROCESSABLE)
    return _page(request, db, actor, state=state)


def _act(
    request: Request,
    db: Session,
    actor: Actor,
    poll_id: int,
    form: FormData,
    *,
    name: str,
    done: str,
    action: Callable[[Poll, Mapping[str, Any]], object],
    typed: str = "comment",
) -> Response:
    """One card's action. Another organization's poll is not found (404); a refusal is
    shown on the card, on the page the form came from (the poll's own, or the list's), with
    the ``typed`` field as it was written."""
    poll = service.get(db, member=actor.member, poll_id=poll_id)
    own_page = _from_own_page(form, poll_id)
    cursor = forms.text(form, "cursor") or None
    error = attempt(db, f"{name}-{poll_id}", lambda: action(poll, form))
    if error is None:
        target = _back(poll_id, done=done, cursor=cursor, own_page=own_page)
        return RedirectResponse(target, status_code=303)
    problem = Problem(error=error, poll_id=poll_id, action=name, comment=forms.text(form, typed))
    if own_page:
        return _single(request, db, actor, poll, state=PageState(problem=problem))
    try:
        return _page(request, db, actor, cursor=cursor, state=PageState(problem=problem))
    except ValidationFailed:  # a cursor that is not ours: the newest polls instead
        return _page(request, db, actor, state=PageState(problem=problem))


@router.post("/polls/{poll_id}/approve")
def approve(
    request: Request, poll_id: PathId, actor: Approver, form: forms.PostedForm, db: DB
) -> Response:
    def act(poll: Poll, form: Mapping[str, Any]) -> None:
        service.approve(db, poll=poll, approver=actor.member, comment=forms.text(form, "comment"))

    return _act(request, db, actor, poll_id, form, name="approve", done="approved", action=act)


@router.post("/polls/{poll_id}/reject")
def reject(
    request: Request, poll_id: PathId, actor: Approver, form: forms.PostedForm, db: DB
) -> Response:
    def act(poll: Poll, form: Mapping[str, Any]) -> None:
        service.reject(db, poll=poll, approver=actor.member, comment=forms.text(form, "comment"))

    return _act(request, db, actor, poll_id, form, name="reject", done="rejected", action=act)


@router.post("/polls/{poll_id}/retry")
def retry(
    request: Request, poll_id: PathId, actor: Replier, form: forms.PostedForm, db: DB
) -> Response:
    def act(poll: Poll, _form: Mapping[str, Any]) -> None:
        service.retry(db, poll=poll, actor=actor.member)

    return _act(request, db, actor, poll_id, form, name="retry", done="retried", action=act)


@router.post("/polls/{poll_id}/withdraw")
def withdraw(
    request: Request, poll_id: PathId, actor: Replier, form: forms.PostedForm, db: DB
) -> Response:
    """Take a posted poll back off its network, with the reason the form asks for (also "Try
    again" after a failure, with the reason given before)."""

    def act(poll: Poll, form: Mapping[str, Any]) -> None:
        withdrawal.request(db, poll=poll, actor=actor.member, reason=forms.text(form, "reason"))

    return _act(
        request,
        db,
        actor,
        poll_id,
        form,
        name="withdraw",
        done="withdrawing",
        action=act,
        typed="reason",
    )
