"""The demo organization: Kestrel Valley Transit, a fictional operator of the trams and buses of
the city of Kestrel and its valley towns.

Everything here was written for this project: the people, handles, ids and addresses are
invented (email addresses and domains use the reserved ``.example`` top-level domain). The
scenes cover what a care desk meets in a normal week: a tram line outage that arrives on every
channel at once, complaints, questions, praise, ideas, lost property, a safety report, refunds,
promises made in replies, a customer who writes on two channels, a reply that the network
refused, and work that is assigned, snoozed, waiting on the customer or resolved.

The desk is set up the way a care team would set it up: teams with leads and working hours,
routing rules, an automation rule, SLA targets and follow-up policies. The scenes then show
them at work: conversations routed by rules, SLA clocks met, running and missed, requests to
other teams, promises kept and overdue, follow-ups answered with a satisfaction score, and
members who went away.

Times are offsets before the moment the demo is loaded (``Snoozes.until`` is after it, and a
request's ``due_in`` counts from when it is asked), so the desk always looks lived-in "today"
and its SLA clocks, promises and requests are due, or overdue, relative to the moment it is
loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from socialdesk.accounts.models import Role
from socialdesk.commitments.service import ResolveChoice
from socialdesk.connectors.base import Attachment, AttachmentKind, ChannelKind
from socialdesk.conversations.models import Priority
from socialdesk.demo import files
from socialdesk.followups.models import Survey
from socialdesk.routing.models import Strategy

ORGANIZATION_NAME = "Kestrel Valley Transit"
ORGANIZATION_SLUG = "kestrel-valley-transit"
ORGANIZATION_TIMEZONE = "Europe/Amsterdam"
# The desk was set up this long before "now": members, accounts and settings date from then.
SET_UP_AGO = timedelta(days=21)


def ago(*, days: int = 0, hours: int = 0, minutes: int = 0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


def _frozen(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(values)


# -- who and when -------------------------------------------------------------------------


@dataclass(frozen=True)
class HoursSpec:
    """Business hours: local times in the organization's zone, Monday is "0". Holidays are
    (month, day) pairs, closed in the year of loading and the next."""

    name: str
    intervals: Mapping[str, tuple[tuple[str, str], ...]]
    holidays: tuple[tuple[int, int], ...] = ()


_WEEKDAYS = ("0", "1", "2", "3", "4")

BUSINESS_HOURS: tuple[HoursSpec, ...] = (
    HoursSpec(
        "Customer care",
        MappingProxyType(
            {
                **dict.fromkeys(_WEEKDAYS, (("07:00", "19:00"),)),
                "5": (("09:00", "17:00"),),
                "6": (("09:00", "17:00"),),
            }
        ),
    ),
    HoursSpec(
        "Billing office",
        MappingProxyType(dict.fromkeys(_WEEKDAYS, (("09:00", "17:00"),))),
        # New Year's Day, King's Day, Christmas and Boxing Day.
        holidays=((1, 1), (4, 27), (12, 25), (12, 26)),
    ),
)


@dataclass(frozen=True)
class TeamSpec:
    name: str
    lead: str | None = None  # a member's key
    hours: str | None = None  # business hours by name; None works around the clock


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec("Customer support", lead="priya", hours="Customer care"),
    TeamSpec("Tickets & billing", lead="aisha", hours="Billing office"),
    # Engineers and station staff are on call day and night, and so is the social team.
    TeamSpec("Field service", lead="lukas"),
    TeamSpec("Communications", lead="tomas"),
)


@dataclass(frozen=True)
class MemberSpec:
    key: str
    name: str
    email: str
    role: Role
    team: str | None = None
    # How many open conversations auto-assignment gives them at most (0: never), and the
    # languages they answer in (routing prefers a speaker of the customer's language).
    capacity: int = 8
    languages: tuple[str, ...] = ("en",)


MEMBERS: tuple[MemberSpec, ...] = (
    MemberSpec(
        "maren",
        "Maren Holt",
        "maren.holt@kestrelvalley.example",
        Role.OWNER,
        capacity=0,  # the head of customer care takes what she chooses, nothing automatic
        languages=("en", "nl"),
    ),
    MemberSpec(
        "tomas",
        "Tomás Reyes",
        "tomas.reyes@kestrelvalley.example",
        Role.ADMIN,
        "Communications",
        capacity=4,
        languages=("en", "es", "pt"),
    ),
    MemberSpec(
        "priya",
        "Priya Shah",
        "priya.shah@kestrelvalley.example",
        Role.AGENT,
        "Customer support",
        languages=("en", "hi"),
    ),
    MemberSpec(
        "jonas",
        "Jonas Berg",
        "jonas.berg@kestrelvalley.example",
        Role.AGENT,
        "Customer support",
        languages=("en", "de", "sv"),
    ),
    MemberSpec(
        "aisha",
        "Aisha Okafor",
        "aisha.okafor@kestrelvalley.example",
        Role.AGENT,
        "Tickets & billing",
        capacity=6,
        languages=("en", "fr"),
    ),
    MemberSpec(
        "lukas",
        "Lukas Meyer",
        "lukas.meyer@kestrelvalley.example",
        Role.AGENT,
        "Field service",
        capacity=5,
        languages=("en", "de", "nl"),
    ),
    MemberSpec(
        "hannah",
        "Hannah Lee",
        "hannah.lee@kestrelvalley.example",
        Role.AGENT,
        "Communications",
        languages=("en", "ko"),
    ),
)


@dataclass(frozen=True)
class GoesAway:
    """A member switches themselves to away (their open conversations go back to routing)."""

    ago: timedelta
    who: str


@dataclass(frozen=True)
class ComesBack:
    ago: timedelta
    who: str


# Who switched their availability this week, in time order.
AVAILABILITY: tuple[GoesAway | ComesBack, ...] = (
    GoesAway(ago(days=2, hours=9), "jonas"),  # a dentist's appointment
    ComesBack(ago(days=2, hours=6, minutes=30), "jonas"),
    GoesAway(ago(hours=13, minutes=20), "maren"),  # off after the night's safety report
    GoesAway(ago(hours=1, minutes=30), "lukas"),  # on site at the Riverside substation
)


@dataclass(frozen=True)
class AccountSpec:
    kind: ChannelKind
    handle: str
    display_name: str
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


# One brand account per channel, keyed by its kind in the scenes below. None of the network
# accounts is connected (no credentials), so polling them is switched off: the demo shows
# their history, and what the desk sends there itself while the demo loads (follow-ups) is
# taken by a stand-in for the network.
_NOT_CONNECTED: Mapping[str, Any] = MappingProxyType({"polling_enabled": False})

ACCOUNTS: tuple[AccountSpec, ...] = (
    AccountSpec(ChannelKind.WEB, "website", "Website chat"),
    AccountSpec(
        ChannelKind.X,
        "@KestrelTransit",
        "Kestrel Valley Transit",
        # Replies from the shared account carry the agent's initials (^PS).
        MappingProxyType({**_NOT_CONNECTED, "sign_replies": True}),
    ),
    AccountSpec(
        ChannelKind.MASTODON,
        "transit@social.kestrelvalley.example",
        "Kestrel Valley Transit",
        MappingProxyType(
            {**_NOT_CONNECTED, "instance_url": "https://social.kestrelvalley.example"}
        ),
    ),
    AccountSpec(
        ChannelKind.BLUESKY,
        "transit.kestrelvalley.example",
        "Kestrel Valley Transit",
        _NOT_CONNECTED,
    ),
    AccountSpec(ChannelKind.EMAIL, "care@kestrelvalley.example", "Customer care", _NOT_CONNECTED),
)


# -- how the desk is set up -----------------------------------------------------------------
# Rules are written as the API takes them, except that teams and members are named (``team``:
# a team's name, ``member``: a member's key) where the API takes their ids.


@dataclass(frozen=True)
class RoutingSpec:
    strategy: Strategy
    reassign_when_away: bool
    reassign_after_minutes: int | None = None


ROUTING = RoutingSpec(Strategy.LEAST_LOADED, reassign_when_away=True)


@dataclass(frozen=True)
class RuleSpec:
    name: str
    conditions: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]
    stop: bool = False


ROUTING_RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "Spanish to a Spanish speaker",
        (_frozen(field="language", op="is", value="es"),),
        (_frozen(type="assign_to", member="tomas"),),
    ),
    RuleSpec(
        "Refunds and invoices to Billing",
        (
            _frozen(
                field="keywords",
                op="any",
                value=["refund", "invoice", "charged", "charged twice", "overcharged"],
            ),
        ),
        (
            _frozen(type="set_team", team="Tickets & billing"),
            _frozen(type="add_tag", tag="billing"),
        ),
    ),
    RuleSpec(
        "Tram 4 outage to Communications",
        (_frozen(field="keywords", op="any", value=["tram 4", "line 4", "tranvía 4"]),),
        (_frozen(type="set_team", team="Communications"), _frozen(type="add_tag", tag="outage")),
    ),
    RuleSpec(
        "Angry complaints jump the queue",
        (
            _frozen(field="is_complaint", op="is", value=True),
            _frozen(field="sentiment", op="is", value="negative"),
        ),
        (_frozen(type="set_priority", priority="high"),),
    ),
)


@dataclass(frozen=True)
class AutomationSpec:
    name: str
    trigger: str
    conditions: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]
    delay_minutes: int | None = None


AUTOMATION_RULES: tuple[AutomationSpec, ...] = (
    AutomationSpec(
        "Angry on X, no reply in 15 minutes",
        "no_reply",
        (
            _frozen(field="is_complaint", op="is", value=True),
            _frozen(field="sentiment", op="is", value="negative"),
            _frozen(field="channel", op="is", value="x"),
        ),
        (
            _frozen(
                type="notify",
                to="team_lead",
                team="Customer support",
                message="An angry customer on X has waited 15 minutes for an answer",
            ),
        ),
        delay_minutes=15,
    ),
)


@dataclass(frozen=True)
class VolumeAlertSpec:
    name: str
    filters: Mapping[str, Any]
    window_minutes: int
    threshold: int
    notify_to: str
    team: str | None = None  # a team's name
    baseline_factor: float | None = None


VOLUME_ALERTS: tuple[VolumeAlertSpec, ...] = (
    # Fires during the tram 4 outage, three hours ago, and tells Communications' lead once.
    VolumeAlertSpec(
        "Tram 4 disruption",
        _frozen(words=("tram 4", "line 4", "tranvía 4")),
        window_minutes=30,
        threshold=3,
        notify_to="team_lead",
        team="Communications",
    ),
    # Against the week's usual level: a handful of complaints in an hour is news here.
    VolumeAlertSpec(
        "Complaints above the usual",
        _frozen(complaint=True),
        window_minutes=60,
        threshold=4,
        notify_to="admins",
        baseline_factor=3.0,
    ),
)


@dataclass(frozen=True)
class SavedReplySpec:
    shortcut: str
    title: str
    text: str
    team: str | None = None  # a team's name: offered to its members and on its conversations


SAVED_REPLIES: tuple[SavedReplySpec, ...] = (
    SavedReplySpec(
        "replacement-bus",
        "Tram 4: replacement buses",
        "Sorry {name}, tram 4 is stopped between Harrow Lane and Riverside. Replacement buses "
        "run every 10 minutes from the stop across the bridge; we will say here when the "
        "trams are back.",
    ),
    SavedReplySpec(
        "lost-property",
        "Lost property",
        "Hi {name}, lost property is kept at the service desk in Central station for 30 days, "
        "Monday to Saturday 08:00-18:00. Bring something that shows it is yours.",
    ),
    # The code of conduct asks an approver for money promised in public: the settings page
    # says so before anyone uses it.
    SavedReplySpec(
        "refund",
        "Refund for a missed journey",
        "Sorry {name}, you can get your money back for that journey at "
        "kestrelvalley.example/refund; it takes about five working days.",
    ),
    # Billing's own answer: offered to its members, and to anyone on a billing conversation.
    SavedReplySpec(
        "season-ticket-pause",
        "Pausing a season ticket",
        "Hi {name}, you can pause a season ticket for up to 8 weeks once a year under My "
        "tickets > Pause; the days paused are added at the end. ^{agent}",
        team="Tickets & billing",
    ),
)


# The X poll's post, which people answer in words too (the "x-poll-reply-..." scenes).
ALERTS_POLL_POST = "1877499999990000001"


@dataclass(frozen=True)
class PollSpec:
    """A poll asked from the account of ``channel``. With ``votes``, it was posted and has
    closed with those final counts; without, the code of conduct holds it for an approver."""

    author: str  # a member's key
    question: str
    options: tuple[str, ...]
    asked_ago: timedelta
    seconds: int = 86400
    votes: tuple[int, ...] | None = None
    channel: ChannelKind = ChannelKind.MASTODON
    # The post's id on the network, for scenes that answer it (``Scene.answers_poll``).
    post_id: str | None = None


POLLS: tuple[PollSpec, ...] = (
    PollSpec(
        "hannah",
        "Night buses at weekends: when should the last one leave Central station?",
        ("00:30", "01:30", "02:30"),
        ago(days=6),
        seconds=2 * 86400,
        votes=(118, 291, 164),
    ),
    # On X, choices are at most 25 characters and a voter picks one.
    PollSpec(
        "priya",
        "Service changes and delays: where do you want to hear about them first?",
        ("Here on X", "The Kestrel app", "Text message", "At the stop"),
        ago(days=4),
        seconds=86400,
        votes=(412, 655, 287, 96),
        channel=ChannelKind.X,
        post_id=ALERTS_POLL_POST,
    ),
    # Money in public needs an approver (the code of conduct's no-money-in-public): it waits
    # for Maren or Tomás.
    PollSpec(
        "priya",
        "After Tuesday's tram 4 outage, what would you rather have: a refund of the day's "
        "fare, or a free day pass?",
        ("A refund", "A free day pass"),
        ago(hours=3),
    ),
)


@dataclass(frozen=True)
class SlaSpec:
    """An SLA policy, in order (the first that applies wins). Targets in minutes; ``hours``
    names the business hours it counts, None counts calendar time."""

    name: str
    first_response: int | None
    next_response: int | None
    resolution: int | None
    priority: Priority | None = None
    hours: str | None = None
    warn_before: int = 15


SLA_POLICIES: tuple[SlaSpec, ...] = (
    SlaSpec(
        "Urgent: answer within 30 minutes",
        first_response=30,
        next_response=30,
        resolution=4 * 60,
        priority=Priority.URGENT,
        warn_before=10,
    ),
    SlaSpec(
        "High: answer within 30 minutes",
        first_response=30,
        next_response=60,
        resolution=8 * 60,
        priority=Priority.HIGH,
        warn_before=10,
    ),
    SlaSpec(
        "Standard: answer within 2 business hours",
        first_response=2 * 60,
        next_response=4 * 60,
        resolution=3 * 12 * 60,  # three working days of customer care
        hours="Customer care",
    ),
)


@dataclass(frozen=True)
class FollowUpSpec:
    """A follow-up policy: the organization's (``channel`` None) or one channel's."""

    template: str
    channel: ChannelKind | None = None
    delay_minutes: int = 24 * 60
    survey: Survey = Survey.NONE
    enabled: bool = True


FOLLOW_UP_POLICIES: tuple[FollowUpSpec, ...] = (
    FollowUpSpec(
        "Hi {name}, checking in: is everything sorted now? If anything is still not right, "
        "just reply here."
    ),
    # Website visitors get a short satisfaction survey an hour after the chat.
    FollowUpSpec(
        "Hi {name}, thanks for chatting with {brand} earlier. Did we sort it out?",
        channel=ChannelKind.WEB,
        delay_minutes=60,
        survey=Survey.SCALE,
    ),
)


# -- the code of conduct ---------------------------------------------------------------------
# Adopted by the owner when the desk was set up. Every reply written in the desk passes it; one
# draft about a rider hurt on a bus waits in Approvals for Communications (scene
# "web-hard-braking"), and "Back-test against past messages" shows what it would have caught.

CODE_OF_CONDUCT_COMMENT = "our code of conduct for every channel, agreed with Communications"
CODE_OF_CONDUCT = """\
name: Kestrel Valley Transit code of conduct
description: >
  How we speak for Kestrel Valley Transit on every channel: courteous, accurate about what we
  know, careful with riders' data, and never promising money in public.
