"""The website channel's customer-facing side: a chat page where a visitor writes to the desk
and reads its answers, live, and a small script that embeds that page on the brand's website.

No login. A visitor is a random id in a signed cookie; everything they can read is selected by
that id, so one visitor never sees another's messages. They see their own messages and the
desk's replies once delivered, never internal notes and never replies still queued or failed.
Posting is rate-limited per visitor by counting their recent messages in the database, and per
network address (``SOCIALDESK_CHAT_MESSAGES_PER_ADDRESS`` a minute, all visitors together:
a script that takes a new cookie for every message is one address), with a counter in the
database; both hold across processes and machines.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock, files
from socialdesk.common.crypto import new_token, sign, unsign
from socialdesk.common.deps import CSRF_FIELD, CSRF_HEADER, DB
from socialdesk.common.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors.base import ChannelKind, RawEvent, Visibility
from socialdesk.connectors.web.connector import MAX_LENGTH, MESSAGE_EVENT, thread_key_for
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import attachments, flows
from socialdesk.conversations.models import Conversation, DeliveryState, Direction, Message
from socialdesk.db.session import get_sessionmaker
from socialdesk.events.api import stream_events
from socialdesk.events.realtime import Hub, LiveEvent
from socialdesk.ratelimit import service as ratelimit
from socialdesk.web import forms
from socialdesk.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)

VISITOR_COOKIE = "sd_visitor"
VISITOR_COOKIE_DAYS = 365
# Rate limit: at most this many messages per visitor in the window.
RATE_LIMIT = 10
RATE_WINDOW = timedelta(minutes=1)
ADDRESS_WINDOW = timedelta(minutes=1)
HISTORY_LIMIT = 200
WIDGET_JS = Path(__file__).parent / "static" / "widget.js"


class TooManyMessages(DomainError):
    status_code = 429
    code = "rate_limited"


# -- who is the visitor -------------------------------------------------------------------


def visitor_from_cookie(value: str) -> str | None:
    return unsign(value) if value else None


def visitor_from(request: Request) -> str | None:
    return visitor_from_cookie(request.cookies.get(VISITOR_COOKIE, ""))


def visitor_csrf(visitor_id: str) -> str:
    """The visitor form's CSRF token: a MAC of the visitor id, so no state is needed and
    another site cannot forge it without the server's secret."""
    return sign(f"visitor-csrf:{visitor_id}").rpartition(".")[2]


def _set_visitor_cookie(response: Response, visitor_id: str) -> None:
    secure = get_settings().secure_cookies
    # Over HTTPS the widget's iframe on the brand's own site is a third-party context: only a
    # SameSite=None cookie reaches it, partitioned per embedding site (CHIPS) so it cannot be
    # used to follow a visitor across sites. Plain HTTP (development) can only be same-site.
    response.set_cookie(
        VISITOR_COOKIE,
        sign(visitor_id),
        max_age=VISITOR_COOKIE_DAYS * 86400,
        path="/chat",
        httponly=True,
        samesite="none" if secure else "lax",
        secure=secure,
        partitioned=secure,
    )


def _account(db: Session, public_key: str) -> BrandAccount:
    account = channels_service.get_by_public_key(db, public_key=public_key)
    if account.kind != ChannelKind.WEB.value:
        raise NotFound("no such chat")
    return account


# -- what a visitor may read --------------------------------------------------------------


def _visitor_contact_ids(account: BrandAccount, visitor_id: str) -> Select[Any]:
    return select(ContactIdentity.contact_id).where(
        ContactIdentity.organization_id == account.organization_id,
        ContactIdentity.channel == ChannelKind.WEB.value,
        ContactIdentity.native_id == visitor_id,
    )


def _visitor_conversation_ids(account: BrandAccount, visitor_id: str) -> Select[Any]:
    return select(Conversation.id).where(
        Conversation.brand_account_id == account.id,
        or_(
            Conversation.thread_key == thread_key_for(visitor_id),
            Conversation.contact_id.in_(_visitor_contact_ids(account, visitor_id)),
        ),
    )


