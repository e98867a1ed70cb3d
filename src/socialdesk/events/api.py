"""Server-sent events for the desk: every change in the member's organization, live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from socialdesk.common.deps import Reader
from socialdesk.events.realtime import Hub, LiveEvent, sse_format

router = APIRouter(tags=["events"])

HEARTBEAT_SECONDS = 15.0


async def _as_sse(event: LiveEvent) -> str | None:
    return sse_format(event)


async def stream_events(
    request: Request,
    events: AsyncIterator[LiveEvent],
    *,
    render: Callable[[LiveEvent], Awaitable[str | None]] = _as_sse,
    retry_ms: int = 2000,
) -> AsyncIterator[str]:
    """Relay events as SSE frames (``render`` may drop one by returning None), with a comment
    line as heartbeat so proxies keep the stream open, until the client goes away."""
    yield f"retry: {retry_ms}\n\n"
    pending: asyncio.Task[LiveEvent] | None = None
    try:
        while not await request.is_disconnected():
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_SECONDS)
            if not done:
                yield ": keep-alive\n\n"
                continue
            event = pending.result()
            pending = None
            frame = await render(event)
            if frame is not None:
                yield frame
    finally:
        if pending is not None:
            pending.cancel()
            # The generator is still running inside the cancelled read: let it unwind before
            # closing it, or aclose() finds it busy.
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await events.aclose()  # type: ignore[attr-defined]  # async generators have aclose


@router.get("/events/stream", summary="Live events of your organization (server-sent events)")
async def desk_stream(request: Request, actor: Reader) -> StreamingResponse:
    hub: Hub = request.app.state.hub
    return StreamingResponse(
        stream_events(request, hub.subscribe(actor.organization_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