topics:
  compensation: [refund, compensation, reimburse, voucher, free ticket, free travel, money back]
rules:
  - id: courteous-tone
    explain: "We are calm and courteous with every rider, including the ones who are angry with us."
    action: block
    tone: [profanity, hostile, shouting]
  - id: no-personal-data-in-public
    explain: >-
      Never ask for or repeat a rider's personal details in public: move to a direct message.
    action: block
    personal_data: [email, phone, card]
    patterns:
      kestrelpass-number: '\\bKP-?\\d{8}\\b'
    allow: ["0800 555 0199"]  # our own taxi and assistance line
  - id: official-links-only
    explain: "Link only to our own sites, so riders are never sent to look-alikes."
    action: approve
    allowed_domains: [kestrelvalley.example]
  - id: no-money-in-public
    explain: >-
      In public we never promise money: refunds and compensation are settled in a direct
      message.
    action: approve
    visibility: [public]
    topics: [compensation]
  - id: incidents-go-through-communications
    explain: >-
      Anything about an assault, injury or accident is worded with Communications before it
      goes out.
    action: approve
    terms: [assault, assaulted, injured, injury, accident, police]
  - id: no-blame
    explain: "We own our mistakes and never blame riders, staff or contractors in public."
    action: warn
    visibility: [public]
    terms: [your fault, not our fault, the driver's fault, the contractor's fault]
