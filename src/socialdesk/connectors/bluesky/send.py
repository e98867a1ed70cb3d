"""Posting a reply on Bluesky: ``com.atproto.repo.createRecord`` with an ``app.bsky.feed.post``;
withdrawing one: ``com.atproto.repo.deleteRecord`` (:func:`delete_post`).

A reply names both the post it answers (``parent``) and the first post of its thread (``root``),
each by URI *and* CID (the content hash, so the reference cannot be swapped for an edited
record). The desk knows only the parent's URI, so the parent is looked up first
(``app.bsky.feed.getPosts``): its CID, its own root if it is itself a reply, and whether its
author lets the brand reply at all.

No double post: the record key is derived from the desk's idempotency key (see
:func:`richtext.tid_for`). Before writing, and after any failure whose outcome is unknown, the
record under that key is looked up; if it exists the reply was published and its URI is
returned. (The reference server answers a second write under the same key with a 500, not a
conflict, so the lookup is what makes a retry safe.)
https://docs.bsky.app/docs/advanced-guides/posts#replies

Images: each file is uploaded first (``com.atproto.repo.uploadBlob``, the raw bytes with their
type), then named in the post's ``app.bsky.embed.images`` embed. An upload is safe to repeat:
the same bytes give the same blob, and a blob no record names is dropped by the server after a
while. Only the post itself is guarded by the record key, so a retry never posts twice.
https://atproto.com/guides/images-and-video
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from socialdesk.connectors.base import (
    JSON,
    Attachment,
    LengthCounting,
    OutboundRequest,
    SendError,
    SendResult,
    Visibility,
)
from socialdesk.connectors.bluesky.api import Xrpc
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.parse import POST_TYPE, as_dict, parse_time
from socialdesk.connectors.bluesky.richtext import build_facets, tid_for
from socialdesk.connectors.bluesky.xrpc import RateLimited, Rejected, error_name, read_ratelimit
from socialdesk.connectors.http import Gone
from socialdesk.policy.length import count

MAX_GRAPHEMES = 300
MAX_BYTES = 3000  # the lexicon's other limit on a post's text
# app.bsky.embed.images: at most 4 images, each a blob of type image/* of at most 1,000,000
# bytes (the limit servers enforce when the post is written; newer lexicons allow 2 MB, which
# older servers refuse).
# https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/images.json
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000
IMAGES_EMBED = "app.bsky.embed.images"


@dataclass(slots=True)
class WriteBudget:
    """When the server said an account's write budget is spent, and until when: no write is
    attempted before the reset (the job is rescheduled instead)."""

    blocked_until: dict[int, datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, brand_account_id: int, now: datetime, provider: str) -> None:
        with self.lock:
            until = self.blocked_until.get(brand_account_id)
            if until is not None and until <= now:
                del self.blocked_until[brand_account_id]
                until = None
        if until is not None:
            raise RateLimited(
                f"{provider}: the account's write limit is spent until {until.isoformat()}",
                retry_after_seconds=(until - now).total_seconds(),
            )

    def note(self, brand_account_id: int, headers: httpx.Headers, now: datetime) -> None:
        limit = read_ratelimit(headers)
        with self.lock:
            if limit.remaining == 0 and limit.reset_at is not None and limit.reset_at > now:
                self.blocked_until[brand_account_id] = limit.reset_at
            else:
                self.blocked_until.pop(brand_account_id, None)


def no_record(response: httpx.Response) -> bool:
    """``getRecord``'s answer when nothing is stored under the key: a 400, named
    ``RecordNotFound`` (or ``InvalidRequest``, or nothing, by older servers)."""
    name, _ = error_name(response)
    return response.status_code == 400 and name in {"RecordNotFound", "InvalidRequest", ""}


def record_gone(response: httpx.Response) -> bool:
    """``deleteRecord``'s answer for a record that is not there. Only the name counts: a bare
    404 is a server without the method, not a deleted post."""
    name, _ = error_name(response)
    return response.status_code in (400, 404) and name == "RecordNotFound"


def check_text(text: str, provider: str) -> None:
    graphemes = count(text, LengthCounting.GRAPHEMES)
    if graphemes > MAX_GRAPHEMES:
        raise SendError(
            f"{provider}: a post holds at most {MAX_GRAPHEMES} characters and this reply has "
            f"{graphemes}; shorten it",
            retryable=False,
        )
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise SendError(
            f"{provider}: the reply is longer than {MAX_BYTES} bytes; shorten it",
            retryable=False,
        )
    if not text.strip():
        raise SendError(f"{provider}: an empty reply cannot be posted", retryable=False)


def images_problem(files: Sequence[Attachment]) -> str | None:
    """Why a Bluesky post cannot carry ``files``, naming the file and the rule; None when it
    can. Checked before anything is uploaded: the server would take a file it later refuses
    to put in a post (a PDF even fails its upload with a 500, which looks temporary)."""
    if len(files) > MAX_IMAGES:
        return f"a post carries at most {MAX_IMAGES} images and this reply has {len(files)}"
    for item in files:
        name = item.name or "a file"
        mime_type = (item.mime_type or "").lower()
        if not mime_type.startswith("image/"):
            return (
                f"{name} ({mime_type or 'no type'}) is not an image, and a post carries images only"
            )
        size = len(item.content or b"")
        if not size:
            return f"{name} is empty"
        if size > MAX_IMAGE_BYTES:
            return (
                f"{name} is {size:,} bytes; an image in a post is at most {MAX_IMAGE_BYTES:,} bytes"
            )
    return None


def check_images(files: tuple[Attachment, ...], provider: str) -> None:
    problem = images_problem(files)
    if problem is not None:
        raise SendError(
            f"{provider}: {problem}; nothing was sent: remove or replace the file and send again",
            retryable=False,
        )


def upload_image(xrpc: Xrpc, account: BlueskyAccount, item: Attachment) -> JSON:
    """Upload one image; returns its blob reference for the embed."""
    response, _ = xrpc.call(
        account,
        "POST",
        "com.atproto.repo.uploadBlob",
        # The same bytes give the same blob, and an unused blob is dropped: safe to repeat.
        idempotent=True,
        content=item.content,
        content_type=(item.mime_type or "").lower(),
    )
    blob = response.json().get("blob")
    if not isinstance(blob, dict) or not as_dict(blob.get("ref")).get("$link"):
        raise SendError(
            f"{account.provider} took {item.name or 'an image'} but its answer names no blob; "
            "nothing was published",
            retryable=True,
        )
    return blob


def images_embed(xrpc: Xrpc, account: BlueskyAccount, files: tuple[Attachment, ...]) -> JSON:
    """The ``app.bsky.embed.images`` embed of ``files``, uploaded in the author's order. The
    lexicon requires an alt text: the author's description, else an empty one."""
    images = [
        {"image": upload_image(xrpc, account, item), "alt": item.description or ""}
        for item in files
    ]
    return {"$type": IMAGES_EMBED, "images": images}


