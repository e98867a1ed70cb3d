"""Every module that registers jobs or listeners, imported by the worker and the app at start.

A new domain with jobs adds one import here.
"""

from socialdesk.conversations import jobs as conversations_jobs
from socialdesk.events import jobs as events_jobs
from socialdesk.notifications import jobs as notifications_jobs
from socialdesk.outbound import service as outbound_service

__all__ = ["conversations_jobs", "events_jobs", "notifications_jobs", "outbound_service"]
