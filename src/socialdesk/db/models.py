"""Imports every domain's models so that Base.metadata knows all tables (Alembic, tests)."""

from socialdesk.accounts import models as accounts_models
from socialdesk.channels import models as channels_models
from socialdesk.contacts import models as contacts_models
from socialdesk.conversations import models as conversations_models
from socialdesk.db.base import Base
from socialdesk.events import models as events_models
from socialdesk.policy import models as policy_models
from socialdesk.triage import models as triage_models

__all__ = [
    "Base",
    "accounts_models",
    "channels_models",
    "contacts_models",
    "conversations_models",
    "events_models",
    "policy_models",
    "triage_models",
]