def visitor_messages(session: Session, *, account: BrandAccount, visitor_id: str) -> list[Message]:
    """The visitor's own messages and the desk's delivered replies to them, oldest first.

    Candidates are the messages of the visitor's conversations (by thread key or contact) and
    the visitor's own messages wherever they are now (a colleague may have merged
    conversations). Each must also carry the visitor's thread key: a merged conversation can
    hold other people's messages, and those stay invisible here."""
    stmt = (
        select(Message)
        .where(
            or_(
                Message.conversation_id.in_(_visitor_conversation_ids(account, visitor_id)),
                Message.author_contact_id.in_(_visitor_contact_ids(account, visitor_id)),
            ),
            Message.brand_account_id == account.id,
            Message.thread_key == thread_key_for(visitor_id),
            Message.visibility != Visibility.NOTE.value,
            or_(
                Message.direction == Direction.INBOUND.value,
                Message.delivery_state == DeliveryState.SENT.value,
            ),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(HISTORY_LIMIT)
    )
    rows = list(session.scalars(stmt))
    rows.reverse()
    return [m for m in rows if flows.is_visible_to_customer(m)]


def recent_message_count(session: Session, *, account: BrandAccount, visitor_id: str) -> int:
    """The visitor's messages in the rate window, counted in the database so the limit holds
    however many processes serve the chat."""
    since = clock.now() - RATE_WINDOW
    return int(
        session.scalar(
            select(func.count(Message.id)).where(
                Message.author_contact_id.in_(_visitor_contact_ids(account, visitor_id)),
                Message.brand_account_id == account.id,
                Message.thread_key == thread_key_for(visitor_id),
                Message.direction == Direction.INBOUND.value,
                Message.created_at >= since,
            )
        )
        or 0
    )


def _known_profile(session: Session, account: BrandAccount, visitor_id: str) -> tuple[str, str]:
    """The name and email the visitor gave before, so a later message without them does not
    turn a named contact back into "Website visitor"."""
    identity = session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.organization_id == account.organization_id,
            ContactIdentity.channel == ChannelKind.WEB.value,
            ContactIdentity.native_id == visitor_id,
        )
    )
    if identity is None:
        return "", ""
    name = identity.display_name or ""
    return ("" if name == "Website visitor" else name), identity.handle or ""


# -- pages --------------------------------------------------------------------------------


def _page_context(
    session: Session,
    account: BrandAccount,
    visitor_id: str,
    *,
    error: str | None = None,
    draft: str = "",
) -> dict[str, object]:
    name, email = _known_profile(session, account, visitor_id)
    messages = visitor_messages(session, account=account, visitor_id=visitor_id)
    return {
        "account": account,
        "public_key": account.public_key,
        "messages": messages,
        "files": attachments.of_messages(session, (m.id for m in messages)),
        "csrf_token": visitor_csrf(visitor_id),
        "visitor_name": name,
        "visitor_email": email,
        "error": error,
        "draft": draft,
        "max_length": MAX_LENGTH,
        "form_id": uuid.uuid4().hex,
    }


@router.get("/chat/{public_key}")
def chat_page(request: Request, public_key: str, db: DB) -> Response:
    account = _account(db, public_key)
    visitor_id = visitor_from(request)
    new_visitor = visitor_id is None
    if visitor_id is None:
        visitor_id = new_token(18)
    response = render(
        request,
        "chat.html",
        {
            **_page_context(db, account, visitor_id),
            "embedded": request.query_params.get("embed") == "1",
        },
        framable=True,
    )
    if new_visitor:
        _set_visitor_cookie(response, visitor_id)
    return response


