"""REST API of the topics domain (mounted under /api): the topics report, for every member."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from socialdesk.common.deps import DB, Reader
from socialdesk.common.schemas import api_token_scheme, error_responses
from socialdesk.topics import service
from socialdesk.topics.schemas import SampleRead, TopicRead, TopicsRead

router = APIRouter(
    tags=["topics"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


def to_read(found: service.Report) -> TopicsRead:
    return TopicsRead(
        period=SampleRead(**asdict(found.period)),
        usual=SampleRead(**asdict(found.usual)),
        has_usual=found.has_usual,
        filters=found.filters,
        topics=[TopicRead(**asdict(topic)) for topic in found.topics],
    )


@router.get(
    "/reports/topics",
    summary="What customers talk about more than usual in the last minutes, hours or days",
)
def topics_report(
    *,
    db: DB,
    actor: Reader,
    minutes: Annotated[
        int,
        Query(
            description=f"The period: the last N minutes ({service.MIN_MINUTES} to "
            f"{service.MAX_MINUTES})"
        ),
    ] = 24 * 60,
    complaint: Annotated[bool | None, Query(description="Only complaints (or only not)")] = None,
    intent: Annotated[
        str | None, Query(description="complaint, question, praise, feedback, idea or other")
    ] = None,
    sentiment: Annotated[str | None, Query(description="negative, neutral or positive")] = None,
    channel: Annotated[
        str | None, Query(description="x, mastodon, bluesky, facebook, email or web")
    ] = None,
    words: Annotated[
        list[str] | None, Query(description="Only messages mentioning any of these")
    ] = None,
) -> TopicsRead:
    filters = {
        key: value
        for key, value in (
            ("complaint", complaint),
            ("intent", intent),
            ("sentiment", sentiment),
            ("channel", channel),
            ("words", words),
        )
        if value is not None
    }
    found = service.report(
        db, organization_id=actor.organization_id, minutes=minutes, filters=filters
    )
    return to_read(found)
