from __future__ import annotations

from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount

_n = count(1)


def brand_account(
    session: Session, org: Organization, *, kind: str = "web", **settings: Any
) -> BrandAccount:
    return channels_service.create(
        session, organization_id=org.id, kind=kind, handle=f"brand{next(_n)}", settings=settings
    )