"""


@dataclass(frozen=True)
class IdentitySpec:
    native_id: str
    handle: str | None = None


@dataclass(frozen=True)
class CustomerSpec:
    key: str
    name: str
    # channel kind -> who they are there; two entries make one person on two channels
    identities: Mapping[ChannelKind, IdentitySpec]


def _customer(key: str, name: str, **identities: IdentitySpec) -> CustomerSpec:
    return CustomerSpec(
        key, name, MappingProxyType({ChannelKind(k): v for k, v in identities.items()})
    )


CUSTOMERS: tuple[CustomerSpec, ...] = (
    # X
    _customer("lena", "Lena Brandt", x=IdentitySpec("1402231190", "@lenab_kestrel")),
    _customer("kwame", "Kwame Oduya", x=IdentitySpec("2918830012", "@kwame_in_kestrel")),
    _customer("jo", "Jo Fernhill", x=IdentitySpec("88120456", "@jofernhill_kv")),
    _customer("mirela", "Mirela Vasquez", x=IdentitySpec("1533907781", "@mirela_v_kestrel")),
    _customer("dev", "Dev Malhotra", x=IdentitySpec("3390125577", "@devmal_kv")),
    _customer("ana", "Ana Sousa", x=IdentitySpec("1209883412", "@northfield_ana")),
    _customer("club", "Kestrel Cycling Club", x=IdentitySpec("901234117", "@kestrelcycling")),
    _customer("sam", "Sam Whitlow", x=IdentitySpec("2231109874", "@samwhitlow_kv")),
    _customer("rae", "Rae Kim", x=IdentitySpec("1780045521", "@rollwithrae_kv")),
    _customer("tobias", "Tobias Nyberg", x=IdentitySpec("645332198", "@tobias_nyb_kv")),
    _customer("lucia", "Lucía Romero", x=IdentitySpec("1688204417", "@luciaromero_kv")),
    # They answered the poll about service alerts.
    _customer("milo", "Milo Grant", x=IdentitySpec("1650000101", "@milo_rides_kv")),
    _customer("rosa", "Rosa Kaya", x=IdentitySpec("1650000102", "@rosakaya_kv")),
    # The customer who writes on two channels: one contact, two identities.
    _customer(
        "elif",
        "Elif Demir",
        x=IdentitySpec("1992203345", "@elifdemir_kv"),
        email=IdentitySpec("elif.demir@mail.example", "elif.demir@mail.example"),
    ),
    # Mastodon
    _customer(
        "jess", "Jess Harlow", mastodon=IdentitySpec("jess@toot.example", "@jess@toot.example")
    ),
    _customer(
        "oskar",
        "Oskar Lind",
        mastodon=IdentitySpec("oskar@social.example", "@oskar@social.example"),
    ),
    _customer("noa", "Noa P.", mastodon=IdentitySpec("noa@fedi.example", "@noa@fedi.example")),
    _customer(
        "gwen", "Gwen Talbot", mastodon=IdentitySpec("gwen@toot.example", "@gwen@toot.example")
    ),
    _customer(
        "ravi", "Ravi Menon", mastodon=IdentitySpec("ravi@social.example", "@ravi@social.example")
    ),
    _customer(
        "bea", "Bea Lindqvist", mastodon=IdentitySpec("bea@fedi.example", "@bea@fedi.example")
    ),
    # Bluesky
    _customer(
        "marta",
        "Marta Quinn",
        bluesky=IdentitySpec("did:plc:uahzdzzdhguluwmy5fu6dbkt", "martaquinn.kestrel.example"),
    ),
    _customer(
        "felix",
        "Felix Ortega",
        bluesky=IdentitySpec("did:plc:yrmfsmosyd5lylnd4oend7f3", "felixo.kestrel.example"),
    ),
    _customer(
        "yuki",
        "Yuki Tanaka",
        bluesky=IdentitySpec("did:plc:z5mup2te7vhun7xauxtvz66a", "yukit.kestrel.example"),
    ),
    _customer(
        "dana",
        "Dana Whitfield",
        bluesky=IdentitySpec("did:plc:3suplxzpisptcura4j7t7bah", "danaw.kestrel.example"),
    ),
    _customer(
        "chris",
        "Chris Adebayo",
        bluesky=IdentitySpec("did:plc:t2zsqyqmog2womr5ekcpzhtp", "chrisadebayo.kestrel.example"),
    ),
    # Email
    _customer(
        "helen",
        "Helen Marsh",
        email=IdentitySpec(
            "hmarsh@northfield-primary.example", "hmarsh@northfield-primary.example"
        ),
    ),
    _customer(
        "mark",
        "Mark Ellison",
        email=IdentitySpec("mark.ellison@mail.example", "mark.ellison@mail.example"),
    ),
    _customer(
        "sofia",
        "Sofia Brandão",
        email=IdentitySpec("sofia.brandao@mail.example", "sofia.brandao@mail.example"),
    ),
    _customer(
        "peter",
        "Peter Okonkwo",
        email=IdentitySpec("p.okonkwo@mail.example", "p.okonkwo@mail.example"),
    ),
    _customer(
        "screenwise",
        "Screenwise Media",
        email=IdentitySpec("partnerships@screenwise.example", "partnerships@screenwise.example"),
    ),
    # The website visitor Tomasz Nowak again, by email: the desk suggests they are one person
    # (the merge page's "Maybe the same person"), for an agent to confirm.
    _customer(
        "tomasz-mail",
        "Tomasz Nowak",
        email=IdentitySpec("t.nowak@mail.example", "t.nowak@mail.example"),
    ),
    _customer(
        "judith",
        "Judith Verhoeven",
        email=IdentitySpec(
            "accounts@harbourside-dental.example", "accounts@harbourside-dental.example"
        ),
    ),
    # Website chat: visitor ids are the chat page's own; the email is what they typed, if any.
    _customer(
        "lina",
        "Lina",
        web=IdentitySpec("e6a7619b-ee59-4557-96cd-ba4244dec2e4", "lina.h@mail.example"),
    ),
    _customer(
        "omar",
        "Omar Haddad",
        web=IdentitySpec("3e78dc24-cb71-4c02-bed2-d03b212e4e99", "omar.haddad@mail.example"),
    ),
    _customer("visitor", "", web=IdentitySpec("43260ba7-00be-4909-af6f-2c69973d82d6")),
    _customer("greta", "Greta", web=IdentitySpec("24d9efba-390b-4a24-84e6-0fb34d0346c3")),
    _customer(
        "tomasz",
        "Tomasz Nowak",
        web=IdentitySpec("8eee66da-c655-4130-9a1a-92790bd505ae", "t.nowak@mail.example"),
    ),
    _customer(
        "ingrid",
        "Ingrid Solberg",
        web=IdentitySpec("b51f0c3e-5d0a-4f4e-9b7e-2f6a1c8d9e10", "ingrid.solberg@mail.example"),
    ),
    _customer(
        "carmen",
        "Carmen Ruiz",
        web=IdentitySpec("c1d9a2e4-7b3f-4c8e-9a61-5e2f0b7d4a93", "carmen.ruiz@mail.example"),
    ),
)


# -- what happens ---------------------------------------------------------------------------
# Each scene is a list of steps in time order. ``ago`` is how long before "now" the step
# happened; ``by`` is a member's key.


@dataclass(frozen=True)
class Says:
    """The customer writes (the first step of every scene)."""

    ago: timedelta
    text: str
    # Files that come with it (an email's attachments).
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Answers:
    """The brand replies. On the website chat the reply goes through the send gateway and is
    delivered by the job; on the network channels, which the demo does not connect, it is part
    of the account's history."""

    ago: timedelta
    by: str
    text: str


