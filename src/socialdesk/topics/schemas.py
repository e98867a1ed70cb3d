"""API shapes of the topics report."""

from __future__ import annotations

from pydantic import BaseModel, Field

from socialdesk.common.schemas import UTCTimestamp


class SampleRead(BaseModel):
    start: UTCTimestamp
    end: UTCTimestamp
    messages: int = Field(description="Matching customer messages written in the period")
    read: int = Field(description="Of them, read for the report (an even sample of big periods)")
    customers: int = Field(description="Distinct customers among the messages read")


class TopicRead(BaseModel):
    term: str = Field(description="A word, or two neighbouring words", examples=["tram 4"])
    customers: int = Field(description="Customers of the period who used it (each counts once)")
    share: float = Field(description="Of the period's customers")
    usual_share: float | None = Field(description="Of the usual period's; null with no usual")
    lift: float | None = Field(description="share / usual_share; null with no usual")
    score: float = Field(description="G² against the usual period; with no usual, customers")
    negative: int = Field(description="Of its customers, those triage read as negative")
    complaints: int = Field(description="Of its customers, those with a complaint")
    conversation_ids: list[int] = Field(description="A few of its conversations, newest first")


class TopicsRead(BaseModel):
    period: SampleRead
    usual: SampleRead = Field(description="The period it is compared with")
    has_usual: bool = Field(
        description="False while the usual period holds too few customers: topics are then "
        "ranked by how many customers use them"
    )
    filters: dict[str, object]
    topics: list[TopicRead]
