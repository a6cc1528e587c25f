"""Names and attributes of the web shell's cookies.

In production every cookie is a `__Host-` cookie: browsers accept such a cookie only when it is
Secure, has Path=/ and no Domain, so neither a sibling subdomain nor a plain-http page can set
or overwrite it (cookie tossing). The prefix requires Secure, which a development server over
plain http cannot offer, so there the plain names are used.
"""

from __future__ import annotations

from fastapi import Request, Response

from intuitivus_flow.config import Settings

HOST_PREFIX = "__Host-"


def cookie_name(base: str, settings: Settings) -> str:
    return HOST_PREFIX + base if settings.is_production else base


def read_cookie(request: Request, settings: Settings, base: str) -> str | None:
    return request.cookies.get(cookie_name(base, settings))


def set_cookie(
    response: Response, settings: Settings, base: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        cookie_name(base, settings),
        value,
        max_age=max_age,
        path="/",
        domain=None,  # host-only; a Domain attribute would void the __Host- prefix
        httponly=True,  # only the server reads them; page scripts never need to
        secure=settings.is_production,
        samesite="lax",
    )


def delete_cookie(response: Response, settings: Settings, base: str) -> None:
    response.delete_cookie(
        cookie_name(base, settings),
        path="/",
        httponly=True,
        secure=settings.is_production,
        samesite="lax",
    )
