"""Every module that registers jobs, listeners or event retention, imported by the worker and
the app at start.

A new domain with jobs adds one import here.
"""

from socialdesk.alerts import jobs as alerts_jobs
from socialdesk.channels import jobs as channels_jobs
from socialdesk.commitments import jobs as commitments_jobs
from socialdesk.contacts import jobs as contacts_jobs
from socialdesk.conversations import jobs as conversations_jobs
from socialdesk.conversations import presence as conversations_presence
from socialdesk.escalations import jobs as escalations_jobs
from socialdesk.events import jobs as events_jobs
from socialdesk.followups import jobs as followups_jobs
from socialdesk.notifications import jobs as notifications_jobs
from socialdesk.outbound import service as outbound_service
from socialdesk.outbound import withdrawal as outbound_withdrawal
from socialdesk.polls import service as polls_service
from socialdesk.polls import withdrawal as polls_withdrawal
from socialdesk.ratelimit import jobs as ratelimit_jobs
from socialdesk.routing import jobs as routing_jobs
from socialdesk.sla import jobs as sla_jobs
from socialdesk.triage import jobs as triage_jobs

__all__ = [
    "alerts_jobs",
    "channels_jobs",
    "commitments_jobs",
    "contacts_jobs",
    "conversations_jobs",
    "conversations_presence",
    "escalations_jobs",
    "events_jobs",
    "followups_jobs",
    "notifications_jobs",
    "outbound_service",
    "outbound_withdrawal",
    "polls_service",
    "polls_withdrawal",
    "ratelimit_jobs",
    "routing_jobs",
    "sla_jobs",
    "triage_jobs",
]
