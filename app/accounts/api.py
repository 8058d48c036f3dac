"""REST: who am I, people (admin), and your own API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.accounts.auth import ApiAdmin, ApiUser
from app.accounts.deps import AccountsDep
from app.accounts.presenters import token_out, user_out
from app.accounts.schemas import MeOut, TokenIn, TokenOut, UserIn, UserOut, UserPatch
from app.core.api_errors import API_ERRORS, errors
from app.core.auth import Principal
from app.core.errors import Invalid
from app.core.types import Id
from app.models import User

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


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
async def list_tokens(user: ApiUser, accounts: AccountsDep) -> list[TokenOut]:
    """Your own tokens (never their values)."""
    return [token_out(t) for t in await accounts.tokens(await _account(user, accounts))]


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
async def create_own_token(
    body: TokenIn, user: ApiUser, accounts: AccountsDep
) -> TokenOut:
    """A new token acting as you; its value is in this answer only."""
    account = await _account(user, accounts)
    secret = await accounts.new_token(body.name, account)
    newest = (await accounts.tokens(account))[0]
    return token_out(newest, secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_own_token(
    token_id: Id, user: ApiUser, accounts: AccountsDep
) -> Response:
    await accounts.revoke_token(token_id, await _account(user, accounts))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
