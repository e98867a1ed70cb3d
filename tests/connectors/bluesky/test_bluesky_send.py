"""Sending replies: exact requests, on responses recorded from the reference servers."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest

from socialdesk.connectors.base import (
    Attachment,
    AttachmentKind,
    AuthError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.connectors.bluesky.richtext import LINK_FEATURE, MENTION_FEATURE, tid_for
from socialdesk.connectors.bluesky.send import MAX_GRAPHEMES, MAX_IMAGE_BYTES, check_text
from socialdesk.connectors.bluesky.xrpc import RateLimited
from tests.connectors.bluesky.support import (
    BRAND_DID,
    ISSUED,
    NOW,
    SESSION,
    body,
    connector,
    context,
    response,
    session_answer,
    stored_session,
    xrpc,
)
from tests.connectors.fake_http import FakeProvider, body_of

PARENT = body("get_posts_parent")["posts"][0]
CUSTOMER = str(PARENT["author"]["handle"])
CUSTOMER_DID = str(body("resolve_handle")["did"])
TEXT = f"@{CUSTOMER} sorry! Track it at https://shop.example/t/4711 ✨"


def request(text: str = TEXT, **changes: Any) -> OutboundRequest:
    values: dict[str, Any] = {
        "idempotency_key": "socialdesk-12",
        "text": text,
        "visibility": Visibility.PUBLIC,
        "recipient": Identity(native_id=CUSTOMER_DID, handle=CUSTOMER),
        "reply_to_native_id": str(PARENT["uri"]),
    }
    values.update(changes)
    return OutboundRequest(**values)


ROUTES = {
    "createSession": ("POST", "com.atproto.server.createSession", "create_session"),
    "getRecord": ("GET", "com.atproto.repo.getRecord", "get_record_missing"),
    "getPosts": ("GET", "app.bsky.feed.getPosts", "get_posts_parent"),
    "resolveHandle": ("GET", "com.atproto.identity.resolveHandle", "resolve_handle"),
    "createRecord": ("POST", "com.atproto.repo.createRecord", "create_record_reply"),
}


def provider_for_reply(**overrides: list[Any]) -> FakeProvider:
    """The recorded answers of a successful reply; ``overrides`` replace some by name."""
    provider = FakeProvider()
    for name, (method, nsid, recorded_name) in ROUTES.items():
        provider.on(method, xrpc(nsid), *overrides.get(name, [response(recorded_name)]))
    return provider


def calls(provider: FakeProvider) -> list[str]:
    return [r.url.path.rsplit("/", 1)[-1] for r in provider.requests]


def test_a_reply_names_root_and_parent_and_carries_byte_facets() -> None:
    provider = provider_for_reply()
    result = connector(provider).send(context(), request())

    assert calls(provider) == [
        "com.atproto.server.createSession",
        "com.atproto.repo.getRecord",
        "app.bsky.feed.getPosts",
        "com.atproto.identity.resolveHandle",
        "com.atproto.repo.createRecord",
    ]
    [login] = provider.sent("POST", xrpc("com.atproto.server.createSession"))
    assert body_of(login) == {"identifier": SESSION["handle"], "password": "abcd-efgh-ijkl-mnop"}
    [lookup] = provider.sent("GET", xrpc("app.bsky.feed.getPosts"))
    assert lookup.url.params.get_list("uris") == [PARENT["uri"]]
    [resolve] = provider.sent("GET", xrpc("com.atproto.identity.resolveHandle"))
    assert resolve.url.params["handle"] == CUSTOMER.lower()

    [create] = provider.sent("POST", xrpc("com.atproto.repo.createRecord"))
    assert create.headers["Authorization"] == f"Bearer {SESSION['accessJwt']}"
    sent = body_of(create)
    assert sent["repo"] == BRAND_DID
    assert sent["collection"] == "app.bsky.feed.post"
    assert sent["rkey"] == tid_for(f"{BRAND_DID}:socialdesk-12")
    record = sent["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == TEXT
    assert record["createdAt"] == NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parent = {"uri": PARENT["uri"], "cid": PARENT["cid"]}
    assert record["reply"] == {"root": parent, "parent": parent}
    encoded = TEXT.encode()
    mention_start = encoded.index(f"@{CUSTOMER}".encode())
    link = b"https://shop.example/t/4711"
    assert record["facets"] == [
        {
            "index": {"byteStart": 0, "byteEnd": len(f"@{CUSTOMER}".encode())},
            "features": [{"$type": MENTION_FEATURE, "did": CUSTOMER_DID}],
        },
        {
            "index": {"byteStart": encoded.index(link), "byteEnd": encoded.index(link) + len(link)},
            "features": [{"$type": LINK_FEATURE, "uri": link.decode()}],
        },
    ]
    assert mention_start == 0
    assert "langs" not in record

    created = body("create_record_reply")
    assert result.native_id == created["uri"]
    assert result.sent_at == NOW.replace(microsecond=NOW.microsecond // 1000 * 1000)
    assert result.raw["cid"] == created["cid"]
    assert result.raw["root_uri"] == result.raw["parent_uri"] == PARENT["uri"]
    # The new session goes back to the desk with the result.
    assert result.credentials_update == {
        "did": BRAND_DID,
        "handle": SESSION["handle"],
        "access_jwt": SESSION["accessJwt"],
        "refresh_jwt": SESSION["refreshJwt"],
    }


def test_a_reply_to_a_reply_keeps_the_threads_first_post_as_root() -> None:
    provider = provider_for_reply(getPosts=[response("get_posts_parent_reply")])
    answered = body("get_posts_parent_reply")["posts"][0]
    connector(provider).send(
        context(), request("We are on it.", reply_to_native_id=answered["uri"])
    )
    record = body_of(provider.sent("POST", xrpc("com.atproto.repo.createRecord"))[0])["record"]
    assert record["reply"] == {
        "root": answered["record"]["reply"]["root"],
        "parent": {"uri": answered["uri"], "cid": answered["cid"]},
    }
    assert "facets" not in record
    # No mention or link in the text: no handle to resolve.
    assert "com.atproto.identity.resolveHandle" not in calls(provider)


def test_languages_from_the_settings_are_written() -> None:
    provider = provider_for_reply()
    connector(provider).send(context(settings={"langs": ["en", "de"]}), request())
    record = body_of(provider.sent("POST", xrpc("com.atproto.repo.createRecord"))[0])["record"]
    assert record["langs"] == ["en", "de"]


def test_a_stored_session_is_used_without_signing_in() -> None:
    provider = provider_for_reply()
    result = connector(provider).send(context(stored_session()), request())
    assert "com.atproto.server.createSession" not in calls(provider)
    assert result.credentials_update is None


def test_a_post_already_written_under_the_key_is_not_written_again() -> None:
    provider = provider_for_reply(getRecord=[response("get_record_existing")])
    result = connector(provider).send(context(stored_session()), request())
    existing = body("get_record_existing")
    assert result.native_id == existing["uri"]
    assert result.raw["found_existing"] is True
    assert "com.atproto.repo.createRecord" not in calls(provider)
    [lookup] = provider.sent("GET", xrpc("com.atproto.repo.getRecord"))
    assert dict(lookup.url.params) == {
        "repo": BRAND_DID,
        "collection": "app.bsky.feed.post",
        "rkey": tid_for(f"{BRAND_DID}:socialdesk-12"),
    }


def test_a_write_with_an_unknown_outcome_is_looked_up_not_repeated() -> None:
    # The reference server answers a second write under the same key with a 500.
    provider = provider_for_reply(
        getRecord=[response("get_record_missing"), response("get_record_existing")],
        createRecord=[
            httpx.Response(500, json={"error": "InternalServerError", "message": "boom"})
        ],
    )
    result = connector(provider).send(context(stored_session()), request())
    assert result.raw["found_existing"] is True
    assert len(provider.sent("POST", xrpc("com.atproto.repo.createRecord"))) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(502, text="bad gateway"),
        httpx.ReadTimeout("no answer"),
    ],
    ids=["5xx", "timeout"],
)
def test_an_unknown_outcome_with_nothing_written_is_retryable(failure: Any) -> None:
    provider = provider_for_reply(createRecord=[failure])
    with pytest.raises(SendError) as caught:
        connector(provider).send(context(stored_session()), request())
    assert caught.value.retryable
    assert "nothing was published" in caught.value.reason
    assert len(provider.sent("POST", xrpc("com.atproto.repo.createRecord"))) == 1
    assert len(provider.sent("GET", xrpc("com.atproto.repo.getRecord"))) == 2


def test_an_expired_access_token_is_refreshed_before_the_call() -> None:
    later = ISSUED + timedelta(hours=3)
    refreshed = session_answer("refresh_session", issued=later)
    provider = provider_for_reply()
    provider.on("POST", xrpc("com.atproto.server.refreshSession"), refreshed)
    result = connector(provider, now=later).send(context(stored_session()), request())
    [refresh] = provider.sent("POST", xrpc("com.atproto.server.refreshSession"))
    assert refresh.headers["Authorization"] == f"Bearer {SESSION['refreshJwt']}"
    assert "com.atproto.server.createSession" not in calls(provider)
    new = refreshed.json()
    [create] = provider.sent("POST", xrpc("com.atproto.repo.createRecord"))
    assert create.headers["Authorization"] == f"Bearer {new['accessJwt']}"
    assert result.credentials_update is not None
    assert result.credentials_update["refresh_jwt"] == new["refreshJwt"]


def test_a_token_the_server_refuses_is_renewed_and_the_call_repeated_once() -> None:
    provider = provider_for_reply(
        getRecord=[response("invalid_token"), response("get_record_missing")]
    )
    provider.on("POST", xrpc("com.atproto.server.refreshSession"), response("refresh_session"))
    connector(provider).send(context(stored_session()), request())
    first, second = provider.sent("GET", xrpc("com.atproto.repo.getRecord"))
    assert first.headers["Authorization"] == f"Bearer {SESSION['accessJwt']}"
    assert second.headers["Authorization"] == f"Bearer {body('refresh_session')['accessJwt']}"


def test_a_revoked_refresh_token_falls_back_to_the_app_password() -> None:
    later = ISSUED + timedelta(hours=3)
    provider = provider_for_reply(createSession=[session_answer("create_session", issued=later)])
    provider.on(
        "POST", xrpc("com.atproto.server.refreshSession"), response("refresh_session_revoked")
    )
    connector(provider, now=later).send(context(stored_session()), request())
    assert calls(provider) == [
        "com.atproto.server.refreshSession",
        "com.atproto.server.createSession",
        "com.atproto.repo.getRecord",
        "app.bsky.feed.getPosts",
        "com.atproto.identity.resolveHandle",
        "com.atproto.repo.createRecord",
    ]


def test_a_refused_app_password_is_an_auth_error_with_a_reason() -> None:
    provider = provider_for_reply(createSession=[response("create_session_refused")])
    with pytest.raises(AuthError, match=r"refused the app password .* create a new app password"):
        connector(provider).send(context(), request())
    assert calls(provider) == ["com.atproto.server.createSession"]


def test_a_dead_session_without_app_password_is_an_auth_error() -> None:
    credentials = {k: v for k, v in stored_session().items() if k != "app_password"}
    provider = provider_for_reply()
    provider.on(
        "POST", xrpc("com.atproto.server.refreshSession"), response("refresh_session_revoked")
    )
    with pytest.raises(AuthError, match="no app password is stored"):
        connector(provider, now=ISSUED + timedelta(hours=3)).send(context(credentials), request())


def test_rate_limits_reschedule_the_send() -> None:
    reset = int((NOW + timedelta(minutes=10)).timestamp())
    limited = httpx.Response(
        429,
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
        },
    )
    provider = provider_for_reply(createRecord=[limited])
    with pytest.raises(RateLimited) as caught:
        connector(provider).send(context(stored_session()), request())
    assert caught.value.retryable
    assert caught.value.retry_after_seconds == pytest.approx(600, abs=1)
    # Not processed, so no lookup is needed.
    assert len(provider.sent("GET", xrpc("com.atproto.repo.getRecord"))) == 1


def test_a_spent_write_budget_is_not_hit_again_before_its_reset() -> None:
    spent = response("create_record_reply")
    reset = int((NOW + timedelta(minutes=30)).timestamp())
    provider = provider_for_reply(
        createRecord=[
            httpx.Response(
                200,
                content=spent.content,
                headers={"ratelimit-remaining": "0", "ratelimit-reset": str(reset)},
            )
        ]
    )
    bluesky = connector(provider)
    first = bluesky.send(context(stored_session()), request())
    assert first.raw["rate_limit_remaining"] == 0
    before = len(provider.requests)
    with pytest.raises(RateLimited, match="write limit is spent"):
        bluesky.send(context(stored_session()), request(idempotency_key="socialdesk-13"))
    assert len(provider.requests) == before


def test_a_deleted_parent_is_reported_and_nothing_is_sent() -> None:
    provider = provider_for_reply(getPosts=[httpx.Response(200, json={"posts": []})])
    with pytest.raises(SendError, match="was deleted or is hidden") as caught:
        connector(provider).send(context(stored_session()), request())
    assert not caught.value.retryable
    assert "com.atproto.repo.createRecord" not in calls(provider)


def test_a_thread_the_brand_may_not_reply_to_is_reported() -> None:
    posts = copy.deepcopy(body("get_posts_parent"))
    posts["posts"][0]["viewer"]["replyDisabled"] = True
    provider = provider_for_reply(getPosts=[httpx.Response(200, json=posts)])
    with pytest.raises(SendError, match="lets only some accounts reply"):
        connector(provider).send(context(stored_session()), request())


def test_a_handle_nobody_has_stays_plain_text() -> None:
    unknown = httpx.Response(
        400, json={"error": "InvalidRequest", "message": "Unable to resolve handle"}
    )
    provider = provider_for_reply(resolveHandle=[unknown])
    connector(provider).send(context(stored_session()), request())
    record = body_of(provider.sent("POST", xrpc("com.atproto.repo.createRecord"))[0])["record"]
    assert [f["features"][0]["$type"] for f in record["facets"]] == [LINK_FEATURE]


@pytest.mark.parametrize(
    ("visibility", "reason"),
    [(Visibility.DIRECT, "direct messages"), (Visibility.NOTE, "notes are never sent")],
)
def test_direct_messages_and_notes_are_refused(visibility: Visibility, reason: str) -> None:
    provider = provider_for_reply()
    with pytest.raises(SendError, match=reason):
        connector(provider).send(context(stored_session()), request(visibility=visibility))
    assert provider.requests == []


def test_the_grapheme_limit_is_checked_before_anything_is_sent() -> None:
    flag = "🇩🇪"  # two code points, eight bytes, one grapheme
    check_text(flag * MAX_GRAPHEMES, "Bluesky")
    provider = provider_for_reply()
    with pytest.raises(SendError, match=r"at most 300 characters and this reply has 301"):
        connector(provider).send(context(stored_session()), request("x" * 301))
    assert provider.requests == []


# Images: the blob answers below have the shape the reference PDS gives to uploadBlob.
MAP = b"\x89PNG\r\n\x1a\n the network map"
ROUTER = b"\xff\xd8\xff\xe0 the router's lights"


def image(
    name: str = "map.png",
    content: bytes = MAP,
    mime_type: str = "image/png",
    description: str | None = None,
) -> Attachment:
    return Attachment(
        kind=AttachmentKind.IMAGE,
        name=name,
        mime_type=mime_type,
        size=len(content),
        content=content,
        description=description,
    )


def blob(link: str, content: bytes, mime_type: str) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": link}, "mimeType": mime_type, "size": len(content)}


MAP_BLOB = blob("bafkreifnakljqdiykk3b2eu5sbitw2krymiyrvx2wodwx2izhiukfnu6he", MAP, "image/png")
ROUTER_BLOB = blob(
    "bafkreiddh2yuwlxmtr4gbnpjqlc3ppx27olqfjg7w4fk27hf2hxqvguhfe", ROUTER, "image/jpeg"
)
UPLOAD = xrpc("com.atproto.repo.uploadBlob")


def uploaded(*blobs: dict[str, Any]) -> FakeProvider:
    provider = provider_for_reply()
    provider.on("POST", UPLOAD, *(httpx.Response(200, json={"blob": b}) for b in blobs))
    return provider


def test_the_capabilities_say_replies_carry_files() -> None:
    assert BlueskyConnector.capabilities.files is True


def test_images_are_uploaded_then_named_in_the_posts_embed() -> None:
    provider = uploaded(MAP_BLOB, ROUTER_BLOB)
    files = (
        image(description="The network map"),
        image("router.JPG", ROUTER, "image/jpeg"),
    )
    result = connector(provider).send(context(stored_session()), request(attachments=files))

    assert calls(provider) == [
        "com.atproto.repo.getRecord",
        "app.bsky.feed.getPosts",
        "com.atproto.identity.resolveHandle",
        "com.atproto.repo.uploadBlob",
        "com.atproto.repo.uploadBlob",
        "com.atproto.repo.createRecord",
    ]
    first, second = provider.sent("POST", UPLOAD)
    assert first.content == MAP
    assert first.headers["Content-Type"] == "image/png"
    assert first.headers["Authorization"] == f"Bearer {SESSION['accessJwt']}"
    assert second.content == ROUTER
    assert second.headers["Content-Type"] == "image/jpeg"
    [create] = provider.sent("POST", xrpc("com.atproto.repo.createRecord"))
    record = body_of(create)["record"]
    assert record["embed"] == {
        "$type": "app.bsky.embed.images",
        # The lexicon requires alt text: empty where the author wrote none.
        "images": [
            {"image": MAP_BLOB, "alt": "The network map"},
            {"image": ROUTER_BLOB, "alt": ""},
        ],
    }
    assert record["text"] == TEXT
    assert result.raw["images"] == 2


def test_a_reply_without_files_has_no_embed_and_uploads_nothing() -> None:
    provider = uploaded(MAP_BLOB)
    result = connector(provider).send(context(stored_session()), request())
    [create] = provider.sent("POST", xrpc("com.atproto.repo.createRecord"))
    assert "embed" not in body_of(create)["record"]
    assert provider.sent("POST", UPLOAD) == []
    assert result.raw["images"] == 0


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (
            (image("refund-form.pdf", b"%PDF-1.4", "application/pdf"),),
            r"refund-form\.pdf \(application/pdf\) is not an image, and a post carries images "
            "only",
        ),
        (
            (image("notes", b"plain", ""),),
            r"notes \(no type\) is not an image, and a post carries images only",
        ),
        (
            tuple(image(f"photo-{i}.png") for i in range(5)),
            r"a post carries at most 4 images and this reply has 5",
        ),
        (
            (image("big.png", b"x" * (MAX_IMAGE_BYTES + 1)),),
            r"big\.png is 1,000,001 bytes; an image in a post is at most 1,000,000 bytes",
        ),
        ((image("blank.png", b""),), r"blank\.png is empty"),
    ],
    ids=["pdf", "no-type", "five", "too-large", "empty"],
)
def test_files_a_post_cannot_carry_are_refused_before_anything_is_sent(
    files: Any, reason: str
) -> None:
    provider = uploaded(MAP_BLOB)
    with pytest.raises(
        SendError, match=rf"^Bluesky \(pds\.example\): {reason}; nothing was sent"
    ) as refused:
        connector(provider).send(context(stored_session()), request(attachments=tuple(files)))
    assert not refused.value.retryable
    assert provider.requests == []


def test_four_images_of_the_largest_size_are_sent() -> None:
    provider = uploaded(MAP_BLOB)
    largest = b"\x89PNG" + b"x" * (MAX_IMAGE_BYTES - 4)
    files = tuple(image(f"photo-{i}.png", largest) for i in range(4))
    connector(provider).send(context(stored_session()), request(attachments=files))
    assert [len(r.content) for r in provider.sent("POST", UPLOAD)] == [MAX_IMAGE_BYTES] * 4
    [create] = provider.sent("POST", xrpc("com.atproto.repo.createRecord"))
    assert len(body_of(create)["record"]["embed"]["images"]) == 4


def test_a_retry_after_an_unknown_outcome_uploads_again_but_never_posts_twice() -> None:
    provider = provider_for_reply(
        getRecord=[
            response("get_record_missing"),  # first attempt, before writing
            response("get_record_missing"),  # after the lost answer: nothing written yet
            response("get_record_existing"),  # the job's retry: it was written after all
        ],
        createRecord=[httpx.ReadTimeout("no answer")],
    )
    provider.on("POST", UPLOAD, httpx.Response(200, json={"blob": MAP_BLOB}))
    sender = connector(provider)
    with pytest.raises(SendError) as caught:
        sender.send(context(stored_session()), request(attachments=(image(),)))
    assert caught.value.retryable
    assert "nothing was published" in caught.value.reason

    result = sender.send(context(stored_session()), request(attachments=(image(),)))
    assert result.raw["found_existing"] is True
    assert len(provider.sent("POST", xrpc("com.atproto.repo.createRecord"))) == 1
    assert len(provider.sent("POST", UPLOAD)) == 1  # the post was found: nothing uploaded


def test_a_failed_upload_is_retried_and_the_post_written_once() -> None:
    provider = provider_for_reply()
    provider.on(
        "POST",
        UPLOAD,
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json={"blob": MAP_BLOB}),
    )
    result = connector(provider).send(context(stored_session()), request(attachments=(image(),)))
    assert len(provider.sent("POST", UPLOAD)) == 2
    [create] = provider.sent("POST", xrpc("com.atproto.repo.createRecord"))
    assert body_of(create)["record"]["embed"]["images"] == [{"image": MAP_BLOB, "alt": ""}]
    assert result.raw["images"] == 1


def test_an_upload_the_server_refuses_publishes_nothing() -> None:
    provider = provider_for_reply()
    provider.on(
        "POST",
        UPLOAD,
        httpx.Response(400, json={"error": "InvalidRequest", "message": "unsupported image"}),
    )
    with pytest.raises(SendError, match="rejected the request: InvalidRequest") as refused:
        connector(provider).send(context(stored_session()), request(attachments=(image(),)))
    assert not refused.value.retryable
    assert provider.sent("POST", xrpc("com.atproto.repo.createRecord")) == []


def test_an_upload_answer_without_a_blob_publishes_nothing() -> None:
    provider = provider_for_reply()
    provider.on("POST", UPLOAD, httpx.Response(200, json={"blob": None}))
    with pytest.raises(SendError, match=r"took map\.png but its answer names no blob") as caught:
        connector(provider).send(context(stored_session()), request(attachments=(image(),)))
    assert caught.value.retryable
    assert provider.sent("POST", xrpc("com.atproto.repo.createRecord")) == []