@dataclass(frozen=True)
class AnswerFails:
    """A member replies through the send gateway and the network refuses it for ``reason``."""

    ago: timedelta
    by: str
    text: str
    reason: str


@dataclass(frozen=True)
class Notes:
    ago: timedelta
    by: str
    text: str


@dataclass(frozen=True)
class Assigns:
    ago: timedelta
    by: str
    to: str


@dataclass(frozen=True)
class Routes:
    """Hands the conversation to a team."""

    ago: timedelta
    by: str
    team: str


@dataclass(frozen=True)
class Tags:
    ago: timedelta
    by: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Prioritises:
    ago: timedelta
    by: str
    priority: Priority


@dataclass(frozen=True)
class Resolves:
    """Resolves the conversation. With open promises the desk asks what happens to them:
    ``promises`` answers (and ``note`` says why, as the desk's form does)."""

    ago: timedelta
    by: str
    promises: ResolveChoice | None = None
    note: str = ""


@dataclass(frozen=True)
class AwaitsCustomer:
    """Sets the conversation to pending: the next move is the customer's."""

    ago: timedelta
    by: str


@dataclass(frozen=True)
class Snoozes:
    ago: timedelta
    by: str
    until: timedelta  # after "now"


@dataclass(frozen=True)
class RecognisesCustomer:
    """A member sees that this customer is someone already known on another channel and joins
    the two contacts into one person."""

    ago: timedelta
    by: str


@dataclass(frozen=True)
class Asks:
    """Asks another team (or a person) for something, without handing the conversation over:
    an escalation request, due ``due_in`` after it is asked (None: no due time)."""

    ago: timedelta
    by: str
    text: str
    team: str | None = None
    member: str | None = None
    due_in: timedelta | None = None


@dataclass(frozen=True)
class Done:
    """Whoever was asked marks the scene's open request done, saying what was done."""

    ago: timedelta
    by: str
    resolution: str


@dataclass(frozen=True)
class CancelsFollowUp:
    """Cancels the follow-up the resolution scheduled (praise needs no "is it fixed?")."""

    ago: timedelta
    by: str


Step = (
    Says
    | Asks
    | Done
    | CancelsFollowUp
    | Answers
    | AnswerFails
    | Notes
    | Assigns
    | Routes
    | Tags
    | Prioritises
    | Resolves
    | AwaitsCustomer
    | Snoozes
    | RecognisesCustomer
)


@dataclass(frozen=True)
class Scene:
    key: str
    channel: ChannelKind
    customer: str
    steps: tuple[Step, ...]
    # A direct message (DMs on networks; email and the website chat are always direct).
    direct: bool = False
    subject: str | None = None  # email only
    # The first message answers this post of the brand's (a poll's), not a post of the
    # customer's own.
    answers_post: str | None = None


URGENT, HIGH, LOW = Priority.URGENT, Priority.HIGH, Priority.LOW

