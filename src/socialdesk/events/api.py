"""Server-sent events for the desk: every change in the member's organization, live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from socialdesk.common.deps import Reader
from socialdesk.events.realtime import Hub, LiveEvent, sse_format

router = APIRouter(tags=["events"])

HEARTBEAT_SECONDS = 15.0


async def stream_events(request: Request, events: AsyncIterator[LiveEvent]) -> AsyncIterator[str]:
    """Relay events as SSE, with a comment line as heartbeat so proxies keep the stream open."""
    yield "retry: 2000\n\n"
    iterator = events.__aiter__()
    next_event: asyncio.Task[LiveEvent] | None = None
    try:
        while not await request.is_disconnected():
            if next_event is None:
                next_event = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({next_event}, timeout=HEARTBEAT_SECONDS)
            if not done:
                yield ": keep-alive\n\n"
                continue
            event = next_event.result()
            next_event = None
            yield sse_format(event)
    finally:
        if next_event is not None:
            next_event.cancel()
        await events.aclose()  # type: ignore[attr-defined]  # async generators have aclose


@router.get("/events/stream", summary="Live events of your organization (server-sent events)")
async def desk_stream(request: Request, actor: Reader) -> StreamingResponse:
    hub: Hub = request.app.state.hub
    return StreamingResponse(
        stream_events(request, hub.subscribe(actor.organization_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
