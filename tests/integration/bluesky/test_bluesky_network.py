"""The Bluesky connector against the AT Protocol reference servers running on this machine.

A customer posts a mention of the brand on a real PDS; the desk polls it through the AppView,
threads it into a conversation; an agent's reply goes through the send gateway and appears in
the thread on the server with the right root and parent references and facets. Then the
customer answers the reply, and the desk keeps it in the same conversation. A reply with an
image lands with an images embed whose blob the server stores.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts
from tests.integration.bluesky.pds import Network
from tests.integration.bluesky.recording import RecordingTransport, save_event, save_response

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health, InboundEvent
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    AccountContext,
    Attachment,
    AttachmentKind,
    AuthError,
    OutboundRequest,
    Visibility,
)
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import jobs as conversation_jobs
from socialdesk.conversations.models import Conversation, DeliveryState, Direction, Message
from socialdesk.outbound import service as outbound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]


def real_now() -> datetime:
    # The desk's clock is frozen in tests; the server's tokens live in real time.
    return datetime.now(UTC)


def iso_now() -> str:
    return real_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Person:
    """An account on the local PDS, used directly (not through the connector)."""

    handle: str
    did: str
    access_jwt: str
    password: str


class Pds:
    """A minimal client for what the people in these tests do on the network."""

    def __init__(self, network: Network) -> None:
        self.url = network.endpoints.pds
        self.http = httpx.Client(base_url=f"{self.url}/xrpc/", timeout=30)

    def account(self, prefix: str) -> Person:
        handle = f"{prefix}{uuid.uuid4().hex[:8]}.test"
        password = f"pw-{uuid.uuid4().hex}"
        body = {"handle": handle, "email": f"{handle}@mail.test", "password": password}
        answer = self._ok(self.http.post("com.atproto.server.createAccount", json=body))
        return Person(handle, answer["did"], answer["accessJwt"], password)

    def app_password(self, person: Person, name: str = "socialdesk") -> str:
        answer = self._ok(
            self.http.post(
                "com.atproto.server.createAppPassword",
                json={"name": name},
                headers=self._auth(person),
            )
        )
        return str(answer["password"])

    def revoke_app_password(self, person: Person, name: str = "socialdesk") -> None:
        self._ok(
            self.http.post(
                "com.atproto.server.revokeAppPassword",
                json={"name": name},
                headers=self._auth(person),
            )
        )

    def post(self, person: Person, record: dict[str, Any]) -> dict[str, str]:
        record = {"$type": "app.bsky.feed.post", "createdAt": iso_now(), **record}
        body = {"repo": person.did, "collection": "app.bsky.feed.post", "record": record}
        created: dict[str, str] = self._ok(
            self.http.post("com.atproto.repo.createRecord", json=body, headers=self._auth(person))
        )
        return created

    def like(self, person: Person, subject: dict[str, str]) -> None:
        record = {"$type": "app.bsky.feed.like", "subject": ref(subject), "createdAt": iso_now()}
        body = {"repo": person.did, "collection": "app.bsky.feed.like", "record": record}
        self._ok(
            self.http.post("com.atproto.repo.createRecord", json=body, headers=self._auth(person))
        )

    def thread(self, person: Person, uri: str) -> dict[str, Any]:
        answer = self._ok(
            self.http.get(
                "app.bsky.feed.getPostThread",
                params={"uri": uri, "depth": 10},
                headers=self._auth(person),
            )
        )
        thread: dict[str, Any] = answer["thread"]
        return thread

    @staticmethod
    def _auth(person: Person) -> dict[str, str]:
        return {"Authorization": f"Bearer {person.access_jwt}"}

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        assert response.is_success, (
            f"{response.request.url}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None


def ref(created: dict[str, str]) -> dict[str, str]:
    """A strong reference (uri and cid) to a record, from createRecord's answer."""
    return {"uri": created["uri"], "cid": created["cid"]}


def byte_range(text: str, part: str) -> dict[str, int]:
    start = text.encode().index(part.encode())
    return {"byteStart": start, "byteEnd": start + len(part.encode())}


@pytest.fixture(scope="module")
def pds(atproto_network: Network) -> Iterator[Pds]:
    client = Pds(atproto_network)
    yield client
    client.http.close()


@pytest.fixture
def connector() -> Iterator[tuple[BlueskyConnector, RecordingTransport]]:
    """The connector the desk's jobs use in this test, keeping every exchange."""
    transport = RecordingTransport()
    instance = BlueskyConnector(transport=transport, now=real_now)
    with registry.override(instance):
        yield instance, transport
    transport.close()


