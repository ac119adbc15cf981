"""Who a request comes from, and who may call a route.

The host authenticates every request and checks the route's access before it forwards it
(the rule travels in the descriptor); ``permission(…)`` and ``public`` declare that rule next
to the route, and ``CurrentIdentity`` gives the handler the caller. The plugin's app checks
the rule again (:func:`check_route_access`, a dependency of the whole app), so a plugin's own
tests with FastAPI's ``TestClient`` see the same 401 and 403 the server answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from pydantic import BaseModel, Field

from ._errors import ApiError

IDENTITY_SCOPE_KEY = "flovyn.identity"


class Identity(BaseModel):
    """The caller, as the host authenticated it."""

    principal_id: str = Field(description="Stable id of the principal.")
    principal_type: Literal["admin", "user", "worker", "service"] = Field(
        description="What kind of principal it is."
    )
    tenant: str | None = Field(default=None, description="The tenant the caller acts in, if any.")
    roles: list[str] = Field(default_factory=list, description="Roles granted to the caller.")
    permissions: list[str] = Field(
        default_factory=list,
        description="Permissions granted to the caller (`notes:write`); `*` grants all.",
    )

    def has_permission(self, permission: str) -> bool:
        """Whether the caller holds ``permission`` (directly or through ``*``)."""
        return any(p in ("*", permission) for p in self.permissions)


def caller(request: Request) -> Identity | None:
    """The request's caller, when it has one."""
    identity = request.scope.get(IDENTITY_SCOPE_KEY)
    return identity if isinstance(identity, Identity) else None


def identity_of(request: Request) -> Identity:
    """The request's caller; 401 without one."""
    identity = caller(request)
    if identity is None:
        raise ApiError.unauthorized()
    return identity


# Dependencies are coroutines: FastAPI runs a plain function dependency in a worker thread,
# which costs more than the check itself.
async def current_identity(request: Request) -> Identity:
    return identity_of(request)


#: A handler argument that is the caller: ``async def me(who: CurrentIdentity) -> …``.
CurrentIdentity = Annotated[Identity, Depends(current_identity)]


@dataclass(frozen=True)
class Access:
    """A route's rule: ``public``, ``authenticated`` (the default) or a ``permission``."""

    kind: Literal["public", "authenticated", "permission"]
    permission: str | None = None

    async def __call__(self) -> None:
        """A marker: :func:`check_route_access` applies the rule."""

    def check(self, request: Request) -> None:
        if self.kind == "public":
            return
        identity = identity_of(request)
        if self.permission is not None and not identity.has_permission(self.permission):
            raise ApiError.forbidden(f"this operation needs the `{self.permission}` permission")


def permission(name: str) -> DependsParam:
    """Only callers granted ``name`` (``"notes:write"``): ``dependencies=[permission(…)]``."""
    marker: DependsParam = Depends(Access("permission", name))
    return marker


#: Anyone, without credentials: ``dependencies=[public]``.
public: DependsParam = Depends(Access("public"))

#: Any authenticated caller: the rule of a route that declares none.
authenticated: DependsParam = Depends(Access("authenticated"))


def access_of(dependencies: list[DependsParam], where: str) -> Access:
    """The rule a route declares in its dependencies (its router's included)."""
    found = [d.dependency for d in dependencies if isinstance(d.dependency, Access)]
    if len(found) > 1:
        rules = ", ".join(f"`{a.permission or a.kind}`" for a in found)
        raise ValueError(f"{where} declares its access {len(found)} times ({rules}): keep one")
    return found[0] if found else Access("authenticated")


async def check_route_access(request: Request) -> None:
    """Applies the matched route's rule (a dependency of the plugin's whole app)."""
    route = request.scope.get("route")
    dependencies = getattr(route, "dependencies", None)
    if isinstance(dependencies, list):
        access_of(dependencies, f"route `{request.method} {getattr(route, 'path', '?')}`").check(
            request
        )
    else:
        Access("authenticated").check(request)
