"""Routing benchmark: what routing costs per new conversation, and what it buys customers.

    python bench/routing.py [--smoke] [--conversations N] [--agents K] [--handling-minutes H]
                            [--load RHO] [--messages M]

Part 1, cost. Ingest 2 x N real customer tweets (twcs) as new conversations on an X account
(ingest and triage are not timed), then time, one transaction per conversation as the worker
runs it:

* baseline: plain assignment, each conversation to the next of K members in turn
  (``conversations.service.assign``);
* routing: ``routing.service.route``: five routing rules (keywords, complaint and sentiment,
  VIP, language, channel) evaluated in order, then round-robin auto-assignment among the
  on-duty members with capacity checks.

Part 2, effect (the replay of issue 6). The real customer tweets of
``../shared/data/twcs/twcs_5000.csv`` arrive at their original times, compressed so that a
team of K agents who each take H minutes per message is loaded at RHO (offered load: arrivals
x H / K), keeping the 2nd to 98th percentile of the timestamps (the file has a few tweets from
2015 that would only add idle years). Each agent works on one message at a time; a message's
first-response time runs from its arrival to the end of its handling. Twice, in the same
database, with the same triage:

* routing off: one shared queue, first come first served (the next free agent takes the
  oldest waiting message);
* routing on: the real routing code: a rule raises complaints to urgent, auto-assignment
  (least loaded, capacity 1) gives a new conversation to a free agent, and when an agent
  resolves one, the queue (``pick_up_waiting``) hands out the waiting conversation with the
  highest priority, longest waiting first.

The clock is the injectable one, set to each event's time. The last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from _common import SOURCE, migrate_fresh, percentile, skip_unless_corpus

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tweet:
    id: str
    author: str
    text: str
    at: datetime


def customer_tweets(limit: int | None = None) -> list[Tweet]:
    from socialdesk.importers.twcs import parse_time, unescape

    with SOURCE.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["inbound"] == "True" and r["text"].strip()]
    tweets = sorted(
        (
            Tweet(r["tweet_id"], r["author_id"], unescape(r["text"]), parse_time(r["created_at"]))
            for r in rows
        ),
        key=lambda t: (t.at, t.id),
    )
    low, high = tweets[len(tweets) * 2 // 100].at, tweets[len(tweets) * 98 // 100].at
    kept = [t for t in tweets if low <= t.at <= high]
    return kept[:limit] if limit else kept


# -- shared set-up ---------------------------------------------------------------------------


def make_org(session: Any, name: str, agents: int) -> tuple[int, list[int], int]:
    from socialdesk.accounts import service as accounts_service
    from socialdesk.accounts.models import Role
    from socialdesk.channels import service as channels_service

    slug = name.lower().replace(" ", "-")
    org = accounts_service.create_organization(session, name=name, slug=slug)
    team = accounts_service.create_team(session, organization_id=org.id, name="Care")
    members = []
    for i in range(agents):
        member = accounts_service.create_member(
            session,
            organization_id=org.id,
            email=f"agent{i}@{slug}.example",
            name=f"Agent {i}",
            role=Role.AGENT,
            password="bench password 123",
        )
        accounts_service.add_to_team(session, team=team, member=member)
        members.append(member.id)
    account = channels_service.create(session, organization_id=org.id, kind="x", handle=slug)
    session.flush()
    return org.id, members, account.id


def ingest(session: Any, account_id: int, tweet: Tweet, at: datetime) -> int:
    from socialdesk.channels.models import BrandAccount
    from socialdesk.connectors.base import Identity, InboundMessage, Visibility
    from socialdesk.conversations import flows

    account = session.get(BrandAccount, account_id)
    result = flows.ingest_message(
        session,
        account=account,
        message=InboundMessage(
            native_id=tweet.id,
            author=Identity(native_id=tweet.author, handle=f"@{tweet.author}"),
            text=tweet.text,
            created_at=at,
            thread_key=f"tweet:{tweet.id}",  # every tweet waits for its own answer
            visibility=Visibility.PUBLIC,
        ),
    )
    return int(result.conversation.id)


def flush_jobs() -> None:
    """Other domains' listeners enqueue jobs too; the benchmark runs routing's own work
    directly (as its jobs would) and drops the rest, so only routing is measured."""
    from socialdesk.jobs.queue import get_queue

    get_queue().flush()


# -- part 1: cost ----------------------------------------------------------------------------

RULES: list[dict[str, Any]] = [
    {
        "name": "Refunds",
        "conditions": [{"field": "keywords", "op": "any", "value": ["refund", "charged"]}],
        "actions": [{"type": "add_tag", "tag": "refund"}],
    },
    {
        "name": "Angry complaints",
        "conditions": [
            {"field": "is_complaint", "op": "is", "value": True},
            {"field": "sentiment", "op": "is", "value": "negative"},
        ],
        "actions": [{"type": "set_priority", "priority": "urgent"}],
    },
    {
        "name": "VIPs",
        "conditions": [{"field": "contact_vip", "op": "is", "value": True}],
        "actions": [{"type": "add_tag", "tag": "vip"}],
    },
    {
        "name": "Spanish",
        "conditions": [{"field": "language", "op": "in", "value": ["es", "pt"]}],
        "actions": [{"type": "add_tag", "tag": "spanish"}],
    },
    {
        "name": "X to care",
        "conditions": [{"field": "channel", "op": "is", "value": "x"}],
        "actions": [{"type": "set_team", "team_id": 0}, {"type": "auto_assign"}],
        "stop": True,
    },
]


def cost(tweets: list[Tweet], n: int, agents: int) -> dict[str, Any]:
    from sqlalchemy import select

    from socialdesk.accounts.models import Team
    from socialdesk.common.clock import FrozenClock, use_clock
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Conversation
    from socialdesk.db.session import session_scope
    from socialdesk.routing import service as routing_service

    with use_clock(FrozenClock(START)), session_scope() as session:
        organization_id, members, account_id = make_org(session, "Cost", agents)
        team_id = session.scalar(select(Team.id).where(Team.organization_id == organization_id))
        routing_service.update_settings(
            session,
            organization_id=organization_id,
            strategy="round_robin",
            reassign_when_away=True,
            reassign_after_minutes=None,
        )
        for rule in RULES:
            actions = [
                {**a, "team_id": team_id} if a["type"] == "set_team" else a for a in rule["actions"]
            ]
            routing_service.create_rule(
                session,
                organization_id=organization_id,
                name=rule["name"],
                conditions=rule["conditions"],
                actions=actions,
                stop=bool(rule.get("stop")),
            )
        from socialdesk.accounts.models import Member

        for member in session.scalars(select(Member).where(Member.id.in_(members))):
            member.capacity = n  # room for all: this part measures cost, not queueing
    ids: list[int] = []
    with use_clock(FrozenClock(START)):
        for i, tweet in enumerate(tweets[: 2 * n]):
            with session_scope() as session:
                ids.append(ingest(session, account_id, tweet, START - timedelta(seconds=i)))
            flush_jobs()
    baseline_ids, routed_ids = ids[:n], ids[n:]

    def timed(run: Any, conversation_ids: list[int]) -> list[float]:
        out = []
        with use_clock(FrozenClock(START)):
            for i, conversation_id in enumerate(conversation_ids):
                started = time.perf_counter()
                with session_scope() as session:
                    conversation = session.get_one(Conversation, conversation_id)
                    run(session, conversation, i)
                out.append((time.perf_counter() - started) * 1000)
                flush_jobs()
        return out

    def plain(session: Any, conversation: Any, i: int) -> None:
        conversations_service.assign(
            session, conversation=conversation, assignee_id=members[i % agents], actor=None
        )

    def route(session: Any, conversation: Any, _i: int) -> None:
        routing_service.route(session, conversation=conversation)

    baseline = timed(plain, baseline_ids)
    routed = timed(route, routed_ids)
    with session_scope(write=False) as session:
        assigned = session.scalar(
            select(Conversation.id)
            .where(Conversation.id.in_(routed_ids), Conversation.assignee_id.is_(None))
            .limit(1)
        )
    return {
        "conversations": n,
        "agents": agents,
        "rules": len(RULES),
        "baseline_ms_p50": round(statistics.median(baseline), 2),
        "baseline_ms_p90": round(percentile(baseline, 90), 2),
        "routing_ms_p50": round(statistics.median(routed), 2),
        "routing_ms_p90": round(percentile(routed, 90), 2),
        "routing_per_second": round(len(routed) / (sum(routed) / 1000), 1),
        "overhead_ms_p50": round(statistics.median(routed) - statistics.median(baseline), 2),
        "all_routed_assigned": assigned is None,
    }


# -- part 2: effect --------------------------------------------------------------------------


@dataclass
class Outcome:
    waits: list[float]
    complaint_waits: list[float]
    other_waits: list[float]


def replay(
    tweets: list[Tweet], *, routing: bool, agents: int, handling: timedelta, load: float
) -> tuple[Outcome, int]:
    from sqlalchemy import select

    from socialdesk.common.clock import FrozenClock, use_clock
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Conversation, Status
    from socialdesk.db.session import session_scope
    from socialdesk.routing import service as routing_service

    first, last = tweets[0].at, tweets[-1].at
    span = (last - first).total_seconds()
    # Offered load = arrivals x handling / agents over the compressed span.
    compressed = len(tweets) * handling.total_seconds() / (agents * load)
    factor = compressed / span

    def arrival(tweet: Tweet) -> datetime:
        return START + timedelta(seconds=(tweet.at - first).total_seconds() * factor)

    clock = FrozenClock(START)
    with use_clock(clock), session_scope() as session:
        name = "Routing on" if routing else "Routing off"
        organization_id, members, account_id = make_org(session, name, agents)
        if routing:
            routing_service.update_settings(
                session,
                organization_id=organization_id,
                strategy="least_loaded",
                reassign_when_away=False,
                reassign_after_minutes=None,
            )
            routing_service.create_rule(
                session,
                organization_id=organization_id,
                name="Complaints first",
                conditions=[{"field": "is_complaint", "op": "is", "value": True}],
                actions=[{"type": "set_priority", "priority": "urgent"}],
            )
            from socialdesk.accounts.models import Member

            for member in session.scalars(select(Member).where(Member.id.in_(members))):
                member.capacity = 1  # one message at a time

    arrived: dict[int, datetime] = {}
    complaint: dict[int, bool] = {}
    started: set[int] = set()
    busy: dict[int, int] = {}  # agent -> conversation
    fifo: list[tuple[datetime, int]] = []  # routing off: the shared queue
    waits: list[float] = []
    complaint_waits: list[float] = []
    other_waits: list[float] = []
    events: list[tuple[datetime, int, str, int]] = []
    seq = count()
    for tweet in tweets:
        heapq.heappush(events, (arrival(tweet), next(seq), "arrive", len(events)))
    by_index = dict(enumerate(tweets))

    def start_new_assignments(now: datetime) -> None:
        """Every conversation an agent got and has not started: handling starts now."""
        with session_scope(write=False) as session:
            rows = session.execute(
                select(Conversation.id, Conversation.assignee_id).where(
                    Conversation.organization_id == organization_id,
                    Conversation.status == Status.OPEN.value,
                    Conversation.assignee_id.is_not(None),
                )
            ).all()
        for conversation_id, agent in rows:
            assert agent is not None  # only assigned conversations were selected
            if conversation_id in started:
                continue
            started.add(conversation_id)
            busy[agent] = conversation_id
            heapq.heappush(events, (now + handling, next(seq), "done", conversation_id))

    def fcfs(now: datetime) -> None:
        free = [a for a in members if a not in busy]
        while free and fifo:
            _at, conversation_id = heapq.heappop(fifo)
            agent = free.pop(0)
            with session_scope() as session:
                conversation = session.get_one(Conversation, conversation_id)
                conversations_service.assign(
                    session, conversation=conversation, assignee_id=agent, actor=None
                )
            flush_jobs()
            start_new_assignments(now)

    with use_clock(clock):
        while events:
            now, _, kind, ref = heapq.heappop(events)
            clock.set(now)
            if kind == "arrive":
                tweet = by_index[ref]
                with session_scope() as session:
                    conversation_id = ingest(session, account_id, tweet, now)
                    conversation = session.get_one(Conversation, conversation_id)
                    complaint[conversation_id] = conversation.is_complaint
                arrived[conversation_id] = now
                flush_jobs()
                if routing:
                    with session_scope() as session:  # what the routing.route job does
                        conversation = session.get_one(Conversation, conversation_id)
                        routing_service.route(session, conversation=conversation)
                    flush_jobs()
                    start_new_assignments(now)
                else:
                    heapq.heappush(fifo, (now, conversation_id))
                    fcfs(now)
            else:
                conversation_id = ref
                wait = (now - arrived[conversation_id]).total_seconds() / 60
                waits.append(wait)
                (complaint_waits if complaint[conversation_id] else other_waits).append(wait)
                with session_scope() as session:
                    conversation = session.get_one(Conversation, conversation_id)
                    agent = conversation.assignee_id
                    conversations_service.set_status(
                        session, conversation=conversation, status=Status.RESOLVED, actor=None
                    )
                busy.pop(agent, None)  # type: ignore[arg-type]
                flush_jobs()
                if routing:
                    with session_scope() as session:  # what the routing.pick_up job does
                        routing_service.pick_up_waiting(session, organization_id=organization_id)
                    flush_jobs()
                    start_new_assignments(now)
                else:
                    fcfs(now)
    return Outcome(waits, complaint_waits, other_waits), round(1 / factor)


def summary(outcome: Outcome) -> dict[str, float | int]:
    return {
        "median_min": round(statistics.median(outcome.waits), 1),
        "p90_min": round(percentile(outcome.waits, 90), 1),
        "complaints": len(outcome.complaint_waits),
        "complaints_median_min": round(statistics.median(outcome.complaint_waits), 1),
        "complaints_p90_min": round(percentile(outcome.complaint_waits, 90), 1),
        "others_median_min": round(statistics.median(outcome.other_waits), 1),
        "others_p90_min": round(percentile(outcome.other_waits, 90), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a small, quick run")
    parser.add_argument("--conversations", type=int, default=500, help="part 1: N per run")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--handling-minutes", type=float, default=5.0)
    parser.add_argument("--load", type=float, default=0.95, help="part 2: offered load")
    parser.add_argument("--messages", type=int, default=None, help="part 2: first M tweets")
    args = parser.parse_args()
    skip_unless_corpus()
    n = 40 if args.smoke else args.conversations
    messages = 200 if args.smoke and args.messages is None else args.messages

    with tempfile.TemporaryDirectory() as tmp:
        migrate_fresh(Path(tmp) / "routing.db")
        from socialdesk.jobs.queue import get_queue

        get_queue()  # loads every domain's listeners, as the app and the worker do
        tweets = customer_tweets()
        print(f"{len(tweets)} customer tweets in the replay window")
        started = time.perf_counter()
        part1 = cost(tweets, n, args.agents)
        print(
            f"cost: route {part1['routing_ms_p50']} ms p50 ({part1['routing_ms_p90']} p90) vs "
            f"plain assignment {part1['baseline_ms_p50']} ms p50, "
            f"{part1['routing_per_second']} conversations/s"
        )
        replayed = customer_tweets(messages)
        handling = timedelta(minutes=args.handling_minutes)
        off, factor = replay(
            replayed, routing=False, agents=args.agents, handling=handling, load=args.load
        )
        on, _ = replay(
            replayed, routing=True, agents=args.agents, handling=handling, load=args.load
        )
        part2: dict[str, Any] = {
            "messages": len(replayed),
            "agents": args.agents,
            "handling_minutes": args.handling_minutes,
            "offered_load": args.load,
            "time_compression": factor,  # how many times faster than in reality
            "routing_off": summary(off),
            "routing_on": summary(on),
        }
        on_s, off_s = part2["routing_on"], part2["routing_off"]
        part2["complaints_faster_than_rest_with_routing"] = bool(
            on_s["complaints_median_min"] < on_s["others_median_min"]
            and on_s["complaints_p90_min"] < on_s["others_p90_min"]
        )
        for label, s in (("off", off_s), ("on", on_s)):
            print(
                f"routing {label}: first response median {s['median_min']} min, p90 "
                f"{s['p90_min']}; complaints ({s['complaints']}) median "
                f"{s['complaints_median_min']}, p90 {s['complaints_p90_min']}"
            )
        print(f"took {time.perf_counter() - started:.0f} s")
        print(json.dumps({"bench": "routing", "smoke": args.smoke, "cost": part1, "replay": part2}))


if __name__ == "__main__":
    main()