def poll(session: Session, jobs: JobRunner, account: BrandAccount) -> None:
    """What the desk's periodic poll does for one account: poll, store events and cursor
    (flows.store_event), then process them (flows.process_event) in their jobs."""
    session.commit()
    conversation_jobs.poll_account({"brand_account_id": account.id})
    jobs.run_pending()
    session.expire_all()
    account = session.get_one(BrandAccount, account.id)
    assert account.health == Health.OK.value, account.health_reason


def notification_items(transport: RecordingTransport) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for exchange in transport.find("app.bsky.notification.listNotifications", status=200):
        items.extend(exchange.body["notifications"])
    return items


def test_mention_becomes_a_conversation_and_the_reply_lands_in_the_thread(
    atproto_network: Network,
    pds: Pds,
    connector: tuple[BlueskyConnector, RecordingTransport],
    session: Session,
    jobs: JobRunner,
) -> None:
    bluesky, transport = connector
    brand = pds.account("brand")
    customer = pds.account("cust")
    org = accounts.organization(session)
    agent = accounts.member(session, org)
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="bluesky",
        handle=brand.handle,
        settings={"service_url": pds.url},
        credentials={"identifier": brand.handle, "app_password": pds.app_password(brand)},
    )
    session.commit()

    # The customer mentions the brand, with an emoji before a link so bytes != characters.
    text = f"@{brand.handle} my parcel 📦 never came, order page: https://shop.example/o/4711"
    mention = pds.post(
        customer,
        {
            "text": text,
            "facets": [
                {
                    "index": byte_range(text, f"@{brand.handle}"),
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": brand.did}],
                },
                {
                    "index": byte_range(text, "https://shop.example/o/4711"),
                    "features": [
                        {
                            "$type": "app.bsky.richtext.facet#link",
                            "uri": "https://shop.example/o/4711",
                        }
                    ],
                },
            ],
            "langs": ["en"],
        },
    )
    atproto_network.sync()

    # The desk's poll job: poll, store the raw events with the cursor, process them.
    poll(session, jobs, account)
    events = session.scalars(
        select(InboundEvent).where(InboundEvent.brand_account_id == account.id)
    ).all()
    assert [(e.kind, e.status) for e in events] == [("notification.mention", "processed")]
    # The poll read the view of the notified post, for its photos and videos (it has none).
    [views] = transport.find("app.bsky.feed.getPosts", status=200)
    assert views.params["uris"] == [mention["uri"]]
    account = session.get_one(BrandAccount, account.id)
    first_cursor = account.poll_cursor
    assert first_cursor is not None

    conversation = session.scalars(
        select(Conversation).where(Conversation.brand_account_id == account.id)
    ).one()
    [inbound] = session.scalars(select(Message).where(Message.conversation_id == conversation.id))
    assert inbound.native_id == mention["uri"]
    assert inbound.text == text
    assert inbound.direction == Direction.INBOUND.value
    identity = session.scalars(
        select(ContactIdentity).where(ContactIdentity.contact_id == conversation.contact_id)
    ).one()
    assert (identity.native_id, identity.handle) == (customer.did, customer.handle)

    # The session the connector signed in with came back with the poll and is stored.
    stored = channels_service.context_for(account).credentials
    assert stored["did"] == brand.did
    assert stored["access_jwt"]
    assert stored["refresh_jwt"]

    reply_text = f"@{customer.handle} sorry! Track it at https://shop.example/t/4711 ✨"
    queued = outbound.queue_reply(session, conversation=conversation, author=agent, text=reply_text)
    jobs.run_pending()
    session.expire_all()
    sent = session.get(Message, queued.id)
    assert sent is not None
    assert sent.delivery_state == DeliveryState.SENT.value, sent.delivery_error
    assert sent.native_id is not None
    assert sent.native_id.startswith(f"at://{brand.did}/app.bsky.feed.post/")
    # The stored session was reused: no second sign-in.
    assert len(transport.find("com.atproto.server.createSession")) == 1

    atproto_network.sync()
    thread = pds.thread(customer, mention["uri"])
    [reply] = [r for r in thread["replies"] if r["post"]["uri"] == sent.native_id]
    record = reply["post"]["record"]
    assert record["reply"]["parent"] == {"uri": mention["uri"], "cid": mention["cid"]}
    assert record["reply"]["root"] == {"uri": mention["uri"], "cid": mention["cid"]}
    assert record["text"] == reply_text
    facets = {f["features"][0]["$type"].rsplit("#", 1)[1]: f for f in record["facets"]}
    assert facets["mention"]["features"][0]["did"] == customer.did
    assert facets["mention"]["index"] == byte_range(reply_text, f"@{customer.handle}")
    assert facets["link"]["features"][0]["uri"] == "https://shop.example/t/4711"
    assert facets["link"]["index"] == byte_range(reply_text, "https://shop.example/t/4711")

    # Sending the same message again (a retry after a crash) finds the post instead of
    # publishing it twice.
    again = bluesky.send(
        channels_service.context_for(account),
        OutboundRequest(
            idempotency_key=f"socialdesk-{outbound.install_tag()}-{sent.id}",
            text=reply_text,
            visibility=Visibility.PUBLIC,
            recipient=None,
            reply_to_native_id=mention["uri"],
        ),
    )
    assert again.native_id == sent.native_id
    assert again.raw["found_existing"] is True
    atproto_network.sync()
    brand_replies = [
        r
        for r in pds.thread(customer, mention["uri"])["replies"]
        if r["post"]["author"]["did"] == brand.did
    ]
    assert len(brand_replies) == 1

    # The customer answers the brand's reply: same conversation, threaded under the reply.
    answer = pds.post(
        customer,
        {
            "text": "Thanks, it says delivered but it is not here",
            "reply": {
                "root": {"uri": mention["uri"], "cid": mention["cid"]},
                "parent": {"uri": sent.native_id, "cid": str(reply["post"]["cid"])},
            },
        },
    )
    atproto_network.sync()
    poll(session, jobs, account)
    followup = session.scalars(select(Message).where(Message.native_id == answer["uri"])).one()
    assert followup.conversation_id == conversation.id
    assert followup.native_reply_to_id == sent.native_id
    reply_event = session.scalars(
        select(InboundEvent).where(InboundEvent.kind == "notification.reply")
    ).one()
    assert reply_event.status == "processed"
    second_cursor = session.get_one(BrandAccount, account.id).poll_cursor
    assert second_cursor is not None
    assert second_cursor > first_cursor

    # Polling again hands over at most the notification at the watermark, which the desk's
    # idempotent store drops.
    poll(session, jobs, account)
    assert session.scalar(select(func.count()).select_from(InboundEvent)) == 2

    # The second reply answers the customer's follow-up; the root stays the first post.
    queued_2 = outbound.queue_reply(
        session,
        conversation=session.get_one(Conversation, conversation.id),
        author=agent,
        text="We are on it.",
    )
    jobs.run_pending()
    session.expire_all()
    sent_2 = session.get(Message, queued_2.id)
    assert sent_2 is not None
    assert sent_2.delivery_state == DeliveryState.SENT.value, sent_2.delivery_error
    atproto_network.sync()
    thread = pds.thread(customer, answer["uri"])
    [reply_2] = [r for r in thread["replies"] if r["post"]["uri"] == sent_2.native_id]
    assert reply_2["post"]["record"]["reply"]["parent"] == {
        "uri": answer["uri"],
        "cid": answer["cid"],
    }
    assert reply_2["post"]["record"]["reply"]["root"] == {
        "uri": mention["uri"],
        "cid": mention["cid"],
    }

    # Keep the real traffic as the connector's fixtures (only when asked to).
    items = {n["reason"]: n for n in notification_items(transport)}
    save_event("notification.mention__with_link_and_emoji", items["mention"])
    save_event("notification.reply__to_brand_reply", items["reply"])
    save_response(
        "create_session", transport.find("com.atproto.server.createSession", status=200)[0]
    )
    save_response(
        "list_notifications",
        transport.find("app.bsky.notification.listNotifications", status=200)[0],
    )
    # The first getPosts is the first poll's read of the mention's view; the reply's comes next.
    save_response("get_posts_parent", transport.find("app.bsky.feed.getPosts", status=200)[1])
    save_response(
        "get_posts_parent_reply", transport.find("app.bsky.feed.getPosts", status=200)[-1]
    )
    save_response(
        "create_record_reply", transport.find("com.atproto.repo.createRecord", status=200)[0]
    )
    save_response("get_record_missing", transport.find("com.atproto.repo.getRecord", status=400)[0])
    save_response(
        "get_record_existing", transport.find("com.atproto.repo.getRecord", status=200)[0]
    )
    save_response(
        "resolve_handle", transport.find("com.atproto.identity.resolveHandle", status=200)[0]
    )