SCENES: tuple[Scene, ...] = (
    # ---- answers to the poll about service alerts (POLLS), each a conversation of its own ----
    Scene(
        "x-poll-reply-milo",
        ChannelKind.X,
        "milo",
        (
            Says(
                ago(days=3, hours=23, minutes=40),
                "@KestrelTransit The app, as long as the alert comes before I leave the house "
                "and not after the bus has gone.",
            ),
            Answers(
                ago(days=3, hours=23, minutes=10),
                "priya",
                "Thanks Milo, that is the plan: an alert as soon as a bus or tram is held, "
                "not when it is already late. ^PS",
            ),
            Resolves(ago(days=3, hours=23, minutes=9), "priya"),
            CancelsFollowUp(ago(days=3, hours=23, minutes=8), "priya"),
        ),
        answers_post=ALERTS_POLL_POST,
    ),
    Scene(
        "x-poll-reply-rosa",
        ChannelKind.X,
        "rosa",
        (
            Says(
                ago(days=3, hours=23, minutes=5),
                "@KestrelTransit Text message please. My phone is too old for your app, it "
                "crashes every time I open it.",
            ),
            Answers(
                ago(days=3, hours=22, minutes=40),
                "priya",
                "Sorry about the crashes, Rosa. Text alerts are on the list from this poll; "
                "we will post here when you can sign up. ^PS",
            ),
            # "We will post here when you can sign up" is a promise: it stays open.
            Resolves(ago(days=3, hours=22, minutes=39), "priya", promises=ResolveChoice.KEEP_OPEN),
            CancelsFollowUp(ago(days=3, hours=22, minutes=38), "priya"),
        ),
        answers_post=ALERTS_POLL_POST,
    ),
    # ---- the tram 4 outage, arriving everywhere at once -----------------------------------
    Scene(
        "x-outage-lena",
        ChannelKind.X,
        "lena",
        (
            Says(
                ago(hours=3, minutes=12),
                "@KestrelTransit tram 4 stuck at Harrow Lane for 20 minutes now, no "
                "announcement at all. What is going on?",
            ),
            # "Tram 4 outage to Communications" routed it.
            Prioritises(ago(hours=3, minutes=9), "hannah", URGENT),
            Tags(ago(hours=3, minutes=9), "hannah", ("tram-4",)),
            Assigns(ago(hours=3, minutes=8), "hannah", "hannah"),
            Asks(
                ago(hours=3, minutes=6),
                "hannah",
                "When will line 4 run again? Customers are asking on every channel.",
                team="Field service",
                due_in=timedelta(minutes=30),
            ),
            Answers(
                ago(hours=3, minutes=4),
                "hannah",
                "Sorry Lena, a power fault between Harrow Lane and Riverside has stopped line 4. "
                "Replacement buses are on their way from Central Station; updates here. ^HL",
            ),
            Says(ago(hours=2, minutes=58), "@KestrelTransit thanks. Any idea how long?"),
            Done(
                ago(hours=2, minutes=50),
                "lukas",
                "The fault is in the Riverside substation feed. Engineers are on site; their "
                "estimate is 18:00. It is an estimate, not a promise.",
            ),
            Answers(
                ago(hours=2, minutes=45),
                "hannah",
                "Engineers are on site now and expect trams to run again by 18:00. I'll let you "
                "know here as soon as line 4 is back. ^HL",
            ),
        ),
    ),
    Scene(
        "x-outage-kwame",
        ChannelKind.X,
        "kwame",
        (
            Says(
                ago(hours=2, minutes=55),
                "Third time this month line 4 has died on me. Late for my shift AGAIN. "
                "@KestrelTransit you are useless",
            ),
            # The rules route it to Communications and raise it to high; nobody has answered,
            # so "Angry on X, no reply in 15 minutes" tells the lead of Customer support.
            Tags(ago(hours=2, minutes=50), "hannah", ("tram-4", "complaint")),
        ),
    ),
    Scene(
        "x-outage-jo",
        ChannelKind.X,
        "jo",
        (
            Says(
                ago(hours=2, minutes=41),
                "@KestrelTransit are replacement buses for tram 4 running from Old Town too?",
            ),
            Answers(
                ago(hours=2, minutes=36),
                "tomas",
                "Yes Jo: replacement buses leave every 10 minutes from the Old Town stop on "
                "Castle Street, and they stop at every tram stop on the way. ^TR",
            ),
            Tags(ago(hours=2, minutes=36), "tomas", ("outage", "tram-4", "question")),
            Says(ago(hours=2, minutes=20), "@KestrelTransit found it, thank you!"),
            Resolves(ago(hours=2, minutes=18), "tomas"),
        ),
    ),
    Scene(
        "mastodon-outage-oskar",
        ChannelKind.MASTODON,
        "oskar",
        (
            Says(
                ago(hours=3, minutes=1),
                "@transit@social.kestrelvalley.example is tram 4 down again? We've been standing "
                "at Riverside for ages and the display still says 2 min.",
            ),
            Prioritises(ago(hours=2, minutes=57), "hannah", URGENT),
            Tags(ago(hours=2, minutes=57), "hannah", ("tram-4",)),
            Assigns(ago(hours=2, minutes=56), "hannah", "hannah"),
            Answers(
                ago(hours=2, minutes=52),
                "hannah",
                "Sorry Oskar, line 4 is stopped by a power fault between Harrow Lane and "
                "Riverside. Replacement buses run from the stop across the bridge, every 10 "
                "minutes. We're fixing the displays too.",
            ),
        ),
    ),
    Scene(
        "bluesky-outage-yuki",
        ChannelKind.BLUESKY,
        "yuki",
        (
            Says(
                ago(hours=2, minutes=48),
                "line 4 trams not running?? the app says nothing, the stop says nothing. "
                "@transit.kestrelvalley.example",
            ),
            Prioritises(ago(hours=2, minutes=44), "hannah", URGENT),
            Tags(ago(hours=2, minutes=44), "hannah", ("tram-4", "app")),
            Notes(
                ago(hours=2, minutes=30),
                "hannah",
                "Nobody on this one yet. The missing app banner is with the digital team; "
                "whoever picks this up can promise the banner within the hour.",
            ),
        ),
    ),
    Scene(
        "web-outage-visitor",
        ChannelKind.WEB,
        "visitor",
        (
            Says(ago(hours=2, minutes=31), "Hi, are trams running to Riverside right now?"),
            Assigns(ago(hours=2, minutes=29), "hannah", "hannah"),
            Answers(
                ago(hours=2, minutes=28),
                "hannah",
                "Not at the moment, I'm sorry: a power fault has stopped line 4 between Harrow "
                "Lane and Riverside. Replacement buses run every 10 minutes from the tram stops, "
                "and engineers expect trams back by 18:00.",
            ),
            Tags(ago(hours=2, minutes=28), "hannah", ("outage", "tram-4")),
            Says(ago(hours=2, minutes=25), "ok, thanks for the quick answer"),
        ),
    ),
    # ---- X ----------------------------------------------------------------------------------
    Scene(
        "x-praise-driver",
        ChannelKind.X,
        "mirela",
        (
            Says(
                ago(days=1, hours=5, minutes=20),
                "Shoutout to the driver of the 11 this morning who waited for my mum and her "
                "walker at Eastgate and helped her to a seat. Made her day \N{YELLOW HEART} "
                "@KestrelTransit",
            ),
            Prioritises(ago(days=1, hours=4, minutes=30), "priya", LOW),
            Tags(ago(days=1, hours=4, minutes=30), "priya", ("praise", "bus-11")),
            Answers(
                ago(days=1, hours=4, minutes=25),
                "priya",
                "Thank you Mirela, and best wishes to your mum! We'll pass this on to the "
                "Eastgate depot: it made our day too. ^PS",
            ),
            Notes(
                ago(days=1, hours=4, minutes=20),
                "priya",
                "Forwarded to the Eastgate depot manager for the driver's file (bus 11, 07:42 "
                "departure from Eastgate).",
            ),
            Resolves(
                ago(days=1, hours=4, minutes=19),
                "priya",
                promises=ResolveChoice.KEPT,
                note="forwarded to the Eastgate depot manager",
            ),
            CancelsFollowUp(ago(days=1, hours=4, minutes=18), "priya"),
        ),
    ),
    Scene(
        "x-dm-double-charge",
        ChannelKind.X,
        "dev",
        (
            Says(
                ago(days=2, hours=3, minutes=5),
                "Hi, my KestrelPass was charged twice for the monthly pass on the 1st. Can you "
                "refund one of them?",
            ),
            # "Refunds and invoices to Billing" routed it.
            Tags(ago(days=2, hours=2, minutes=55), "priya", ("refund",)),
            Assigns(ago(days=2, hours=2, minutes=45), "aisha", "aisha"),
            Answers(
                ago(days=2, hours=2, minutes=40),
                "aisha",
                "Hi Dev, sorry about that. Could you send me the last 4 digits of the number on "
                "the back of your pass? Please don't send the full number. ^AO",
            ),
            Says(ago(days=2, hours=2, minutes=10), "Sure, it ends in 4471."),
            Answers(
                ago(days=2, hours=1, minutes=55),
                "aisha",
                "Thanks! I can see the double charge and I've refunded €58.00. It takes 3 to 5 "
                "working days to reach your account. ^AO",
            ),
            Says(ago(days=2, hours=1, minutes=40), "Brilliant, thank you Aisha"),
            Resolves(ago(days=2, hours=1, minutes=38), "aisha"),
            # The answer to the follow-up sent a day later: fixed, so resolved again.
            Says(ago(days=1, hours=1, minutes=10), "Yes, the refund arrived this morning. Thanks!"),
        ),
        direct=True,
    ),
    Scene(
        "x-ticket-machine-failed-reply",
        ChannelKind.X,
        "ana",
        (
            Says(
                ago(hours=20, minutes=10),
                "@KestrelTransit the ticket machine at Northfield only takes cash. Again. "
                "Who carries cash in 2026?",
            ),
            Routes(ago(hours=19, minutes=50), "jonas", "Field service"),
            Tags(ago(hours=19, minutes=50), "jonas", ("complaint", "ticket-machine")),
            Assigns(ago(hours=19, minutes=49), "jonas", "jonas"),
            Asks(
                ago(hours=19, minutes=47),
                "jonas",
                "Is the card reader of the Northfield ticket machine on tomorrow's technician "
                "list (08:00)? I'm telling the customer it is.",
                team="Field service",
                due_in=timedelta(hours=4),
            ),
            AnswerFails(
                ago(hours=19, minutes=45),
                "jonas",
                "Sorry Ana, the card reader on that machine is faulty and a technician is booked "
                "for tomorrow morning. Until then the KVT app sells every ticket.",
                "X refused the reply (404 Not Found): the post it answers has been deleted",
            ),
            Notes(
                ago(hours=19, minutes=30),
                "jonas",
                "The reply bounced: Ana deleted her post before it went out. Nothing to resend; "
                "the technician visit for the Northfield machine is booked for tomorrow 08:00.",
            ),
        ),
    ),
    Scene(
        "x-idea-bikes-on-trams",
        ChannelKind.X,
        "club",
        (
            Says(
                ago(days=4, hours=6),
                "Idea for @KestrelTransit: allow bikes on trams outside rush hour, like other "
                "cities do. Would make valley rides so much easier for our members.",
            ),
            Tags(ago(days=4, hours=5), "hannah", ("idea", "bikes")),
            Prioritises(ago(days=4, hours=5), "hannah", LOW),
            Answers(
                ago(days=4, hours=4, minutes=50),
                "hannah",
                "Love this, thank you! Our planning team is reviewing the rules on trams for "
                "the summer timetable and your idea is on their list. ^HL",
            ),
            Notes(
                ago(days=4, hours=4, minutes=45),
                "hannah",
                "Added to the ideas list for the summer timetable review (planning meeting on "
                "the 20th).",
            ),
            Resolves(ago(days=4, hours=4, minutes=44), "hannah"),
            CancelsFollowUp(ago(days=4, hours=4, minutes=43), "hannah"),
        ),
    ),
    Scene(
        "x-lost-backpack",
        ChannelKind.X,
        "sam",
        (
            Says(
                ago(hours=10, minutes=15),
                "@KestrelTransit left my blue backpack on the N3 night bus last night around "
                "1am. Laptop inside \N{GRIMACING FACE} any chance??",
            ),
            Prioritises(ago(hours=10, minutes=5), "priya", HIGH),
            Routes(ago(hours=10, minutes=5), "priya", "Customer support"),
            Tags(ago(hours=10, minutes=5), "priya", ("lost-property", "night-bus")),
            Assigns(ago(hours=10, minutes=4), "priya", "priya"),
            Answers(
                ago(hours=9, minutes=55),
                "priya",
                "Hi Sam, night buses are checked at Northfield Depot every morning. Where did "
                "you get off, and what does the laptop look like? ^PS",
            ),
            Says(
                ago(hours=9, minutes=10),
                "@KestrelTransit got off at University around 1:10. Grey laptop with fox "
                "stickers on the lid",
            ),
            Notes(
                ago(hours=8, minutes=50),
                "priya",
                "Called the depot: a blue backpack was handed in from the N3. They will check "
                "for the laptop and call back this afternoon. @Jonas, can you take their call "
                "if I'm out?",
            ),
            Answers(
                ago(hours=8, minutes=47),
                "priya",
                "Good news Sam: a blue backpack from the N3 was handed in at the depot, and "
                "they're checking it for your laptop now. I'll message you here within 2 "
                "hours. ^PS",
            ),
            Snoozes(ago(hours=8, minutes=46), "priya", timedelta(hours=4)),
        ),
    ),
    Scene(
        "x-broken-lift",
        ChannelKind.X,
        "rae",
        (
            Says(
                ago(days=1, hours=20, minutes=30),
                "The lift at Millbrook station has been broken for a WEEK. Wheelchair users "
                "can't use the station at all. This is not ok @KestrelTransit",
            ),
            Prioritises(ago(days=1, hours=20, minutes=20), "lukas", HIGH),
            Routes(ago(days=1, hours=20, minutes=20), "lukas", "Field service"),
            Tags(
                ago(days=1, hours=20, minutes=20), "lukas", ("accessibility", "lift", "complaint")
            ),
            Assigns(ago(days=1, hours=20, minutes=19), "lukas", "lukas"),
            Answers(
                ago(days=1, hours=20, minutes=10),
                "lukas",
                "You're right Rae, and we're sorry. The part arrives Thursday and the lift will "
                "be back in service by Friday evening. Until then step-free taxis from Millbrook "
                "to Riverside are free: 0800 555 0199. ^LM",
            ),
            Says(
                ago(days=1, hours=18, minutes=55),
                "@KestrelTransit thanks for the straight answer. I'll hold you to Friday.",
            ),
            Notes(
                ago(days=1, hours=18, minutes=50),
                "lukas",
                "Promise made in public: Millbrook lift back by Friday evening. I'll post the "
                "update here on Friday either way.",
            ),
            AwaitsCustomer(ago(days=1, hours=18, minutes=49), "lukas"),
        ),
    ),
    Scene(
        "x-question-live-map",
        ChannelKind.X,
        "tobias",
        (
            Says(
                ago(days=5, hours=2),
                "@KestrelTransit does the KVT app show live tram positions or only the timetable?",
            ),
            Answers(
                ago(days=5, hours=1, minutes=40),
                "priya",
                "Live positions for trams and buses, Tobias: tap the map icon on any stop. ^PS",
            ),
            Tags(ago(days=5, hours=1, minutes=40), "priya", ("question", "app")),
            Resolves(ago(days=5, hours=1, minutes=39), "priya"),
        ),
    ),
    Scene(
        # Minutes old: routed by language to the Spanish speaker, its SLA about to run out.
        "x-spanish-tram-4",
        ChannelKind.X,
        "lucia",
        (
            Says(
                ago(minutes=21),
                "@KestrelTransit Hola, ¿funciona hoy el tranvía 4? Tengo cita en el hospital de "
                "Riverside dentro de una hora y no sé cómo llegar.",
            ),
            # A hospital appointment within the hour: urgent, whatever triage made of it.
            Prioritises(ago(minutes=19), "hannah", URGENT),
        ),
    ),
    # ---- one customer, two channels ----------------------------------------------------------
    Scene(
        "email-fine-appeal-elif",
        ChannelKind.EMAIL,
        "elif",
        (
            Says(
                ago(days=5, hours=4),
                "Hello,\n\nOn Tuesday I was given a penalty fare (reference PF-20931) on tram 2 "
                "at 08:15 between Old Town and University. My monthly pass was valid, but the "
                "inspector's reader could not read it. A photo of the pass and my bank statement "
                "are attached.\n\nPlease cancel the penalty.\n\nElif Demir",
                attachments=(
                    Attachment(
                        AttachmentKind.IMAGE,
                        name="monthly-pass.png",
                        mime_type="image/png",
                        description="Elif's monthly pass, valid for the whole month",
                        content=files.pass_photo(),
                    ),
                    Attachment(
                        AttachmentKind.FILE,
                        name="statement-october.pdf",
                        mime_type="application/pdf",
                        content=files.bank_statement(),
                    ),
                ),
            ),
            Routes(ago(days=4, hours=22), "priya", "Tickets & billing"),
            Tags(ago(days=4, hours=22), "priya", ("fine", "appeal")),
            # Four days later Elif asks on X (next scene); Aisha answers here.
            Assigns(ago(days=1, hours=1, minutes=40), "aisha", "aisha"),
            Answers(
                ago(days=1, hours=0, minutes=30),
                "aisha",
                "Dear Elif,\n\nThank you for your patience, and sorry for our slow reply. We "
                "checked your pass: it was valid that day, so penalty fare PF-20931 is cancelled "
                "and you don't need to do anything.\n\nKind regards,\nAisha Okafor\nTickets & "
                "billing, Kestrel Valley Transit",
            ),
            Says(ago(days=1, hours=0, minutes=25), "Thank you, that's a relief.\n\nElif"),
            Resolves(ago(days=1, minutes=20), "aisha"),
        ),
        subject="Penalty fare appeal, ref PF-20931",
    ),
    Scene(
        "x-fine-appeal-elif",
        ChannelKind.X,
        "elif",
        (
            Says(
                ago(days=1, hours=2, minutes=10),
                "@KestrelTransit I emailed you about a penalty fare I got on tram 2 while my "
                "pass was valid. Four days, no answer.",
            ),
            RecognisesCustomer(ago(days=1, hours=1, minutes=55), "aisha"),
            Routes(ago(days=1, hours=1, minutes=55), "aisha", "Tickets & billing"),
            Tags(ago(days=1, hours=1, minutes=55), "aisha", ("fine", "appeal", "complaint")),
            Assigns(ago(days=1, hours=1, minutes=54), "aisha", "aisha"),
            Answers(
                ago(days=1, hours=1, minutes=50),
                "aisha",
                "Hi Elif, sorry for the wait. I've found your email and I'm on it now; you'll "
                "have an answer there today. ^AO",
            ),
            Notes(
                ago(days=1, hours=1, minutes=45),
                "aisha",
                "Same person as the email appeal PF-20931: contacts joined. Answering by email.",
            ),
            Resolves(
                ago(days=1, minutes=19),
                "aisha",
                promises=ResolveChoice.KEPT,
                note="answered by email: penalty fare PF-20931 cancelled",
            ),
            # One follow-up is enough: the email thread's.
            CancelsFollowUp(ago(days=1, minutes=18), "aisha"),
        ),
    ),
    # ---- Mastodon ----------------------------------------------------------------------------
    Scene(
        "mastodon-night-bus-holiday",
        ChannelKind.MASTODON,
        "jess",
        (
            Says(
                ago(days=3, hours=7),
                "@transit@social.kestrelvalley.example is the N3 running on Sunday nights during "
                "the holiday week?",
            ),
            Answers(
                ago(days=3, hours=6, minutes=30),
                "jonas",
                "Hi Jess, yes: the N3 runs every night of the holiday week, every 30 minutes "
                "from 00:30 to 04:30.",
            ),
            Tags(ago(days=3, hours=6, minutes=30), "jonas", ("question", "night-bus")),
            Resolves(ago(days=3, hours=6, minutes=29), "jonas"),
        ),
    ),
    Scene(
        "mastodon-dm-safety",
        ChannelKind.MASTODON,
        "noa",
        (
            Says(
                ago(hours=14, minutes=30),
                "I want to report a man who harassed two women on bus 27 last night, around "
                "22:30 near Old Town. Nobody did anything. I didn't feel safe.",
            ),
            Prioritises(ago(hours=14, minutes=20), "maren", URGENT),
            Routes(ago(hours=14, minutes=20), "maren", "Customer support"),
            Tags(ago(hours=14, minutes=20), "maren", ("safety", "bus-27")),
            Assigns(ago(hours=14, minutes=19), "maren", "maren"),
            Answers(
                ago(hours=14, minutes=10),
                "maren",
                "Thank you for telling us, and I'm so sorry this happened. I've passed it to our "
                "security team, who can review the bus cameras. Where did you get on?",
            ),
            Says(ago(hours=13, minutes=40), "Harrow Lane, around 22:15. Back of the bus."),
            Notes(
                ago(hours=13, minutes=30),
                "maren",
                "Security has the footage request (SEC-118). Nothing about this goes public; "
                "Noa asked to stay anonymous.",
            ),
        ),
        direct=True,
    ),
    Scene(
        "mastodon-praise-new-trams",
        ChannelKind.MASTODON,
        "gwen",
        (
            Says(
                ago(days=2, hours=9),
                "The new low-floor trams on line 2 are lovely. Quiet, bright, and so much space "
                "for prams. @transit@social.kestrelvalley.example",
            ),
            Answers(
                ago(days=2, hours=8),
                "hannah",
                "Thank you Gwen! Six more arrive this spring, and then every line 2 tram is "
                "low-floor.",
            ),
            Tags(ago(days=2, hours=8), "hannah", ("praise", "tram-2")),
            Prioritises(ago(days=2, hours=8), "hannah", LOW),
            Resolves(ago(days=2, hours=7, minutes=59), "hannah"),
            CancelsFollowUp(ago(days=2, hours=7, minutes=58), "hannah"),
        ),
    ),
    Scene(
        "mastodon-idea-departure-board",
        ChannelKind.MASTODON,
        "ravi",
        (
            Says(
                ago(days=1, hours=9),
                "Suggestion for @transit@social.kestrelvalley.example: the display at the "
                "University stop only shows the next departure. Could it show the next three?",
            ),
            Tags(ago(days=1, hours=7), "hannah", ("idea", "displays")),
            Prioritises(ago(days=1, hours=7), "hannah", LOW),
        ),
    ),
    Scene(
        "mastodon-announcements-bus-11",
        ChannelKind.MASTODON,
        "bea",
        (
            Says(
                ago(hours=6, minutes=20),
                "The audio stop announcements on bus 11 haven't worked for days. Blind "
                "passengers like me rely on them. @transit@social.kestrelvalley.example",
            ),
            Prioritises(ago(hours=6, minutes=12), "lukas", HIGH),
            Routes(ago(hours=6, minutes=12), "lukas", "Field service"),
            Tags(ago(hours=6, minutes=12), "lukas", ("accessibility", "bus-11")),
            Assigns(ago(hours=6, minutes=11), "lukas", "lukas"),
            Answers(
                ago(hours=6, minutes=2),
                "lukas",
                "Thank you Bea, and sorry. We found the faulty announcement unit on that bus; it "
                "goes to the workshop tonight and will be back tomorrow with working "
                "announcements.",
            ),
        ),
    ),
    # ---- Bluesky -----------------------------------------------------------------------------
    Scene(
        "bluesky-crowded-27",
        ChannelKind.BLUESKY,
        "marta",
        (
            Says(
                ago(days=3, hours=1),
                "bus 27 at 8am was so packed it skipped three stops. again. add more buses "
                "@transit.kestrelvalley.example",
            ),
            Tags(ago(days=3), "jonas", ("complaint", "crowding", "bus-27")),
            Assigns(ago(days=3), "jonas", "jonas"),
            Answers(
                ago(days=2, hours=23, minutes=30),
                "jonas",
                "We hear you, Marta. From Monday there are two extra departures on line 27, at "
                "07:50 and 08:10 from Northfield.",
            ),
            Says(ago(days=2, hours=22), "finally! thank you"),
            Resolves(ago(days=2, hours=21, minutes=55), "jonas"),
            Says(
                ago(days=1, hours=20),
                "yes all good, thanks! the extra 07:50 makes such a difference",
            ),
        ),
    ),
    Scene(
        "bluesky-folding-bike",
        ChannelKind.BLUESKY,
        "felix",
        (
            Says(
                ago(days=4, hours=1),
                "@transit.kestrelvalley.example can I bring a folding bike on the tram?",
            ),
            Answers(
                ago(days=4),
                "priya",
                "Yes Felix: a folded bike counts as luggage and rides free at any time.",
            ),
            Tags(ago(days=4), "priya", ("question", "bikes")),
            Resolves(ago(days=3, hours=23, minutes=59), "priya"),
        ),
    ),
    Scene(
        "bluesky-praise-app",
        ChannelKind.BLUESKY,
        "dana",
        (
            Says(
                ago(days=1, hours=12),
                "ok the new KVT app update is actually great. tickets work offline now "
                "\N{CLAPPING HANDS SIGN}",
            ),
            Answers(
                ago(days=1, hours=11, minutes=40),
                "hannah",
                "Thank you Dana! The app team will be very happy to read this.",
            ),
            Tags(ago(days=1, hours=11), "hannah", ("praise", "app")),
            Prioritises(ago(days=1, hours=11), "hannah", LOW),
            Resolves(ago(days=1, hours=10, minutes=59), "hannah"),
            CancelsFollowUp(ago(days=1, hours=10, minutes=58), "hannah"),
        ),
    ),
    Scene(
        "bluesky-fare-correction-reopened",
        ChannelKind.BLUESKY,
        "chris",
        (
            Says(
                ago(days=2, hours=4),
                "@transit.kestrelvalley.example my contactless tap-out at Central didn't "
                "register and I was charged the maximum fare, €7.80",
            ),
            # "Refunds and invoices to Billing" routed it ("charged").
            Tags(ago(days=2, hours=3, minutes=50), "priya", ("fare-correction",)),
            Assigns(ago(days=2, hours=3, minutes=45), "aisha", "aisha"),
            Answers(
                ago(days=2, hours=3, minutes=40),
                "aisha",
                "Sorry Chris! A missed tap-out is corrected to the normal fare once we know "
                "your journey. Where did you start?",
            ),
            Says(ago(days=2, hours=2), "from Eastgate, around 17:30"),
            Answers(
                ago(days=2, hours=1, minutes=20),
                "aisha",
                "Thanks, corrected: you'll see €2.40 instead of €7.80 within 48 hours.",
            ),
            Resolves(ago(days=2, hours=1, minutes=19), "aisha"),
            # The answer to the follow-up sent a day after: still not fixed. Within the quiet
            # period, so the same conversation reopens and Aisha is told.
            Says(
                ago(hours=5, minutes=40),
                "No, still not fixed: my card statement still shows €7.80.",
            ),
            Answers(
                ago(hours=5, minutes=10),
                "aisha",
                "Sorry Chris, that's our mistake: the correction never reached your card. I've "
                "sent it again and I'll confirm here by tomorrow noon.",
            ),
        ),
    ),
    # ---- Email -------------------------------------------------------------------------------
    Scene(
        "email-school-trip",
        ChannelKind.EMAIL,
        "helen",
        (
            Says(
                ago(days=2, hours=6),
                "Dear Kestrel Valley Transit,\n\nOn 14 May we are taking 28 pupils and 4 "
                "teachers from Northfield to the Science Museum by tram, leaving around 09:30. "
                "Is there a group fare, and should we tell you in advance?\n\nBest wishes,\n"
                "Helen Marsh\nNorthfield Primary School",
            ),
            Routes(ago(days=2, hours=4), "priya", "Customer support"),
            Tags(ago(days=2, hours=4), "priya", ("question", "group-travel")),
            Assigns(ago(days=2, hours=4), "priya", "priya"),
            Answers(
                ago(days=2, hours=3, minutes=30),
                "priya",
                "Dear Helen,\n\nSchool groups travel for €1 per pupil, and teachers travel free. "
                "Please tell us your exact departure time: we'll make sure that tram has room "
                "and add a carriage if needed.\n\nKind regards,\nPriya Shah",
            ),
            AwaitsCustomer(ago(days=2, hours=3, minutes=29), "priya"),
        ),
        subject="Group travel for a school trip on 14 May",
    ),
    Scene(
        "email-driver-complaint",
        ChannelKind.EMAIL,
        "mark",
        (
            Says(
                ago(days=1, hours=7),
                "Hello,\n\nYesterday at about 15:40 the driver of bus 11 at Eastgate closed the "
                "doors on my son (12) as he was getting on, then drove off while he was still "
                "in the doorway. He was not hurt but he was very shaken. I expect an "
                "explanation.\n\nMark Ellison",
            ),
            Prioritises(ago(days=1, hours=6, minutes=50), "jonas", HIGH),
            Routes(ago(days=1, hours=6, minutes=50), "jonas", "Customer support"),
            Tags(
                ago(days=1, hours=6, minutes=50), "jonas", ("complaint", "driver-conduct", "bus-11")
            ),
            Assigns(ago(days=1, hours=6, minutes=49), "jonas", "jonas"),
            Asks(
                ago(days=1, hours=6, minutes=47),
                "jonas",
                "Eastgate depot: please send the camera footage of bus 11 at Eastgate "
                "yesterday around 15:40, and the driver's account of what happened.",
                team="Field service",
                due_in=timedelta(days=2),
            ),
            Answers(
                ago(days=1, hours=6, minutes=40),
                "jonas",
                "Dear Mr Ellison,\n\nI'm very sorry to read this. We take it seriously: I have "
                "asked the Eastgate depot for the camera footage and the driver's account, and "
                "I will write to you again by Friday.\n\nJonas Berg\nCustomer support",
            ),
            Notes(
                ago(days=1, hours=6, minutes=35),
                "jonas",
                "Depot has the CCTV request. Snoozing until the footage is in; promised an "
                "answer by Friday.",
            ),
            Snoozes(ago(days=1, hours=6, minutes=34), "jonas", timedelta(hours=18)),
        ),
        subject="Complaint about the driver of bus 11",
    ),
    Scene(
        "email-annual-pass-refund",
        ChannelKind.EMAIL,
        "sofia",
        (
            Says(
                ago(days=3, hours=5),
                "Hi,\n\nI'm moving abroad at the end of the month. Can I get a refund for the "
                "rest of my annual pass (KestrelPass ending 0932)?\n\nThanks,\nSofia",
            ),
            Tags(ago(days=3, hours=4), "priya", ("refund",)),
            Assigns(ago(days=3, hours=3), "aisha", "aisha"),
            Answers(
                ago(days=3, hours=2),
                "aisha",
                "Hi Sofia,\n\nYes: unused full months are refunded. Your pass runs until "
                "October, so you'll receive €312.00 within 10 working days after the pass is "
                "cancelled on the 31st. Good luck with the move!\n\nAisha",
            ),
            Says(ago(days=3, hours=1), "Perfect, thank you!"),
            # The refund is still to be paid: the promise stays open.
            Resolves(ago(days=3), "aisha", promises=ResolveChoice.KEEP_OPEN),
        ),
        subject="Refund of my annual pass",
    ),
    Scene(
        "email-lost-umbrella-then-new-question",
        ChannelKind.EMAIL,
        "peter",
        (
            Says(
                ago(days=6, hours=3),
                "Hello, did anyone hand in a green umbrella with a wooden handle? I left it on "
                "tram 2 yesterday evening.\n\nPeter Okonkwo",
            ),
            Tags(ago(days=6, hours=2, minutes=10), "jonas", ("lost-property",)),
            Answers(
                ago(days=6, hours=2, minutes=5),
                "jonas",
                "Hello Peter,\n\nGood news: it's at the lost property office at Central "
                "Station, open Monday to Friday 08:00-18:00. Bring some ID.\n\nJonas",
            ),
            Resolves(ago(days=6), "jonas"),
            # Long after the quiet period: this starts a new conversation that follows the old.
            Says(
                ago(hours=20),
                "Thanks again for the umbrella! While I have you: is lost property open on "
                "Saturdays too?",
            ),
        ),
        subject="Lost umbrella on tram 2",
    ),
    Scene(
        "email-advertising-proposal",
        ChannelKind.EMAIL,
        "screenwise",
        (
            Says(
                ago(days=4, hours=8),
                "Dear team,\n\nScreenwise Media would love to discuss digital advertising "
                "screens for your tram stops. Could we set up a call with your marketing "
                "department?\n\nBest regards,\nScreenwise Media partnerships",
            ),
            Prioritises(ago(days=4, hours=6), "tomas", LOW),
            Tags(ago(days=4, hours=6), "tomas", ("not-for-support",)),
            Notes(
                ago(days=4, hours=6),
                "tomas",
                "Not a customer matter: forwarded to marketing, who reply themselves.",
            ),
            Resolves(ago(days=4, hours=5, minutes=59), "tomas"),
            CancelsFollowUp(ago(days=4, hours=5, minutes=58), "tomas"),
        ),
        subject="Advertising screens at your tram stops",
    ),
    Scene(
        # Just in: the invoice rule sends it to Billing, whose hours decide who has it.
        "email-invoice-request",
        ChannelKind.EMAIL,
        "judith",
        (
            Says(
                ago(hours=1, minutes=5),
                "Hello,\n\nIn December we bought 12 annual KestrelPasses for our staff (order "
                "KV-55012). Could you send us an invoice with our VAT number, NL004417352B01? "
                "Our accountant needs it this week.\n\nKind regards,\nJudith Verhoeven\n"
                "Harbourside Dental",
            ),
        ),
        subject="Invoice for our staff passes",
    ),
    # ---- Website chat ------------------------------------------------------------------------
    Scene(
        "web-student-discount",
        ChannelKind.WEB,
        "lina",
        (
            Says(ago(days=1, hours=2), "Hi! Do students get a discount on the monthly pass?"),
            Assigns(ago(days=1, hours=1, minutes=58), "priya", "priya"),
            Answers(
                ago(days=1, hours=1, minutes=56),
                "priya",
                "Hi Lina! Yes: with a valid student card the monthly pass is €29 instead of "
                "€58. You can buy it in the KVT app or at the Central Station desk.",
            ),
            Says(ago(days=1, hours=1, minutes=54), "Great, thanks!"),
            Tags(ago(days=1, hours=1, minutes=50), "priya", ("question", "tickets")),
            Resolves(ago(days=1, hours=1, minutes=50), "priya"),
            # The survey an hour later.
            Says(ago(days=1, minutes=40), "5/5, bought it already, thanks!"),
        ),
    ),
    Scene(
        "web-late-bus-refund",
        ChannelKind.WEB,
        "omar",
        (
            Says(
                ago(hours=4, minutes=5),
                "Bus 11 was 25 minutes late this morning and I missed my train at Central. Who "
                "pays for my new train ticket?",
            ),
            Tags(ago(hours=4), "jonas", ("complaint", "delay", "bus-11")),
            Assigns(ago(hours=4), "jonas", "jonas"),
            Answers(
                ago(hours=3, minutes=55),
                "jonas",
                "I'm sorry, Omar. When a delay of more than 20 minutes makes you miss a "
                "connection, we refund the new ticket: send the receipt with the form at "
                "kestrelvalley.example/delay-refund and we pay within 5 working days.",
            ),
            AwaitsCustomer(ago(hours=3, minutes=54), "jonas"),
        ),
    ),
    Scene(
        "web-idea-water-fountains",
        ChannelKind.WEB,
        "greta",
        (
            Says(
                ago(hours=7, minutes=30),
                "Could you put water fountains at the bigger stations? Central and Riverside "
                "get so hot in summer.",
            ),
            Tags(ago(hours=7), "tomas", ("idea",)),
            Prioritises(ago(hours=7), "tomas", LOW),
        ),
    ),
    Scene(
        "web-damaged-card",
        ChannelKind.WEB,
        "tomasz",
        (
            Says(
                ago(minutes=12),
                "Hello, my KestrelPass card is cracked and the readers don't accept it any "
                "more. How do I get a replacement?",
            ),
        ),
    ),
    Scene(
        "email-damaged-card-photo",
        ChannelKind.EMAIL,
        "tomasz-mail",
        (
            Says(
                ago(minutes=4),
                "Hello,\n\nI asked in your website chat a few minutes ago about my cracked "
                "KestrelPass card. Here is the card number so you can find it: ending 4471. "
                "I can send a photo if that helps.\n\nTomasz Nowak",
            ),
        ),
        subject="My cracked KestrelPass card",
    ),
    Scene(
        "web-holiday-timetable",
        ChannelKind.WEB,
        "ingrid",
        (
            Says(ago(hours=7, minutes=10), "Hi, does bus 27 run on public holidays?"),
            Assigns(ago(hours=7, minutes=8), "priya", "priya"),
            Answers(
                ago(hours=7, minutes=6),
                "priya",
                "Hi Ingrid! Yes: on public holidays line 27 runs the Sunday timetable, every 20 "
                "minutes from 07:00 to 23:00.",
            ),
            Says(ago(hours=7, minutes=3), "Perfect, thanks"),
            Tags(ago(hours=7), "priya", ("question", "bus-27")),
            Resolves(ago(hours=7), "priya"),
            # The survey an hour later.
            Says(
                ago(hours=5, minutes=40),
                "4 out of 5. Quick and friendly, but the holiday timetable should be on the "
                "website too.",
            ),
        ),
    ),
    # ---- the code of conduct at work: a draft waits for an approver --------------------------
    Scene(
        "web-hard-braking",
        ChannelKind.WEB,
        "carmen",
        (
            Says(
                ago(minutes=40),
                "The driver of bus 27 braked so hard at Millbrook this morning that I fell and "
                "hurt my wrist. Nobody even asked if I was ok.",
            ),
            Assigns(ago(minutes=35), "priya", "priya"),
            Tags(ago(minutes=35), "priya", ("safety", "bus-27")),
            # Mentions an injury: "incidents-go-through-communications" holds the draft until
            # an approver (an admin or the owner) lets it out. It waits in Approvals.
            Answers(
                ago(minutes=30),
                "priya",
                "I'm so sorry you were injured, Carmen, and that nobody stopped to help. Could "
                "you tell me the time and the direction of the bus? Our safety team reviews "
                "every report like yours with the driver's depot.",
            ),
        ),
    ),
)
