"""Files with a Mastodon reply: each goes up with ``POST /api/v2/media`` (waiting with
``GET /api/v1/media/:id`` while the instance processes it), then the reply names them in
``media_ids``. Media answers are the documented MediaAttachment example
(``fixtures/media/media_attachments.json``) under the upload's own id."""

from __future__ import annotations

import copy
import email
import email.policy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import (
    AccountContext,
    Attachment,
    AttachmentKind,
    AuthError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon.send import MEDIA_POLL_TRIES, limits_from_instance
from tests.connectors.fake_http import FakeProvider, body_of, recorded, response

FIXTURES = Path(mastodon_pkg.__file__).parent / "fixtures"
RESPONSES = FIXTURES / "responses"
INSTANCE = "https://social.example"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def account() -> AccountContext:
    return AccountContext(
        brand_account_id=7,
        handle="admin",
        settings={"instance_url": INSTANCE, "account_id": "117020565693913441"},
        credentials={"access_token": "token-abc"},
    )


def image(name: str = "network-map.png", description: str | None = "The network map") -> Attachment:
    return Attachment(
        kind=AttachmentKind.IMAGE,
        name=name,
        mime_type="image/png",
        size=len(PNG),
        description=description,
        content=PNG,
    )


def reply(*attachments: Attachment) -> OutboundRequest:
    return OutboundRequest(
        idempotency_key="socialdesk-41",
        text="Here is the map",
        visibility=Visibility.PUBLIC,
        recipient=Identity("http://x/ap/users/1", "mastodonpy_test_2", None),
        reply_to_native_id="117020583245459824",
        attachments=attachments,
    )


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(provider: FakeProvider, sleeps: Sleeps | None = None) -> MastodonConnector:
    return MastodonConnector(
        transport=provider.transport,
        sleep=sleeps if sleeps is not None else Sleeps(),
        policy=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_wait=30.0),
    )


def media(media_id: str, *, processed: bool = True) -> dict[str, Any]:
    """The documented image MediaAttachment under ``media_id``; an upload still processing has
    ``url: null`` (its preview is made at once)."""
    documented = json.loads((FIXTURES / "media/media_attachments.json").read_text("utf-8"))
    found: dict[str, Any] = copy.deepcopy(documented[0])
    found["id"] = media_id
    if not processed:
        found["url"] = None
    return found


def created() -> httpx.Response:
    return recorded(RESPONSES / "status_reply_created.json")


def form_of(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """A multipart request's fields: name -> (file name, content type, bytes)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request.read(), policy=email.policy.HTTP)
    fields: dict[str, tuple[str | None, str | None, bytes]] = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        content_type = part["Content-Type"]
        fields[str(part.get_param("name", header="content-disposition"))] = (
            part.get_filename(),
            str(content_type) if content_type else None,
            payload,
        )
    return fields


def test_an_upload_processed_at_once_is_posted_with_its_media_id() -> None:
    provider = (
        FakeProvider()
        .on("POST", "/api/v2/media", response(200, media("22345792")))
        .on("POST", "/api/v1/statuses", created())
    )
    sleeps = Sleeps()
    result = connector(provider, sleeps).send(account(), reply(image()))

    assert result.native_id == "117020583258292382"
    upload, status = provider.requests
    assert (upload.method, str(upload.url)) == ("POST", "https://social.example/api/v2/media")
    assert upload.headers["Authorization"] == "Bearer token-abc"
    assert "Idempotency-Key" not in upload.headers
    assert form_of(upload) == {
        "description": (None, None, b"The network map"),
        "file": ("network-map.png", "image/png", PNG),
    }
    assert body_of(status) == {
        "status": "@mastodonpy_test_2 Here is the map",
        "visibility": "public",
        "in_reply_to_id": "117020583245459824",
        "media_ids": ["22345792"],
    }
    assert status.headers["Idempotency-Key"] == "socialdesk-41"
    assert sleeps == [], "a processed upload is not waited for"


def test_files_go_up_in_order_and_the_status_names_them_in_that_order() -> None:
    pdf = Attachment(
        kind=AttachmentKind.FILE,
        name="refund-form.pdf",
        mime_type="application/pdf",
        size=len(PDF),
        content=PDF,
    )
    provider = (
        FakeProvider()
        .on("POST", "/api/v2/media", response(200, media("101")), response(200, media("102")))
        .on("POST", "/api/v1/statuses", created())
    )
    connector(provider).send(account(), reply(image(), pdf))

    first, second = provider.sent("POST", "/api/v2/media")
    assert form_of(first)["file"][0] == "network-map.png"
    assert form_of(second) == {"file": ("refund-form.pdf", "application/pdf", PDF)}
    (status,) = provider.sent("POST", "/api/v1/statuses")
    assert body_of(status)["media_ids"] == ["101", "102"]


def test_a_reply_without_files_sends_no_media_ids() -> None:
    provider = FakeProvider().on("POST", "/api/v1/statuses", created())
    connector(provider).send(account(), reply())
    (status,) = provider.requests
    assert "media_ids" not in body_of(status)


def test_an_upload_still_processing_is_polled_until_it_is_ready() -> None:
    provider = (
        FakeProvider()
        .on("POST", "/api/v2/media", response(202, media("22348641", processed=False)))
        .on(
            "GET",
            "/api/v1/media/22348641",
            response(206, media("22348641", processed=False)),
            response(206, media("22348641", processed=False)),
            response(200, media("22348641")),
        )
        .on("POST", "/api/v1/statuses", created())
    )
    sleeps = Sleeps()
    connector(provider, sleeps).send(account(), reply(image()))

    assert [(r.method, r.url.path) for r in provider.requests] == [
        ("POST", "/api/v2/media"),
        ("GET", "/api/v1/media/22348641"),
        ("GET", "/api/v1/media/22348641"),
        ("GET", "/api/v1/media/22348641"),
        ("POST", "/api/v1/statuses"),
    ]
    assert sleeps == [1.0, 2.0, 4.0], "the pause grows between polls"
    assert provider.requests[1].headers["Authorization"] == "Bearer token-abc"
    (status,) = provider.sent("POST", "/api/v1/statuses")
    assert body_of(status)["media_ids"] == ["22348641"]


def test_an_upload_that_stays_unprocessed_is_a_retryable_failure_and_posts_nothing() -> None:
    pending = response(206, media("22348641", processed=False))
    provider = (
        FakeProvider()
        .on("POST", "/api/v2/media", response(202, media("22348641", processed=False)))
        .on("GET", "/api/v1/media/22348641", pending)
        .on("POST", "/api/v1/statuses", created())
    )
    sleeps = Sleeps()
    with pytest.raises(SendError, match="still processing") as caught:
        connector(provider, sleeps).send(account(), reply(image()))

    assert caught.value.retryable is True
    assert "'network-map.png'" in caught.value.reason
    assert len(provider.sent("GET", "/api/v1/media/22348641")) == MEDIA_POLL_TRIES
    assert len(sleeps) == MEDIA_POLL_TRIES
    assert sleeps == sorted(sleeps)
    assert sleeps[-1] > sleeps[0]
    assert provider.sent("POST", "/api/v1/statuses") == []


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (422, {"error": "Validation failed: File content type is invalid"}, "content type"),
        (422, {"error": "Validation failed: File file size must be less than 16 MB"}, "16 MB"),
        (413, None, "larger than the instance accepts"),
        (415, {"error": "Unsupported media type"}, "Unsupported media type"),
    ],
)
def test_a_file_the_instance_refuses_fails_the_send_naming_the_file(
    status: int, body: dict[str, str] | None, match: str
) -> None:
    provider = (
        FakeProvider()
        .on("POST", "/api/v2/media", response(status, body))
        .on("POST", "/api/v1/statuses", created())
    )
    with pytest.raises(SendError, match=match) as caught:
        connector(provider).send(account(), reply(image("cracked-kettle.heic")))

    assert caught.value.retryable is False
    assert "'cracked-kettle.heic'" in caught.value.reason
    assert len(provider.requests) == 1, "a refused file is not sent again, nor the reply"


def test_an_upload_refused_for_want_of_the_media_scope_asks_to_reconnect() -> None:
    refused = response(403, {"error": "This action is outside the authorized scopes"})
    provider = FakeProvider().on("POST", "/api/v2/media", refused)
    with pytest.raises(AuthError, match="write:media") as caught:
        connector(provider).send(account(), reply(image()))
    assert "connect the account again" in caught.value.reason
    assert "outside the authorized scopes" in caught.value.reason
    assert len(provider.requests) == 1


def test_a_server_error_on_upload_is_retried_then_handed_back_as_retryable() -> None:
    provider = FakeProvider().on(
        "POST",
        "/api/v2/media",
        response(503, {"error": "busy"}),
        httpx.ReadTimeout("read timed out"),
        response(502, {"error": "bad gateway"}),
    )
    with pytest.raises(SendError) as caught:
        connector(provider).send(account(), reply(image()))
    assert caught.value.retryable is True
    assert len(provider.requests) == 3
    assert provider.sent("POST", "/api/v1/statuses") == []


def test_a_retry_after_a_server_error_on_the_status_posts_once_under_the_same_key() -> None:
    provider = (
        FakeProvider()
        .on("POST", "/api/v2/media", response(200, media("301")), response(200, media("302")))
        .on(
            "POST",
            "/api/v1/statuses",
            response(503, {"error": "busy"}),
            response(503, {"error": "busy"}),
            response(503, {"error": "busy"}),
            created(),
        )
    )
    conn = connector(provider)
    # The client's own tries run out: the delivery job gets a retryable failure...
    with pytest.raises(SendError) as caught:
        conn.send(account(), reply(image()))
    assert caught.value.retryable is True
    # ...and sends again later: the file goes up again, the status keeps its key.
    result = conn.send(account(), reply(image()))

    assert result.native_id == "117020583258292382"
    statuses = provider.sent("POST", "/api/v1/statuses")
    assert [r.headers["Idempotency-Key"] for r in statuses] == ["socialdesk-41"] * 4
    assert [body_of(r)["media_ids"] for r in statuses] == [["301"]] * 3 + [["302"]]
    assert len(provider.sent("POST", "/api/v2/media")) == 2


def test_a_note_or_an_unknown_recipient_uploads_nothing() -> None:
    provider = FakeProvider()
    note = OutboundRequest(
        idempotency_key="socialdesk-42",
        text="internal",
        visibility=Visibility.NOTE,
        recipient=None,
        attachments=(image(),),
    )
    with pytest.raises(SendError, match="never sent"):
        connector(provider).send(account(), note)
    assert provider.requests == []


def test_max_files_comes_from_the_instance_document() -> None:
    document = recorded(RESPONSES / "instance_v2.json").json()
    document["configuration"]["statuses"]["max_media_attachments"] = 6
    provider = FakeProvider().on("GET", "/api/v2/instance", response(200, document))
    capabilities = connector(provider).capabilities_for(account())
    assert (capabilities.files, capabilities.max_files) == (True, 6)

    recorded_instance = FakeProvider().on(
        "GET", "/api/v2/instance", recorded(RESPONSES / "instance_v2.json")
    )
    assert connector(recorded_instance).capabilities_for(account()).max_files == 4
    assert limits_from_instance({}).max_media_attachments == 4
    assert limits_from_instance({"configuration": {"statuses": {}}}).max_media_attachments == 4
    assert connector(FakeProvider()).capabilities_for(account()).max_files == 4


def test_the_channel_sends_files_up_to_mastodons_default() -> None:
    assert MastodonConnector.capabilities.files is True
    assert MastodonConnector.capabilities.max_files == 4
