"""Request and response bodies for people and API tokens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.core.types import Strict, UtcDateTime

Role = Literal["viewer", "rater", "admin"]


class MeOut(BaseModel):
    name: str
    role: str


class UserIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    role: Role = "rater"
    # Omit to invite: the answer carries a one-time link for the person to choose a password.
    password: Annotated[str | None, Field(min_length=10, max_length=1024)] = None


class UserPatch(Strict):
    role: Role | None = None
    disabled: bool | None = None


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    status: Literal["active", "invited", "disabled", "no password"]
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None
    # Only in the answer that created the invitation.
    invite_url: str | None = None


class TokenIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    revoked: bool
    # Only in the answer that created it: it is stored hashed.
    token: str | None = None