@router.get("/chat/{public_key}/messages")
def chat_messages(request: Request, public_key: str, db: DB) -> Response:
    account = _account(db, public_key)
    visitor_id = visitor_from(request)
    messages = visitor_messages(db, account=account, visitor_id=visitor_id) if visitor_id else []
    return render(
        request,
        "_chat_messages.html",
        {
            "messages": messages,
            "files": attachments.of_messages(db, (m.id for m in messages)),
            "public_key": account.public_key,
        },
        framable=True,
    )


@router.get("/chat/{public_key}/attachments/{attachment_id}")
def chat_attachment(
    request: Request, public_key: str, attachment_id: forms.PathId, db: DB
) -> Response:
    """A file the desk sent with a reply, for the visitor it was sent to: only the files of
    the messages their chat shows (``visitor_messages``); anyone else gets "not found". Saved,
    never opened as a page, as the desk's own downloads are."""
    account = _account(db, public_key)
    visitor_id = visitor_from(request)
    if visitor_id is None:
        raise NotFound(f"attachment {attachment_id} does not exist or is not in your chat")
    shown = visitor_messages(db, account=account, visitor_id=visitor_id)
    found = attachments.download(
        db,
        organization_id=account.organization_id,
        attachment_id=attachment_id,
        message_ids=[m.id for m in shown],
    )
    return files.download(found.content, name=found.name, mime_type=found.mime_type)


def _check_visitor_csrf(request: Request, visitor_id: str, form_value: str) -> None:
    sent = request.headers.get(CSRF_HEADER) or form_value
    if not sent or not hmac.compare_digest(sent, visitor_csrf(visitor_id)):
        raise PermissionDenied("this chat form is stale: reload the page and write again")


@router.post("/chat/{public_key}/messages")
def chat_post(request: Request, public_key: str, form: forms.PostedForm, db: DB) -> Response:
    # A plain def (thread pool): public, so its first query may wait for the write lock, which
    # must never happen on the event loop.
    account = _account(db, public_key)
    visitor_id = visitor_from(request)
    if visitor_id is None:
        raise PermissionDenied(
            "this chat has no session: reload the page and write again (if this chat is "
            "embedded in another site and the browser blocks its cookie, open it in its own "
            "window)"
        )
    _check_visitor_csrf(request, visitor_id, forms.text(form, CSRF_FIELD))
    text = str(form.get("text") or "").strip()
    error: str | None = None
    status = 200
    try:
        _post_message(
            db,
            account=account,
            visitor_id=visitor_id,
            address=request.client.host if request.client else None,
            form=form,
            text=text,
        )
    except DomainError as exc:
        db.rollback()
        error, status = exc.message, exc.status_code
    if not is_htmx(request) and error is None:
        return RedirectResponse(f"/chat/{public_key}", status_code=303)
    context = _page_context(db, account, visitor_id, error=error, draft=text if error else "")
    template = "_chat_main.html" if is_htmx(request) else "chat.html"
    # HTMX swaps 422 answers (the form with its error); other refusals keep their own code
    # for clients that are not the page.
    if is_htmx(request) and error is not None:
        status = 422
    return render(request, template, context, status_code=status, framable=True)


