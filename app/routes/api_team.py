"""REST: who am I, users (admin), my API tokens, and review queues."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.accounts.auth import ApiAdmin, ApiRater, ApiUser
from app.accounts.schemas import MeOut, TokenIn, TokenOut, UserIn, UserOut, UserPatch
from app.core.api_errors import API_ERRORS, errors
from app.core.auth import Principal
from app.core.deps import SessionDep
from app.core.errors import Invalid
from app.core.types import Id
from app.deps import AccountsDep, QueuesDep
from app.models import ApiToken, User
from app.rating.schemas import NextItemOut, QueueIn, QueueOut, RaterProgressOut
from app.services.queues import QueueProgress
from app.services.tokens import create_token, revoke_token_id, tokens_of

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


def user_out(user: User, invite_url: str | None = None) -> UserOut:
    status_ = (
        "disabled"
        if user.disabled_at
        else "active"
        if user.password_hash
        else "invited"
        if user.invite_hash
        else "no password"
    )
    return UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        status=status_,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        invite_url=invite_url,
    )


def token_out(token: ApiToken, secret: str | None = None) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked=token.revoked_at is not None,
        token=secret,
    )


def queue_out(p: QueueProgress) -> QueueOut:
    return QueueOut(
        id=p.queue.id,
        name=p.queue.name,
        raters_per_item=p.queue.raters_per_item,
        items=p.items,
        complete=p.complete,
        mine=p.mine,
        left_for_me=p.left_for_me,
        raters=[RaterProgressOut(rater=r, rated=n) for r, n in p.raters],
        created_at=p.queue.created_at,
    )


@router.get("/me", response_model=MeOut)
async def me(user: ApiUser) -> MeOut:
    return MeOut(name=user.name, role=user.role)


@router.get("/users", response_model=list[UserOut])
async def list_users(_user: ApiAdmin, accounts: AccountsDep) -> list[UserOut]:
    return [user_out(u) for u in await accounts.list()]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_user(request: Request, body: UserIn, _user: ApiAdmin, accounts: AccountsDep) -> UserOut:
    """With a password the account is ready; without one the answer holds a one-time invitation link."""
    created = await accounts.create(body.name, body.role, body.password)
    url = str(request.url_for("invite_page", invite=created.invite)) if created.invite else None
    return user_out(created.user, url)


@router.patch("/users/{user_id}", response_model=UserOut, responses=errors(409))
async def update_user(user_id: Id, body: UserPatch, _user: ApiAdmin, accounts: AccountsDep) -> UserOut:
    return user_out(await accounts.update(user_id, role=body.role, disabled=body.disabled))


@router.post("/users/{user_id}/reset", response_model=UserOut)
async def reset_user(request: Request, user_id: Id, _user: ApiAdmin, accounts: AccountsDep) -> UserOut:
    """Forget the password, end the user's sessions, and issue a new invitation link."""
    invite = await accounts.reset(user_id)
    return user_out(await accounts.get(user_id), str(request.url_for("invite_page", invite=invite)))


async def _account(user: Principal, accounts: AccountsDep) -> User:
    if user.user_id is None:
        raise Invalid(
            "this token belongs to no user account: create tokens for people with `triptych tokens create --user`"
        )
    return await accounts.get(user.user_id)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(user: ApiUser, accounts: AccountsDep, session: SessionDep) -> list[TokenOut]:
    """Your own tokens (never their values)."""
    return [token_out(t) for t in await tokens_of(session, await _account(user, accounts))]


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
async def create_own_token(
    body: TokenIn, user: ApiUser, accounts: AccountsDep, session: SessionDep
) -> TokenOut:
    """A new token acting as you; its value is in this answer only."""
    account = await _account(user, accounts)
    secret = await create_token(session, body.name, account)
    newest = (await tokens_of(session, account))[0]
    return token_out(newest, secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_own_token(
    token_id: Id, user: ApiUser, accounts: AccountsDep, session: SessionDep
) -> Response:
    await revoke_token_id(session, token_id, await _account(user, accounts))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/queues", response_model=list[QueueOut])
async def list_queues(user: ApiUser, queues: QueuesDep) -> list[QueueOut]:
    return [queue_out(p) for p in await queues.all_progress(user.name)]


@router.post("/queues", response_model=QueueOut, status_code=status.HTTP_201_CREATED)
async def create_queue(body: QueueIn, user: ApiAdmin, queues: QueuesDep) -> QueueOut:
    """Queue comparisons (by id, or every one from a dataset and/or with a tag) for k blind ratings each."""
    queue = await queues.create(body, user.name)
    return queue_out(await queues.progress(queue, user.name))


@router.get("/queues/{queue_id}", response_model=QueueOut)
async def get_queue(queue_id: Id, user: ApiUser, queues: QueuesDep) -> QueueOut:
    return queue_out(await queues.progress(await queues.get(queue_id), user.name))


@router.get("/queues/{queue_id}/next", response_model=NextItemOut)
async def next_item(queue_id: Id, user: ApiRater, queues: QueuesDep) -> NextItemOut:
    """The next comparison you have not rated that still needs raters (null when none is left)."""
    progress = await queues.progress(await queues.get(queue_id), user.name)
    return NextItemOut(comparison_id=progress.next_comparison_id, left_for_me=progress.left_for_me)


@router.delete("/queues/{queue_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_queue(queue_id: Id, _user: ApiAdmin, queues: QueuesDep) -> Response:
    """The queue goes; its comparisons and ratings stay."""
    await queues.delete(queue_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