def png(width: int, height: int) -> bytes:
    """A valid PNG of red pixels, made with the standard library (signature, IHDR, IDAT,
    IEND; each chunk with its CRC)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_reply_with_an_image_lands_with_an_images_embed(
    atproto_network: Network,
    pds: Pds,
    connector: tuple[BlueskyConnector, RecordingTransport],
    session: Session,
    jobs: JobRunner,
) -> None:
    bluesky, transport = connector
    brand = pds.account("brand")
    customer = pds.account("cust")
    org = accounts.organization(session)
    agent = accounts.member(session, org)
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="bluesky",
        handle=brand.handle,
        settings={"service_url": pds.url},
        credentials={"identifier": brand.handle, "app_password": pds.app_password(brand)},
    )
    session.commit()
    # A mention notifies only with its facet naming the brand's DID.
    text = f"@{brand.handle} which light is blinking?"
    mention = pds.post(
        customer,
        {
            "text": text,
            "facets": [
                {
                    "index": byte_range(text, f"@{brand.handle}"),
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": brand.did}],
                }
            ],
        },
    )
    atproto_network.sync()
    poll(session, jobs, account)
    conversation = session.scalars(
        select(Conversation).where(Conversation.brand_account_id == account.id)
    ).one()

    image = png(3, 2)
    photo = Attachment(
        kind=AttachmentKind.IMAGE,
        name="router.png",
        mime_type="image/png",
        size=len(image),
        content=image,
        description="The router's front: the third light blinks",
    )
    queued = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="This one:", files=[photo]
    )
    jobs.run_pending()
    session.expire_all()
    sent = session.get_one(Message, queued.id)
    assert sent.delivery_state == DeliveryState.SENT.value, sent.delivery_error
    assert sent.native_id is not None
    [upload] = transport.find("com.atproto.repo.uploadBlob", status=200)
    assert upload.body["blob"]["mimeType"] == "image/png"

    # The record as the brand's server stores it.
    rkey = sent.native_id.rsplit("/", 1)[1]
    stored = pds.http.get(
        "com.atproto.repo.getRecord",
        params={"repo": brand.did, "collection": "app.bsky.feed.post", "rkey": rkey},
    )
    assert stored.status_code == 200, stored.text
    record = stored.json()["value"]
    assert record["text"] == "This one:"
    assert record["reply"]["parent"] == {"uri": mention["uri"], "cid": mention["cid"]}
    [embedded] = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    # The file's description, kept with the reply, is the image's alt text.
    assert embedded["alt"] == "The router's front: the third light blinks"
    blob = embedded["image"]
    assert (blob["mimeType"], blob["size"]) == ("image/png", len(image))
    # The server keeps the blob the post names, byte for byte.
    kept = pds.http.get(
        "com.atproto.sync.getBlob", params={"did": brand.did, "cid": blob["ref"]["$link"]}
    )
    assert kept.status_code == 200, kept.text
    assert kept.content == image

    # A retry after a crash finds the post: no second post, nothing uploaded again.
    again = bluesky.send(
        channels_service.context_for(account),
        OutboundRequest(
            idempotency_key=f"socialdesk-{outbound.install_tag()}-{sent.id}",
            text="This one:",
            visibility=Visibility.PUBLIC,
            recipient=None,
            reply_to_native_id=mention["uri"],
            attachments=(photo,),
        ),
    )
    assert again.native_id == sent.native_id
    assert again.raw["found_existing"] is True
    assert again.raw["images"] == 1
    assert len(transport.find("com.atproto.repo.uploadBlob")) == 1
    assert len(transport.find("com.atproto.repo.createRecord")) == 1

    described = bluesky.send(
        channels_service.context_for(account),
        OutboundRequest(
            idempotency_key=f"socialdesk-{outbound.install_tag()}-{sent.id}-described",
            text="The same, described",
            visibility=Visibility.PUBLIC,
            recipient=None,
            reply_to_native_id=mention["uri"],
            attachments=(photo,),
        ),
    )
    stored = pds.http.get(
        "com.atproto.repo.getRecord",
        params={
            "repo": brand.did,
            "collection": "app.bsky.feed.post",
            "rkey": described.raw["rkey"],
        },
    )
    assert stored.status_code == 200, stored.text
    [embedded] = stored.json()["value"]["embed"]["images"]
    assert embedded["alt"] == "The router's front: the third light blinks"
    assert embedded["image"]["ref"] == blob["ref"]  # the same bytes, the same blob


def context(pds: Pds, person: Person, credentials: dict[str, str]) -> AccountContext:
    return AccountContext(
        brand_account_id=abs(hash(person.did)) % 1_000_000,
        handle=person.handle,
        settings={"service_url": pds.url},
        credentials=credentials,
    )


def test_sessions_are_refreshed_and_refused_passwords_are_auth_errors(
    pds: Pds, connector: tuple[BlueskyConnector, RecordingTransport]
) -> None:
    bluesky, transport = connector
    brand = pds.account("brand")
    app_password = pds.app_password(brand)

    # First connection: the app password signs in; the session is handed back.
    first = context(pds, brand, {"identifier": brand.handle, "app_password": app_password})
    me = bluesky.verify_credentials(first)
    assert (me.native_id, me.handle) == (brand.did, brand.handle)
    session = bluesky.take_credentials_update(first.brand_account_id)
    assert session is not None
    assert set(session) == {"did", "handle", "access_jwt", "refresh_jwt"}

    # A process that knows only the stored credentials, whose access token the server
    # refuses: the refresh token renews the session without the app password.
    fresh = BlueskyConnector(transport=transport, now=real_now)
    stale = context(pds, brand, {"identifier": brand.handle, **session, "access_jwt": "garbage"})
    refreshed = fresh.poll(stale, None).credentials_update
    assert refreshed is not None
    assert refreshed["refresh_jwt"] != session["refresh_jwt"]
    assert len(transport.find("com.atproto.server.refreshSession", status=200)) == 1
    assert len(transport.find("com.atproto.server.createSession")) == 1  # only the first

    # A mistyped app password.
    wrong = context(pds, brand, {"identifier": brand.handle, "app_password": "aaaa-bbbb-cccc-dddd"})
    with pytest.raises(AuthError, match="refused the app password"):
        BlueskyConnector(transport=transport, now=real_now).verify_credentials(wrong)

    # A revoked app password: once the access token has lapsed, the refresh token is refused
    # (revoked with the password) and signing in again is refused too.
    pds.revoke_app_password(brand)
    revoked = context(
        pds,
        brand,
        {
            "identifier": brand.handle,
            "app_password": app_password,
            **refreshed,
            "access_jwt": "lapsed",
        },
    )
    with pytest.raises(AuthError, match="refused the app password"):
        BlueskyConnector(transport=transport, now=real_now).poll(revoked, None)
    refused_refresh = [
        e for e in transport.find("com.atproto.server.refreshSession") if e.status != 200
    ]
    assert refused_refresh, "the revoked refresh token should have been refused"

    save_response(
        "refresh_session", transport.find("com.atproto.server.refreshSession", status=200)[0]
    )
    save_response("refresh_session_revoked", refused_refresh[0])
    save_response(
        "invalid_token", transport.find("app.bsky.notification.listNotifications", status=400)[0]
    )
    save_response(
        "create_session_refused", transport.find("com.atproto.server.createSession", status=401)[0]
    )


def test_quotes_are_messages_and_likes_are_not_stored(
    atproto_network: Network, pds: Pds, connector: tuple[BlueskyConnector, RecordingTransport]
) -> None:
    bluesky, transport = connector
    brand = pds.account("brand")
    customer = pds.account("cust")
    ctx = context(pds, brand, {"identifier": brand.handle, "app_password": pds.app_password(brand)})
    announcement = pds.post(brand, {"text": "Our summer sale starts today"})
    pds.like(customer, announcement)
    quote = pds.post(
        customer,
        {
            "text": "Does the sale include the blue kettle?",
            "embed": {"$type": "app.bsky.embed.record", "record": ref(announcement)},
        },
    )
    atproto_network.sync()

    polled = bluesky.poll(ctx, None)
    assert [e.kind for e in polled.events] == ["notification.quote"]
    assert polled.warnings == []
    # The quote's view was read; its embed is the quoted post, no photo or video.
    embed = polled.events[0].payload["_socialdesk"]["embed"]
    assert embed["$type"] == "app.bsky.embed.record#view"
    [message] = bluesky.parse(polled.events[0])
    assert message.native_id == quote["uri"]
    assert message.reply_to_native_id is None
    assert message.raw["quoted_uri"] == announcement["uri"]
    assert message.author.native_id == customer.did
    assert message.attachments == ()

    items = {n["reason"]: n for n in notification_items(transport)}
    assert set(items) == {"quote", "like"}
    save_event("notification.quote__of_brand_post", items["quote"])
    save_event("notification.like__of_brand_post", items["like"])
