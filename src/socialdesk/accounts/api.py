"""REST API of the accounts domain (mounted under /api): who is asking, their API tokens, and
read-only lists of members and teams."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from socialdesk.accounts import permissions
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.permissions import Permission
from socialdesk.accounts.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPage,
    ApiTokenRead,
    MemberPage,
    MemberRead,
    MeRead,
    OrganizationRead,
    TeamPage,
    TeamRead,
)
from socialdesk.common.deps import DB, PageCursor, Reader
from socialdesk.common.schemas import Limit, RowId, api_token_scheme, error_responses

router = APIRouter(
    tags=["accounts"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


@router.get("/me", summary="Who you are, your organization and what your role allows")
def me(db: DB, actor: Reader) -> MeRead:
    member = actor.member
    org = accounts_service.get_organization(db, member.organization_id)
    return MeRead(
        member=MemberRead.model_validate(member),
        organization=OrganizationRead.model_validate(org),
        permissions=sorted(
            p.value for p in Permission if permissions.has(member, p, list(actor.scopes) or None)
        ),
        authenticated_via=actor.via,
    )


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for yourself (the secret is returned once)",
)
def create_token(body: ApiTokenCreate, db: DB, actor: Reader) -> ApiTokenCreated:
    created = accounts_service.create_api_token(
        db, member=actor.member, name=body.name, scopes=body.scopes
    )
    read = ApiTokenRead.model_validate(created.record)
    return ApiTokenCreated(**read.model_dump(), token=created.token)


@router.get("/tokens", summary="Your API tokens (never their secrets), newest first")
def list_tokens(db: DB, actor: Reader, cursor: PageCursor, limit: Limit = 50) -> ApiTokenPage:
    page = accounts_service.api_tokens_page(
        db, member=actor.member, cursor=cursor.value, limit=limit
    )
    return ApiTokenPage(
        items=[ApiTokenRead.model_validate(t) for t in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of your API tokens",
    responses=error_responses(404),
)
def revoke_token(token_id: RowId, db: DB, actor: Reader) -> Response:
    record = accounts_service.get_own_api_token(db, member=actor.member, token_id=token_id)
    accounts_service.revoke_api_token(db, member=actor.member, token_id=record.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/members", summary="The members of your organization, in the order they joined")
def list_members(db: DB, actor: Reader, cursor: PageCursor, limit: Limit = 50) -> MemberPage:
    page = accounts_service.members_page(
        db, organization_id=actor.organization_id, cursor=cursor.value, limit=limit
    )
    return MemberPage(
        items=[MemberRead.model_validate(m) for m in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.get("/teams", summary="The teams of your organization")
def list_teams(db: DB, actor: Reader, cursor: PageCursor, limit: Limit = 50) -> TeamPage:
    page = accounts_service.teams_page(
        db, organization_id=actor.organization_id, cursor=cursor.value, limit=limit
    )
    return TeamPage(
        items=[TeamRead.model_validate(t) for t in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )
