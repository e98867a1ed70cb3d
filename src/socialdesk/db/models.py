"""Imports every domain's models so that Base.metadata knows all tables (Alembic, tests)."""

from socialdesk.accounts import models as accounts_models
from socialdesk.alerts import models as alerts_models
from socialdesk.channels import models as channels_models
from socialdesk.commitments import models as commitments_models
from socialdesk.contacts import models as contacts_models
from socialdesk.conversations import models as conversations_models
from socialdesk.db.base import Base
from socialdesk.escalations import models as escalations_models
from socialdesk.events import models as events_models
from socialdesk.followups import models as followups_models
from socialdesk.jobs import models as jobs_models
from socialdesk.notifications import models as notifications_models
from socialdesk.policy import models as policy_models
from socialdesk.polls import models as polls_models
from socialdesk.ratelimit import models as ratelimit_models
from socialdesk.routing import models as routing_models
from socialdesk.saved_replies import models as saved_replies_models
from socialdesk.saved_views import models as saved_views_models
from socialdesk.schedules import models as schedules_models
from socialdesk.sla import models as sla_models
from socialdesk.triage import models as triage_models

__all__ = [
    "Base",
    "accounts_models",
    "alerts_models",
    "channels_models",
    "commitments_models",
    "contacts_models",
    "conversations_models",
    "escalations_models",
    "events_models",
    "followups_models",
    "jobs_models",
    "notifications_models",
    "policy_models",
    "polls_models",
    "ratelimit_models",
    "routing_models",
    "saved_replies_models",
    "saved_views_models",
    "schedules_models",
    "sla_models",
    "triage_models",
]
