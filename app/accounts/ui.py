"""Sign-in, sign-out, invitations, the admin's user list and each person's own API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts.auth import LoginsDep, UiAdmin, UiUser, local_admin_allowed, set_session_cookie
from app.accounts.deps import AccountsDep
from app.core.auth import is_loopback_client, secure_request, session_cookie_name, session_token_of
from app.core.deps import SettingsDep
from app.core.errors import DomainError, Forbidden, Invalid
from app.core.types import Id
from app.core.web import form_error_page, form_errors, redirect_to, render
from app.models import ROLES, User

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a path on this site: `//evil.example` or `https://...` would make sign-in an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _login_context(
    request: Request, accounts: AccountsDep, settings: SettingsDep, **extra: object
) -> dict[str, object]:
    one_click = local_admin_allowed(request, settings) and await accounts.local_admin_available()
    return {"one_click": one_click, "next": safe_next(request.query_params.get("next"))} | extra


async def _signed_in(
    request: Request, user: User, accounts: AccountsDep, settings: SettingsDep, target: str
) -> Response:
    response = RedirectResponse(safe_next(target), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, await accounts.start_session(user))
    return response


@router.get("/login", name="login_page", response_class=HTMLResponse)
async def login_page(request: Request, accounts: AccountsDep, settings: SettingsDep) -> HTMLResponse:
    return render(request, "pages/login.html", await _login_context(request, accounts, settings))


@router.post("/login", name="login", response_model=None)
async def login(
    request: Request,
    accounts: AccountsDep,
    settings: SettingsDep,
    logins: LoginsDep,
    name: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    address = f"ip:{request.client.host if request.client else '?'}"
    keys = (address, f"name:{name.strip().lower()}")
    if logins.blocked(*keys):
        error, code = (
            "too many failed sign-ins: wait 15 minutes and try again",
            status.HTTP_429_TOO_MANY_REQUESTS,
        )
    else:
        user = await accounts.verify(name, password)
        if user is not None:
            logins.succeeded(*keys)
            return await _signed_in(request, user, accounts, settings, next)
        logins.failed(*keys)
        error, code = "wrong name or password", status.HTTP_401_UNAUTHORIZED
    context = await _login_context(
        request, accounts, settings, errors=[error], name=name, next=safe_next(next)
    )
    return render(request, "pages/login.html", context, status_code=code)


@router.post("/login/local", name="login_local", response_model=None)
async def login_local(
    request: Request,
    accounts: AccountsDep,
    settings: SettingsDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """The one-click local admin: a loopback-bound server, a loopback client, and no accounts yet."""
    if not local_admin_allowed(request, settings):
        where = "this address" if not is_loopback_client(request) else "a server bound beyond loopback"
        raise Forbidden(f"the one-click local admin is not offered to {where}: sign in with a password")
    return await _signed_in(request, await accounts.local_admin(), accounts, settings, next)


@router.post("/logout", name="logout", response_model=None)
async def logout(request: Request, accounts: AccountsDep) -> Response:
    if token := session_token_of(request):
        await accounts.end_session(token)
    response = redirect_to(request, "login_page")
    response.delete_cookie(session_cookie_name(request), path="/", secure=secure_request(request))
    return response


@router.get("/invite/{invite}", name="invite_page", response_class=HTMLResponse)
async def invite_page(request: Request, invite: str, accounts: AccountsDep) -> HTMLResponse:
    user = await accounts.invited(invite)
    return render(request, "pages/invite.html", {"invite": invite, "invitee": user.name})


@router.post("/invite/{invite}", name="accept_invite", response_model=None)
async def accept_invite(
    request: Request,
    invite: str,
    accounts: AccountsDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    user = await accounts.invited(invite)
    try:
        if password != confirm:
            raise Invalid("the two passwords differ")
        user = await accounts.accept_invite(invite, password)
    except DomainError as exc:
        context = {"invite": invite, "invitee": user.name, "errors": form_errors(exc)}
        return render(request, "pages/invite.html", context, status_code=422)
    return await _signed_in(request, user, accounts, settings, "/")


async def _users_context(request: Request, accounts: AccountsDep, **extra: object) -> dict[str, object]:
    return {"users": await accounts.list(), "roles": ROLES} | extra


def _invite_url(request: Request, invite: str) -> str:
    return str(request.url_for("invite_page", invite=invite))


@router.get("/users", name="users_page", response_class=HTMLResponse)
async def users_page(request: Request, _user: UiAdmin, accounts: AccountsDep) -> HTMLResponse:
    return render(request, "pages/users.html", await _users_context(request, accounts))


@router.post("/users", name="create_user_ui", response_model=None)
async def create_user(
    request: Request,
    _user: UiAdmin,
    accounts: AccountsDep,
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "rater",
) -> Response:
    """Accounts are invited: the page shows a one-time link the new user opens to choose a password."""
    try:
        created = await accounts.create(name, role)
    except DomainError as exc:
        return form_error_page(
            request, "pages/users.html", exc, await _users_context(request, accounts, name=name, role=role)
        )
    assert created.invite is not None
    link = {"name": created.user.name, "url": _invite_url(request, created.invite)}
    return render(request, "pages/users.html", await _users_context(request, accounts, invite=link))


@router.post("/users/{user_id}", name="update_user_ui", response_model=None)
async def update_user(
    request: Request,
    user_id: Id,
    me: UiAdmin,
    accounts: AccountsDep,
    role: Annotated[str | None, Form(max_length=20)] = None,
    action: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Change a role, disable or enable, or reset (a new invite link; the old password stops working)."""
    try:
        if action == "reset":
            invite = await accounts.reset(user_id)
            user = await accounts.get(user_id)
            link = {"name": user.name, "url": _invite_url(request, invite)}
            return render(request, "pages/users.html", await _users_context(request, accounts, invite=link))
        disabled = {"disable": True, "enable": False}.get(action)
        await accounts.update(user_id, role=role, disabled=disabled)
    except DomainError as exc:
        return form_error_page(request, "pages/users.html", exc, await _users_context(request, accounts))
    return redirect_to(request, "users_page")


@router.get("/account", name="account_page", response_class=HTMLResponse)
async def account_page(
    request: Request, me: UiUser, accounts: AccountsDep
) -> HTMLResponse:
    user = await accounts.get(me.user_id or 0)
    return render(request, "pages/account.html", {"tokens": await accounts.tokens(user)})


@router.post("/account/tokens", name="create_token_ui", response_model=None)
async def create_own_token(
    request: Request,
    me: UiUser,
    accounts: AccountsDep,
    name: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    """A token acting as you, with your role; shown once on this page and never again."""
    user = await accounts.get(me.user_id or 0)
    label = name.strip() or "api"
    token = await accounts.new_token(label, user)
    context = {"tokens": await accounts.tokens(user), "new_token": token, "new_token_name": label}
    return render(request, "pages/account.html", context, status_code=status.HTTP_201_CREATED)


@router.post("/account/tokens/{token_id}/revoke", name="revoke_token_ui", response_model=None)
async def revoke_own_token(
    request: Request,
    token_id: Id,
    me: UiUser,
    accounts: AccountsDep,
) -> Response:
    await accounts.revoke_token(token_id, await accounts.get(me.user_id or 0))
    return redirect_to(request, "account_page")
