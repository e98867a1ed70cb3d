from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import cast

from sqlalchemy.orm import Session
from tests.factories import accounts

from socialdesk.common.clock import FrozenClock
from socialdesk.db.session import get_sessionmaker
from socialdesk.events import bus
from socialdesk.events.realtime import Hub, LiveEvent, sse_format
from socialdesk.events.types import ConversationChanged


def test_events_committed_by_another_session_reach_subscribers_of_that_org_only(
    session: Session,
) -> None:
    org_a = accounts.organization(session)
    org_b = accounts.organization(session)
    session.commit()
    hub = Hub(get_sessionmaker(write=False), poll_seconds=0.05)

    async def scenario() -> list[str]:
        stream_a = cast(AsyncGenerator[LiveEvent, None], hub.subscribe(org_a.id))
        first = asyncio.ensure_future(stream_a.__anext__())
        await asyncio.sleep(0.1)
        # A different session (as another process would) commits events for both orgs.
        with get_sessionmaker()() as writer:
            bus.emit(
                writer,
                ConversationChanged(
                    organization_id=org_b.id, conversation_id=2, fields=("status",)
                ),
            )
            bus.emit(
                writer,
                ConversationChanged(organization_id=org_a.id, conversation_id=1, fields=("tags",)),
            )
            writer.commit()
        event = await asyncio.wait_for(first, timeout=5)
        await stream_a.aclose()
        await hub.close()
        return [sse_format(event)]

    (frame,) = asyncio.run(scenario())
    assert frame.startswith("id: ")
    assert "event: conversation.changed" in frame
    assert '"conversation_id":1' in frame
    assert '"fields":["tags"]' in frame


def test_rolled_back_events_are_never_published(session: Session) -> None:
    org = accounts.organization(session)
    session.commit()
    seen: list[object] = []
    bus.subscribe(ConversationChanged)(seen.append)
    bus.emit(session, ConversationChanged(organization_id=org.id, conversation_id=1, fields=("x",)))
    session.rollback()
    assert seen == []
    bus.emit(session, ConversationChanged(organization_id=org.id, conversation_id=1, fields=("y",)))
    session.commit()
    assert len(seen) == 1


def test_old_live_events_are_pruned(session: Session, clock: FrozenClock) -> None:
    from socialdesk.events.realtime import prune

    org = accounts.organization(session)
    bus.emit(session, ConversationChanged(organization_id=org.id, conversation_id=1, fields=("x",)))
    session.commit()
    clock.advance(timedelta(days=3))
    bus.emit(session, ConversationChanged(organization_id=org.id, conversation_id=1, fields=("y",)))
    session.commit()
    assert prune(session) == 1