def iso_z(when: datetime) -> str:
    """A timestamp as the AT Protocol writes them: UTC, milliseconds, "Z"."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reply_refs(xrpc: Xrpc, account: BlueskyAccount, parent_uri: str) -> JSON:
    """The ``reply`` of a post answering ``parent_uri``: {root, parent}, each {uri, cid}."""
    response, _ = xrpc.call(
        account, "GET", "app.bsky.feed.getPosts", idempotent=True, params={"uris": [parent_uri]}
    )
    posts = [p for p in response.json().get("posts") or [] if isinstance(p, dict)]
    post = next((p for p in posts if p.get("uri") == parent_uri), None)
    if post is None or not post.get("cid"):
        raise SendError(
            f"{account.provider}: the post being answered ({parent_uri}) was deleted or is "
            "hidden from the brand account; nothing was sent",
            retryable=False,
        )
    viewer = as_dict(post.get("viewer"))
    if viewer.get("replyDisabled"):
        raise SendError(
            f"{account.provider}: the author of {parent_uri} lets only some accounts reply, "
            "and the brand account is not one of them; answer another way",
            retryable=False,
        )
    parent = {"uri": parent_uri, "cid": str(post["cid"])}
    record = as_dict(post.get("record"))
    reply = as_dict(record.get("reply"))
    root = reply.get("root")
    if isinstance(root, dict) and root.get("uri") and root.get("cid"):
        return {"root": {"uri": str(root["uri"]), "cid": str(root["cid"])}, "parent": parent}
    return {"root": parent, "parent": parent}


def existing_post(
    xrpc: Xrpc, account: BlueskyAccount, *, did: str, rkey: str, now: Callable[[], datetime]
) -> SendResult | None:
    """The post already written under ``rkey``, as a send result; None if there is none."""
    try:
        response, _ = xrpc.call(
            account,
            "GET",
            "com.atproto.repo.getRecord",
            idempotent=True,
            params={"repo": did, "collection": POST_TYPE, "rkey": rkey},
            gone=no_record,
        )
    except Gone:
        return None
    body = response.json()
    value = as_dict(body.get("value"))
    return _result(body, value, rkey=rkey, now=now, already=True)


def send_post(
    xrpc: Xrpc,
    *,
    account: BlueskyAccount,
    request: OutboundRequest,
    budget: WriteBudget,
    now: Callable[[], datetime],
) -> SendResult:
    if request.visibility is Visibility.NOTE:
        raise SendError("internal notes are never sent to Bluesky", retryable=False)
    if request.visibility is Visibility.DIRECT:
        raise SendError(
            f"{account.provider}: direct messages (Bluesky chat) are not supported by this "
            "connector; reply publicly or ask the customer to write to another channel",
            retryable=False,
        )
    text = request.text
    check_text(text, account.provider)
    check_images(request.attachments, account.provider)
    budget.check(account.brand_account_id, now(), account.provider)
    session = xrpc.sessions.current(account)
    did = session.did
    rkey = tid_for(f"{did}:{request.idempotency_key}")
    # A previous attempt may have published it before the answer got lost.
    done = existing_post(xrpc, account, did=did, rkey=rkey, now=now)
    if done is not None:
        return done
    record: JSON = {"$type": POST_TYPE, "text": text, "createdAt": iso_z(now())}
    if request.reply_to_native_id:
        record["reply"] = reply_refs(xrpc, account, request.reply_to_native_id)
    facets = build_facets(text, lambda handle: xrpc.resolve_handle(account, handle))
    if facets:
        record["facets"] = facets
    if account.langs:
        record["langs"] = list(account.langs)
    if request.attachments:
        record["embed"] = images_embed(xrpc, account, request.attachments)
    body = {"repo": did, "collection": POST_TYPE, "rkey": rkey, "record": record}
    try:
        response, _ = xrpc.call(
            account,
            "POST",
            "com.atproto.repo.createRecord",
            # Not repeated blindly after an unknown outcome; the lookup below decides.
            idempotent=False,
            json=body,
        )
    except (Rejected, RateLimited):
        raise
    except SendError as exc:
        found = existing_post(xrpc, account, did=did, rkey=rkey, now=now)
        if found is not None:
            return found
        # Nothing was written under the key, so trying again cannot post twice.
        raise SendError(
            f"{exc.reason} (nothing was published; it will be sent again)",
            retryable=True,
            retry_after_seconds=exc.retry_after_seconds,
        ) from exc
    budget.note(account.brand_account_id, response.headers, now())
    created = response.json()
    if not isinstance(created, dict) or not created.get("uri"):
        raise SendError(
            f"{account.provider} accepted the post but its answer has no URI; check the thread "
            "before sending again",
            retryable=False,
        )
    result = _result(created, record, rkey=rkey, now=now, already=False)
    limit = read_ratelimit(response.headers)
    result.raw["rate_limit_remaining"] = limit.remaining
    result.raw["rate_limit_reset"] = limit.reset_at.isoformat() if limit.reset_at else None
    return result


def post_rkey(uri: str, *, did: str, provider: str) -> str:
    """The record key of the brand's post ``uri`` (``at://<did>/app.bsky.feed.post/<rkey>``).
    Refuses a URI of another collection or another account: only the brand's own posts can be
    deleted from its repository."""
    prefix = f"at://{did}/{POST_TYPE}/"
    rkey = uri[len(prefix) :] if uri.startswith(prefix) else ""
    if not rkey or "/" in rkey:
        raise SendError(
            f"{provider}: {uri!r} is not a post of the brand account ({did}), so it cannot be "
            "deleted from its repository",
            retryable=False,
        )
    return rkey


def delete_post(
    xrpc: Xrpc,
    *,
    account: BlueskyAccount,
    uri: str,
    budget: WriteBudget,
    now: Callable[[], datetime],
) -> None:
    """Delete the brand's post ``uri`` (``com.atproto.repo.deleteRecord``). Deleting a record
    that is not there succeeds on the server, so the call is safe to repeat after a temporary
    failure, and a post already gone counts as withdrawn.
    https://docs.bsky.app/docs/api/com-atproto-repo-delete-record"""
    budget.check(account.brand_account_id, now(), account.provider)
    did = xrpc.sessions.current(account).did
    rkey = post_rkey(uri, did=did, provider=account.provider)
    try:
        response, _ = xrpc.call(
            account,
            "POST",
            "com.atproto.repo.deleteRecord",
            idempotent=True,
            json={"repo": did, "collection": POST_TYPE, "rkey": rkey},
            gone=record_gone,
        )
    except Gone:
        return
    budget.note(account.brand_account_id, response.headers, now())


def _result(
    body: JSON, record: JSON, *, rkey: str, now: Callable[[], datetime], already: bool
) -> SendResult:
    try:
        sent_at = parse_time(record.get("createdAt"))
    except ValueError:
        sent_at = now()
    reply = as_dict(record.get("reply"))
    raw: dict[str, Any] = {
        "uri": body.get("uri"),
        "cid": body.get("cid"),
        "rkey": rkey,
        "root_uri": as_dict(reply.get("root")).get("uri"),
        "parent_uri": as_dict(reply.get("parent")).get("uri"),
        "facets": len(record.get("facets") or []),
        "images": len(as_dict(record.get("embed")).get("images") or []),
    }
    if already:
        raw["found_existing"] = True
    return SendResult(native_id=str(body["uri"]), sent_at=sent_at, raw=raw)