def _post_message(
    db: Session,
    *,
    account: BrandAccount,
    visitor_id: str,
    address: str | None,
    form: Mapping[str, Any],
    text: str,
) -> None:
    if not text:
        raise ValidationFailed("write a message first", field="text")
    if len(text) > MAX_LENGTH:
        raise ValidationFailed(
            f"a message can have at most {MAX_LENGTH} characters; this one has {len(text)}",
            field="text",
        )
    if recent_message_count(db, account=account, visitor_id=visitor_id) >= RATE_LIMIT:
        raise TooManyMessages(
            "you are sending messages very fast: please wait a minute and try again"
        )
    if not ratelimit.address_allowed(
        db,
        f"chat:{account.id}",
        address,
        limit=get_settings().chat_messages_per_address,
        window=ADDRESS_WINDOW,
    ):
        raise TooManyMessages(
            "too many messages are coming from your network right now: please wait a minute "
            "and try again"
        )
    known_name, known_email = _known_profile(db, account, visitor_id)
    name = forms.text(form, "name")[:200] or known_name
    email = forms.text(form, "email")[:320] or known_email
    # The page's form id makes a double-submitted form one message; prefixed by the visitor so
    # one visitor can never collide with (or suppress) another's message.
    form_id = forms.text(form, "form_id")[:64] or uuid.uuid4().hex
    native_id = f"{visitor_id}:{form_id}"
    now = clock.now()
    flows.store_event(
        db,
        account=account,
        event=RawEvent(
            native_id=native_id,
            kind=MESSAGE_EVENT,
            payload={
                "visitor_id": visitor_id,
                "message_id": native_id,
                "text": text,
                "name": name,
                "email": email,
                "sent_at": now.isoformat(),
            },
            received_at=now,
        ),
        process_now=True,
    )


# -- live updates -------------------------------------------------------------------------


@dataclass
class VisitorFilter:
    """Decides which of the organization's live events concern one visitor's page. Only a
    nudge to re-read goes out (no ids, no text), and the re-read is filtered by visitor
    anyway, so a wrong guess here can cost a request but never reveal anything."""

    account_id: int
    organization_id: int
    visitor_id: str
    _known: dict[int, bool] = field(default_factory=dict)

    def relevant(self, event: LiveEvent) -> bool:
        payload = event.payload
        if event.kind == "message.created":
            # Replies appear when delivered; notes never. The visitor's own message (another
            # tab of the same visitor) appears at once.
            if payload.get("direction") != Direction.INBOUND.value:
                return False
        elif event.kind == "message.delivery_changed":
            if payload.get("state") != DeliveryState.SENT.value:
                return False
        elif event.kind != "conversation.merged":
            return False
        conversation_id = payload.get("conversation_id")
        return isinstance(conversation_id, int) and self.owns(conversation_id)

    def owns(self, conversation_id: int) -> bool:
        if conversation_id not in self._known:
            with get_sessionmaker(write=False)() as session:
                conversation = session.get(Conversation, conversation_id)
                owned = False
                if conversation is not None and conversation.brand_account_id == self.account_id:
                    owned = conversation.thread_key == thread_key_for(self.visitor_id) or (
                        # After a merge: the visitor's messages live on in another thread.
                        session.scalar(
                            select(Message.id)
                            .where(
                                Message.conversation_id == conversation_id,
                                Message.thread_key == thread_key_for(self.visitor_id),
                            )
                            .limit(1)
                        )
                        is not None
                    )
            if len(self._known) > 1000:
                self._known.clear()
            self._known[conversation_id] = owned
        return self._known[conversation_id]


def _visitor_render(visitor: VisitorFilter) -> Callable[[LiveEvent], Awaitable[str | None]]:
    """A visitor's stream carries only an empty nudge, and only for their own conversations."""

    async def render(event: LiveEvent) -> str | None:
        if await asyncio.to_thread(visitor.relevant, event):
            return "event: update\ndata: {}\n\n"
        return None

    return render


@router.get("/chat/{public_key}/stream")
def chat_stream(request: Request, public_key: str, db: DB) -> Response:
    account = _account(db, public_key)
    visitor_id = visitor_from(request)
    if visitor_id is None:
        raise PermissionDenied("no chat session: open the chat page first")
    hub: Hub = request.app.state.hub
    visitor = VisitorFilter(
        account_id=account.id, organization_id=account.organization_id, visitor_id=visitor_id
    )
    return StreamingResponse(
        stream_events(
            request,
            hub.subscribe(account.organization_id),
            render=_visitor_render(visitor),
            retry_ms=3000,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/chat/{public_key}/widget.js")
def widget_js(public_key: str, db: DB) -> Response:
    _account(db, public_key)
    return Response(
        WIDGET_JS.read_text(encoding="utf-8"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
