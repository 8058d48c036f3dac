"""People and tokens as the API shows them."""

from __future__ import annotations

from app.accounts.schemas import TokenOut, UserOut
from app.models import ApiToken, User


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
