"""Jinja2 environment and the one function that turns a template into an HTML response.

Every page goes through `render`, so every page gets the same security headers, the CSRF
cookie when the browser has none yet, and the layout's shared context (the viewer's sidebar
with its counts, see `web/shell.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from intuitivus_flow.kit.money import format_money
from intuitivus_flow.web import csrf, navigation, shell
from intuitivus_flow.web.descriptions import description_for
from intuitivus_flow.web.static_files import static_url

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# Only our own origin: no inline scripts or styles, no framing, forms post back to us only.
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"


def policy_with_form_targets(*origins: str) -> dict[str, str]:
    """Headers for a page whose forms may end on another site (a payment page).

    Browsers apply form-action to every redirect that answers a form, so a form that posts to
    us and is redirected to Stripe Checkout needs Stripe's origin here, on this page only.
    """
    targets = " ".join(("'self'", *origins))
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; frame-ancestors 'none'; form-action {targets}"
        )
    }


PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Pages can carry one-time secrets (API keys, invitation links): never keep them in a cache.
    "Cache-Control": "no-store",
}


def format_time(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they are stored in UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every value is escaped unless a template says otherwise
        undefined=jinja2.StrictUndefined,  # a typo in a template fails a test, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["time"] = format_time
    environment.filters["iso_time"] = iso_time
    environment.globals["money"] = format_money
    environment.globals["static_url"] = static_url
    return environment


templates = Jinja2Templates(env=_environment())


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    token = csrf.token_for(request)
    shared: dict[str, Any] = {
        "menu": [],
        "path": request.url.path,
        "csrf_token": token,
        "viewer": None,
        "meta_description": description_for(template),  # a view may pass its own
    }
    shared.update(context or {})
    if shared["viewer"] is not None:
        state = shell.of(request)
        shared["menu"] = navigation.menu(
            shared["viewer"], request.url.path, operator=state.operator, badges=state.badges
        )
    response = templates.TemplateResponse(
        request,
        template,
        shared,
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
    csrf.remember(request, response)
    return response


def redirect(url: str) -> RedirectResponse:
    """303: after a form post, the browser fetches the next page with GET."""
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)
